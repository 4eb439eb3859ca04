"""The governance part of `make demo`: a policy, a card, a result, a request by alice and an
approval by bob move the demo model to production; the other waits, its checks failing."""

from __future__ import annotations

from pathlib import Path

import lmops
from lmops.core.settings import current
from lmops.demo_access import PASSWORD, populate_users, try_to_approve
from lmops.demo_models import populate_transitions
from lmops.governance.access import AccessStore
from lmops.registry import registering
from lmops.registry.sdk import open_registry
from lmops.store.audit import AuditQuery, search
from tests.registry.conftest import fake_model_dir


def test_the_demo_moves_its_model_to_production_through_an_approval(tmp_path: Path) -> None:
    lmops.configure(home=tmp_path / "home", uri="")
    store = open_registry(current())
    tiny = registering.register_directory(store, "demo-tiny", fake_model_dir(tmp_path / "t"))
    smol = registering.register_directory(store, "smol", fake_model_dir(tmp_path / "s"))

    done = populate_transitions([tiny, smol])

    assert [(t.model_name, t.status, t.requested_by, t.decided_by) for t in done] == [
        ("smol", "approved", "alice", "bob"),
        ("demo-tiny", "pending", "alice", None),
    ]
    assert all(c.passed for c in done[0].decision_checks or [])
    assert [c.check for c in done[1].checks if not c.passed] == [
        "tag reviewed",
        "result rougeL >= 0.3",
        "model card",
    ]
    assert store.get_version("models:/smol@production").version == 1
    assert "production" not in store.get_model("demo-tiny").aliases
    approved = search(store.engine, AuditQuery(action="transition.approved"))
    assert [e.actor for e in approved] == ["bob"]
    assert populate_transitions([]) == []


def test_the_demo_shows_a_viewer_key_cannot_approve(tmp_path: Path) -> None:
    """Over real HTTP, against a server with auth on: vic (viewer) is refused for the role,
    bob (approver) by the policy, and the alias stays where it was."""
    settings = lmops.configure(home=tmp_path / "home", uri="")
    store = open_registry(settings)
    tiny = registering.register_directory(store, "demo-tiny", fake_model_dir(tmp_path / "t"))
    smol = registering.register_directory(store, "smol", fake_model_dir(tmp_path / "s"))
    pending = populate_transitions([tiny, smol])[1]
    assert populate_users(settings) and not populate_users(settings)

    attempts = try_to_approve(settings, pending)

    assert [(a.who, a.role, a.status) for a in attempts] == [
        ("vic", "viewer", 403),
        ("bob", "approver", 409),
    ]
    assert "needs approver or above" in attempts[0].message
    assert "3 of 3 policy checks fail" in attempts[1].message
    assert "production" not in store.get_model("demo-tiny").aliases
    assert AccessStore(store.engine).login("admin", PASSWORD)[1].superuser
