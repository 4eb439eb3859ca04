"""Controlled transitions on SQLite and PostgreSQL: policies, checks, approval, rejection,
four eyes, one pending request per alias, the audit trail and the webhook events."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, update

from lmops.artifacts import ArtifactStore
from lmops.core.errors import Conflict, Forbidden, InvalidInput, LmopsError, NotFound
from lmops.governance.transitions import (
    approve,
    cancel,
    evaluate_policy,
    get_transition,
    list_transitions,
    reject,
    request_transition,
)
from lmops.governance.webhooks import WebhookStore, dispatch
from lmops.registry import registering
from lmops.registry.policies import delete_policy, get_policy, list_policies, set_policy
from lmops.registry.results import attach_result, list_results
from lmops.registry.store import RegistryStore
from lmops.registry.tables import alias_policies
from lmops.store.audit import AuditQuery, acting_as, search
from lmops.store.engine import writing
from tests.governance.receiver import Receiver
from tests.registry.conftest import fake_model_dir


@pytest.fixture
def registry(engine: Engine, artifacts: ArtifactStore, tmp_path: Path) -> RegistryStore:
    """chat v1 (at @production) and v2, the candidate."""
    store = RegistryStore(engine, artifacts)
    for n in (1, 2):
        registering.register_directory(store, "chat", fake_model_dir(tmp_path / f"v{n}"))
    store.set_alias("chat", "production", 1)
    return store


def _protect(registry: RegistryStore) -> None:
    set_policy(
        registry,
        "chat",
        "production",
        required_tags=["reviewed", "license=apache-2.0"],
        min_results={"rougeL": 0.3},
        require_card=True,
    )


def _fulfil(registry: RegistryStore, rouge: float = 0.41) -> None:
    v2 = registry.get_version("models:/chat/2")
    registry.update_version(v2.uri, tags={"reviewed": "carol", "license": "apache-2.0"})
    attach_result(registry, v2, "rougeL", rouge, source="runs:/eval")
    registry.save_card(v2.id, "# chat v2\n", generated=False)


def _actions(registry: RegistryStore) -> list[str]:
    return [e.action for e in search(registry.engine, AuditQuery(limit=1000))]


def test_production_is_refused_while_its_policy_fails_and_moves_when_it_holds(
    registry: RegistryStore,
) -> None:
    _protect(registry)
    with acting_as("alice@10.0.0.5"):
        asked = request_transition(registry, "models:/chat/2", "production", "better answers")
    assert (asked.status, asked.version, asked.from_version) == ("pending", 2, 1)
    assert asked.requested_by == "alice@10.0.0.5" and asked.comment == "better answers"
    assert [(c.check, c.passed, c.detail) for c in asked.checks] == [
        ("tag reviewed", False, "tag reviewed is not set"),
        ("tag license=apache-2.0", False, "tag license is not set"),
        ("result rougeL >= 0.3", False, "no result attached"),
        ("model card", False, "no model card (generate one)"),
    ]

    with acting_as("bob@10.0.0.6"), pytest.raises(Conflict) as refused:
        approve(registry, asked.id, "ship it")
    message = refused.value.message
    assert "4 of 4 policy checks fail" in message
    for words in ("tag reviewed: tag reviewed is not set", "tag license=apache-2.0", "rougeL"):
        assert words in message
    assert "model card: no model card" in message

    _fulfil(registry, rouge=0.25)  # all but one now hold
    with acting_as("bob@10.0.0.6"), pytest.raises(Conflict) as refused:
        approve(registry, asked.id)
    assert "1 of 4 policy checks fail: result rougeL >= 0.3: rougeL is 0.25, below 0.3" in (
        refused.value.message
    )
    assert registry.get_version("models:/chat@production").version == 1
    assert get_transition(registry, asked.id).status == "pending"

    attach_result(registry, registry.get_version("models:/chat/2"), "rougeL", 0.3)
    with acting_as("bob@10.0.0.6"):
        approved = approve(registry, asked.id, "ship it")
    assert registry.get_version("models:/chat@production").version == 2
    assert (approved.status, approved.decided_by, approved.decision_comment) == (
        "approved",
        "bob@10.0.0.6",
        "ship it",
    )
    assert approved.from_version == 1 and approved.decided_at is not None
    assert approved.decision_checks is not None
    assert all(c.passed for c in approved.decision_checks)
    assert [c.detail for c in approved.decision_checks] == [
        "reviewed=carol",
        "license=apache-2.0",
        "rougeL is 0.3",
        "revision 1",
    ]
    assert not all(c.passed for c in approved.checks)  # as requested, kept
    with acting_as("bob@10.0.0.6"), pytest.raises(Conflict, match="was approved by bob"):
        approve(registry, asked.id)


def test_a_protected_alias_cannot_be_moved_or_removed_directly(registry: RegistryStore) -> None:
    set_policy(registry, "chat", "production")  # asks nothing: approval alone
    with pytest.raises(Forbidden) as refused:
        registry.set_alias("chat", "production", 2)
    assert "models:/chat@production is protected" in refused.value.message
    assert "lmops models transition request models:/chat/2 production" in refused.value.message
    with pytest.raises(Forbidden, match="cannot be removed directly"):
        registry.delete_alias("chat", "production")
    # a protected alias that does not exist yet cannot be made directly either
    set_policy(registry, "chat", "canary", require_card=True)
    with pytest.raises(Forbidden):
        registry.set_alias("chat", "canary", 1)
    registry.set_alias("chat", "staging", 2)  # unprotected: moves as before
    assert registry.get_model("chat").aliases == {"production": 1, "staging": 2}
    assert "model_alias.delete" not in _actions(registry)

    delete_policy(registry, "chat", "production")
    registry.set_alias("chat", "production", 2)
    assert registry.get_model("chat").aliases["production"] == 2


def test_a_rejection_needs_a_reason_and_is_recorded(registry: RegistryStore) -> None:
    _protect(registry)
    with acting_as("alice"):
        asked = request_transition(registry, "models:/chat/2", "production")
    with acting_as("bob"):
        for blank in ("", "  \n"):
            with pytest.raises(InvalidInput, match="comment is required"):
                reject(registry, asked.id, blank)
        rejected = reject(registry, asked.id, "rougeL was measured on the training set")
    assert (rejected.status, rejected.decided_by) == ("rejected", "bob")
    assert rejected.decision_comment == "rougeL was measured on the training set"
    assert rejected.decision_checks is not None and len(rejected.decision_checks) == 4
    with acting_as("carol"), pytest.raises(Conflict, match="was rejected by bob"):
        approve(registry, asked.id)
    assert registry.get_version("models:/chat@production").version == 1
    [entry] = search(registry.engine, AuditQuery(action="transition.rejected"))
    assert (entry.actor, entry.target_kind, entry.target_id) == ("bob", "transition", asked.id)
    assert entry.target == "models:/chat@production -> models:/chat/2"
    assert entry.after["comment"] == "rougeL was measured on the training set"
    assert entry.before == {"status": "pending", "requested_by": "alice"}


def test_the_requester_cannot_approve_their_own_request(registry: RegistryStore) -> None:
    set_policy(registry, "chat", "production")
    with acting_as("alice@10.0.0.5"):
        asked = request_transition(registry, "models:/chat/2", "production")
    for same_person in ("alice@10.0.0.5", "alice@192.168.1.9"):  # another machine, same alice
        with acting_as(same_person), pytest.raises(Forbidden, match="four eyes"):
            approve(registry, asked.id)
    with acting_as("alice@10.0.0.5"):
        rejected_own = reject(registry, asked.id, "withdrawn: wrong version")
    assert rejected_own.status == "rejected"  # rejecting one's own request is harmless

    # a user who happens to be called "anonymous" is someone like any other
    with acting_as("anonymous"):
        theirs = request_transition(registry, "models:/chat/2", "production")
        with pytest.raises(Forbidden, match="four eyes"):
            approve(registry, theirs.id)
        cancel(registry, theirs.id)
    # with auth off the server names every caller anonymous@<host>: nobody to tell apart
    with acting_as("anonymous@127.0.0.1"):
        again = request_transition(registry, "models:/chat/2", "production")
        assert approve(registry, again.id).status == "approved"


def test_one_pending_request_per_alias(registry: RegistryStore) -> None:
    set_policy(registry, "chat", "production")
    with pytest.raises(InvalidInput, match=r"not protected .* set it directly"):
        request_transition(registry, "models:/chat/2", "staging")
    with pytest.raises(Conflict, match="already points at models:/chat/1"):
        request_transition(registry, "models:/chat/1", "production")
    with acting_as("alice"):
        first = request_transition(registry, "models:/chat/2", "production")
    with acting_as("dave"), pytest.raises(Conflict) as second:
        request_transition(registry, "models:/chat/2", "production")
    assert f"transition {first.id} (requested by alice) is already pending" in (
        second.value.message
    )
    with acting_as("dave"), pytest.raises(Forbidden, match="only alice"):
        cancel(registry, first.id)
    with acting_as("alice"):
        cancelled = cancel(registry, first.id, "v3 is coming")
    assert (cancelled.status, cancelled.decision_comment) == ("cancelled", "v3 is coming")
    with acting_as("dave"):
        replacement = request_transition(registry, "models:/chat/2", "production")

    assert [t.id for t in list_transitions(registry, "chat", status="pending")] == [replacement.id]
    assert [t.id for t in list_transitions(registry, "chat")] == [replacement.id, first.id]
    assert [t.status for t in list_transitions(registry)] == ["pending", "cancelled"]
    with pytest.raises(InvalidInput, match="status is one of"):
        list_transitions(registry, status="maybe")
    for unknown in ("0" * 32, "nope", "\x00"):
        with pytest.raises(NotFound):
            get_transition(registry, unknown)


def test_every_step_is_audited_and_sent_to_webhooks(registry: RegistryStore) -> None:
    hooks = WebhookStore(registry.engine)
    with Receiver() as receiver:
        hooks.create(receiver.url, ["transition.requested", "transition.approved"])
        hooks.create(receiver.url, ["transition.rejected", "transition.cancelled"])
        _protect(registry)
        _fulfil(registry)
        with acting_as("alice"):
            asked = request_transition(registry, "models:/chat/2", "production", "go")
        with acting_as("bob"):
            approve(registry, asked.id, "approved after review")
        with acting_as("alice"):
            back = request_transition(registry, "models:/chat/1", "production", "roll back")
        with acting_as("bob"):
            reject(registry, back.id, "no need")
        with acting_as("alice"):
            gone = request_transition(registry, "models:/chat/1", "production")
            cancel(registry, gone.id)
        with httpx.Client() as client:
            dispatch(registry.engine, client)
        events = sorted(r.headers["x-lmops-event"] for r in receiver.requests)
    assert events == [
        "transition.approved",
        "transition.cancelled",
        "transition.rejected",
        "transition.requested",
        "transition.requested",
        "transition.requested",
    ]
    actions = _actions(registry)
    assert actions[actions.index("alias_policy.set") :] == [
        "alias_policy.set",
        "model_version.update",
        "model_version.result",
        "model_card.save",
        "transition.requested",
        "model_alias.set",
        "transition.approved",
        "transition.requested",
        "transition.rejected",
        "transition.requested",
        "transition.cancelled",
    ]
    moved = search(registry.engine, AuditQuery(action="model_alias.set"))[-1]
    assert moved.actor == "bob" and moved.before == {"version": 1}
    assert moved.after == {"version": 2, "transition_id": asked.id}
    [approval] = search(registry.engine, AuditQuery(action="transition.approved"))
    assert approval.after["from_version"] == 1 and approval.after["comment"] == (
        "approved after review"
    )
    assert [c["passed"] for c in approval.after["checks"]] == [True] * 4
    # the move and the approval were written by the same transaction, next to each other
    assert abs(moved.id - approval.id) == 1


def test_only_one_of_two_simultaneous_approvals_wins(registry: RegistryStore) -> None:
    set_policy(registry, "chat", "production")
    with acting_as("alice"):
        asked = request_transition(registry, "models:/chat/2", "production")
    outcomes = _race(
        lambda: approve(registry, asked.id), lambda: reject(registry, asked.id, "no"), "bob"
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "Transition"]
    decided = get_transition(registry, asked.id)
    assert registry.get_model("chat").aliases["production"] == (
        2 if decided.status == "approved" else 1
    )
    decisions = [
        e for e in _actions(registry) if e in ("transition.approved", "transition.rejected")
    ]
    assert len(decisions) == 1


def test_only_one_of_two_simultaneous_requests_is_kept(registry: RegistryStore) -> None:
    set_policy(registry, "chat", "production")
    outcomes = _race(
        lambda: request_transition(registry, "models:/chat/2", "production"),
        lambda: request_transition(registry, "models:/chat/2", "production"),
        "alice",
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "Transition"]
    assert len(list_transitions(registry, "chat", status="pending")) == 1


def test_an_approval_waiting_on_a_policy_change_checks_the_new_policy(
    registry: RegistryStore,
) -> None:
    set_policy(registry, "chat", "production")
    with acting_as("alice"):
        asked = request_transition(registry, "models:/chat/2", "production")
    outcome: list[Any] = []

    def approve_as_bob() -> None:
        with acting_as("bob"):
            try:
                outcome.append(approve(registry, asked.id))
            except LmopsError as exc:
                outcome.append(exc)

    with writing(registry.engine) as conn:  # an admin tightening the policy, not yet committed
        conn.execute(update(alias_policies).values(require_card=True))
        waiting = threading.Thread(target=approve_as_bob)
        waiting.start()
        waiting.join(0.5)
        assert waiting.is_alive()  # it waits for the policy, on either dialect
    waiting.join(30)
    [refused] = outcome
    assert isinstance(refused, Conflict) and "model card: no model card" in refused.message
    assert registry.get_model("chat").aliases["production"] == 1


def _race(first: Callable[[], Any], second: Callable[[], Any], actor: str) -> list[Any]:
    barrier = threading.Barrier(2)
    outcomes: list[Any] = []

    def run(call: Callable[[], Any]) -> None:
        with acting_as(actor):
            barrier.wait()
            try:
                outcomes.append(call())
            except LmopsError as exc:
                outcomes.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcomes


def test_evaluate_policy_reads_tags_results_and_cards(registry: RegistryStore) -> None:
    v2 = registry.get_version("models:/chat/2")
    assert evaluate_policy(registry, v2, "production") == []  # unprotected: nothing to check
    _protect(registry)
    registry.update_version(v2.uri, tags={"reviewed": "", "license": "mit"})
    attach_result(registry, v2, "rougeL", 0.5)
    checks = {c.check: (c.passed, c.detail) for c in evaluate_policy(registry, v2, "production")}
    assert checks == {
        "tag reviewed": (True, "reviewed="),
        "tag license=apache-2.0": (False, "tag license is 'mit', not 'apache-2.0'"),
        "result rougeL >= 0.3": (True, "rougeL is 0.5"),
        "model card": (False, "no model card (generate one)"),
    }
    with pytest.raises(InvalidInput):
        evaluate_policy(registry, v2, "latest")


def test_policies_are_validated_listed_and_audited(registry: RegistryStore) -> None:
    with pytest.raises(NotFound, match="not protected"):
        get_policy(registry, "chat", "production")
    for bad in (
        {"required_tags": "reviewed"},
        {"required_tags": ["=x"]},
        {"required_tags": ["a\x00"]},
        {"min_results": {"rougeL": float("nan")}},
        {"min_results": {"rougeL": True}},
        {"min_results": {"bad name!": 1.0}},
        {"min_results": ["rougeL"]},
        {"require_card": "yes"},
        {"required_tags": [f"t{i}" for i in range(101)]},
    ):
        with pytest.raises(InvalidInput):
            set_policy(registry, "chat", "production", **bad)
    with pytest.raises(InvalidInput, match="latest"):
        set_policy(registry, "chat", "latest")
    with pytest.raises(InvalidInput):
        set_policy(registry, "chat", "prod uction")
    with pytest.raises(NotFound):
        set_policy(registry, "nope", "production")

    with acting_as("root"):
        first = set_policy(registry, "chat", "production", required_tags=["a", "a", "b=1"])
        policy = set_policy(registry, "chat", "production", min_results={"acc": 1})
    assert first.required_tags == ["a", "b=1"] and first.updated_by == "root"
    assert (policy.required_tags, policy.min_results, policy.require_card) == (
        [],
        {"acc": 1},
        False,
    )
    assert policy.requirements() == ["result acc >= 1"]
    assert get_policy(registry, "chat", "production") == policy
    set_policy(registry, "chat", "canary", require_card=True)
    assert [p.alias for p in list_policies(registry, "chat")] == ["canary", "production"]
    delete_policy(registry, "chat", "canary")
    with pytest.raises(NotFound):
        delete_policy(registry, "chat", "canary")
    entries = [
        (e.action, e.before, e.after)
        for e in search(registry.engine, AuditQuery(target_kind="model"))
        if e.action.startswith("alias_policy")
    ]
    rules = {"required_tags": [], "min_results": {"acc": 1}, "require_card": False}
    assert entries[1] == (
        "alias_policy.set",
        {"required_tags": ["a", "b=1"], "min_results": {}, "require_card": False},
        rules,
    )
    assert entries[-1] == (
        "alias_policy.delete",
        {"required_tags": [], "min_results": {}, "require_card": True},
        None,
    )


def test_results_are_attached_replaced_and_validated(registry: RegistryStore) -> None:
    v2 = registry.get_version("models:/chat/2")
    with acting_as("evaluator"):
        attach_result(registry, v2, "eval/rougeL", 0.2, source="runs:/aaa")
        attach_result(registry, v2, "eval/rougeL", 0.4, source="runs:/bbb")
        attach_result(registry, v2, "bleu", 12)
    found = list_results(registry, v2)
    assert [(r.name, r.value, r.source, r.attached_by) for r in found] == [
        ("bleu", 12.0, "", "evaluator"),
        ("eval/rougeL", 0.4, "runs:/bbb", "evaluator"),
    ]
    assert list_results(registry, registry.get_version("models:/chat/1")) == []
    for name, value in (
        ("x", float("inf")),
        ("x", float("nan")),
        ("x", True),
        ("x", "0.3"),
        ("", 1.0),
        (" x", 1.0),
        ("x\x00", 1.0),
    ):
        with pytest.raises(InvalidInput):
            attach_result(registry, v2, name, value)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        attach_result(registry, v2, "x", 1.0, source="\ud800")
    replaced = search(registry.engine, AuditQuery(action="model_version.result"))[1]
    assert replaced.target == "models:/chat/2 result eval/rougeL"
    assert replaced.before == {"value": 0.2, "source": "runs:/aaa"}
    assert replaced.after == {"name": "eval/rougeL", "value": 0.4, "source": "runs:/bbb"}
