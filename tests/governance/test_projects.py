"""Governance in projects, on SQLite and PostgreSQL: a webhook hears only its own project's
events, and lineage views and model cards never name what another project holds: a far end
there is listed unresolved (kind and id only), like one that is gone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
from sqlalchemy import Engine

from lmops.artifacts import ArtifactStore
from lmops.core.errors import NotFound
from lmops.core.ids import new_id, utcnow
from lmops.data.importing import import_source
from lmops.data.store import DataStore
from lmops.governance.cards import Stores, generate_card
from lmops.governance.lineage import describe_lineage
from lmops.governance.tables import webhook_deliveries
from lmops.governance.webhooks import WebhookStore, deliver_due, dispatch, scan
from lmops.registry import registering
from lmops.registry.store import RegistryStore
from lmops.store.audit import AuditQuery, record, search
from lmops.store.lineage import add_edge
from lmops.tracking.store import TrackingStore
from tests.governance.receiver import Receiver
from tests.registry.conftest import fake_model_dir


def _stores(engine: Engine, artifacts: ArtifactStore, project: str) -> Stores:
    return Stores(
        registry=RegistryStore(engine, artifacts, project),
        tracking=TrackingStore(engine, artifacts, project),
        data=DataStore(engine, artifacts, project),
    )


@pytest.fixture
def a(engine: Engine, artifacts: ArtifactStore) -> Stores:
    return _stores(engine, artifacts, "a")


@pytest.fixture
def b(engine: Engine, artifacts: ArtifactStore) -> Stores:
    return _stores(engine, artifacts, "b")


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as c:
        yield c


def test_a_webhook_never_hears_another_projects_events(
    a: Stores, b: Stores, client: httpx.Client, tmp_path: Path
) -> None:
    hooks_a, hooks_b = WebhookStore(a.registry.engine, "a"), WebhookStore(b.registry.engine, "b")
    with Receiver() as for_a, Receiver() as for_b:
        hook_a = hooks_a.create(for_a.url, ["*"])
        hook_b = hooks_b.create(for_b.url, ["model_version.create", "model_alias.set"])
        registering.register_directory(b.registry, "chat", fake_model_dir(tmp_path / "b"))
        b.registry.set_alias("chat", "production", 1)
        registering.register_directory(a.registry, "mine", fake_model_dir(tmp_path / "a"))

        attempts = dispatch(a.registry.engine, client)

        assert sorted((t.webhook_id, t.status) for t in attempts) == sorted(
            [(hook_a.id, "delivered")] * 2 + [(hook_b.id, "delivered")] * 2
        )
        assert sorted(r.json["target"] for r in for_a.requests) == [
            "models:/mine",
            "models:/mine/1",
        ]
        assert sorted(r.json["event"] for r in for_b.requests) == [
            "model_alias.set",
            "model_version.create",
        ]
        assert all(r.json["target"].startswith("models:/chat") for r in for_b.requests)


def test_a_delivery_of_another_projects_entry_is_never_sent(
    engine: Engine, client: httpx.Client
) -> None:
    hook = WebhookStore(engine, "a").create("http://127.0.0.1:9/a", ["*"])
    with engine.begin() as conn:
        record(conn, "model.create", "model", "x", "models:/theirs", project="b")
    [entry] = search(engine, AuditQuery(project="b", action="model.create"))
    assert scan(engine) == 0
    now = utcnow()
    with engine.begin() as conn:  # a row no scan makes: the delivery side refuses it too
        conn.execute(
            webhook_deliveries.insert(),
            {
                "id": new_id(),
                "webhook_id": hook.id,
                "audit_id": entry.id,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            },
        )
    assert deliver_due(engine, client, now) == []


def test_webhooks_are_listed_read_and_removed_in_their_project(engine: Engine) -> None:
    a, b = WebhookStore(engine, "a"), WebhookStore(engine, "b")
    mine = a.create("http://127.0.0.1:9/a", ["model.create"])
    theirs = b.create("http://127.0.0.1:9/b", ["model.create"])

    assert [h.id for h in a.list()] == [mine.id] and [h.id for h in b.list()] == [theirs.id]
    assert a.get(mine.id).project == "a"
    for call in (lambda: b.get(mine.id), lambda: b.delete(mine.id), lambda: b.deliveries(mine.id)):
        with pytest.raises(NotFound, match=f"no webhook '{mine.id}'"):
            call()
    assert [h.id for h in a.list()] == [mine.id]  # b's delete changed nothing


def test_deliveries_are_listed_in_their_project(
    a: Stores, b: Stores, client: httpx.Client, tmp_path: Path
) -> None:
    hooks_a, hooks_b = WebhookStore(a.registry.engine, "a"), WebhookStore(b.registry.engine, "b")
    hooks_a.create("http://127.0.0.1:9/a", ["*"])
    hooks_b.create("http://127.0.0.1:9/b", ["*"])
    registering.register_directory(a.registry, "chat", fake_model_dir(tmp_path / "a"))
    dispatch(
        a.registry.engine,
        client,
    )
    assert {d.target for d in hooks_a.deliveries()} == {"models:/chat", "models:/chat/1"}
    assert hooks_b.deliveries() == []


def test_lineage_shows_another_projects_end_as_not_accessible(
    a: Stores, b: Stores, tmp_path: Path
) -> None:
    data_a = import_source(a.data, "secret-data", pa.table({"q": ["x"]}))
    run_a = a.tracking.create_run(a.tracking.create_experiment("secret-exp").id, name="secret-run")
    base_a = registering.register_directory(
        a.registry, "secret-base", fake_model_dir(tmp_path / "a")
    )
    version = registering.register_directory(b.registry, "chat", fake_model_dir(tmp_path / "b"))
    engine = b.registry.engine
    # edges across projects, as no stage makes one: the views must not name their far ends
    add_edge(engine, "run", run_a.id, "model_version", version.id, "produced")
    add_edge(engine, "dataset_version", data_a.id, "model_version", version.id, "trained_on")
    add_edge(engine, "model_version", base_a.id, "model_version", version.id, "adapter_of")

    seen = describe_lineage(b, "model_version", version.id)
    assert {(link.kind, link.id) for link in seen.upstream} == {
        ("run", run_a.id),
        ("dataset_version", data_a.id),
        ("model_version", base_a.id),
    }
    for link in seen.upstream:
        assert not link.resolved
        assert (link.uri, link.name, link.version, link.experiment_name) == (None,) * 4
    text = seen.model_dump_json()
    assert "secret" not in text

    # from a, the same edges are described in full
    from_a = describe_lineage(a, "run", run_a.id)
    assert [(d.kind, d.resolved) for d in from_a.downstream] == [("model_version", False)]
    assert describe_lineage(a, "dataset_version", data_a.id).downstream[0].resolved is False
    # and an object of another project cannot be asked about at all
    for stores, kind, id_ in (
        (a, "model_version", version.id),
        (b, "run", run_a.id),
        (b, "dataset_version", data_a.id),
    ):
        with pytest.raises(NotFound):
            describe_lineage(stores, kind, id_)


def test_a_card_never_names_what_another_project_holds(
    a: Stores, b: Stores, tmp_path: Path
) -> None:
    data_a = import_source(a.data, "secret-data", pa.table({"q": ["x"]}))
    run_a = a.tracking.create_run(a.tracking.create_experiment("secret-exp").id, name="secret-run")
    a.tracking.log_params(run_a.id, {"secret-param": "1"})
    base_a = registering.register_directory(
        a.registry, "secret-base", fake_model_dir(tmp_path / "a")
    )
    mine = import_source(b.data, "mine", pa.table({"q": ["y", "z"]}))
    version = registering.register_directory(b.registry, "chat", fake_model_dir(tmp_path / "b"))
    engine = b.registry.engine
    add_edge(engine, "run", run_a.id, "model_version", version.id, "produced")
    add_edge(engine, "dataset_version", data_a.id, "model_version", version.id, "trained_on")
    add_edge(engine, "dataset_version", mine.id, "model_version", version.id, "evaluated_on")
    add_edge(engine, "model_version", base_a.id, "model_version", version.id, "adapter_of")

    text = generate_card(b, version.uri).markdown
    assert "secret" not in text and run_a.id not in text and data_a.id not in text
    assert "Produced by a run not accessible from this project" in text
    assert "| _not accessible from this project (or no longer there)_ |  |  | trained_on |" in text
    assert "| `datasets:/mine/1` | 2 | import | evaluated_on |" in text

    with pytest.raises(NotFound):
        generate_card(b, "models:/secret-base/1")
    assert base_a.model_name == "secret-base"
