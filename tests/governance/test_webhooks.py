"""Webhooks on SQLite and PostgreSQL, delivered to a real HTTP receiver: signed events,
retries with backoff, failures recorded, subscriptions filtered, secrets kept."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select, text

from lmops.artifacts import ArtifactStore
from lmops.core.errors import InvalidInput, NotFound
from lmops.core.ids import utcnow
from lmops.governance.delivery import retry_delay
from lmops.governance.tables import webhook_cursor, webhook_deliveries
from lmops.governance.webhooks import (
    EVENTS,
    GAP_GRACE,
    MAX_ATTEMPTS,
    WebhookStore,
    deliver_due,
    dispatch,
    scan,
    verify_signature,
)
from lmops.registry import registering
from lmops.registry.store import RegistryStore
from lmops.store import create_db_engine, upgrade
from lmops.store.audit import record, search
from tests.conftest import free_port
from tests.governance.receiver import Receiver
from tests.registry.conftest import fake_model_dir


@pytest.fixture
def hooks(engine: Engine) -> WebhookStore:
    return WebhookStore(engine)


@pytest.fixture
def registry(engine: Engine, artifacts: ArtifactStore) -> RegistryStore:
    return RegistryStore(engine, artifacts)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as c:
        yield c


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def _register(registry: RegistryStore, tmp_path: Path, name: str = "chat") -> None:
    registering.register_directory(registry, name, fake_model_dir(tmp_path / name))


def test_a_version_and_an_alias_move_arrive_signed(
    hooks: WebhookStore,
    registry: RegistryStore,
    receiver: Receiver,
    client: httpx.Client,
    tmp_path: Path,
) -> None:
    hook = hooks.create(receiver.url, ["model_version.create", "model_alias.set"])
    _register(registry, tmp_path)
    registry.set_alias("chat", "production", 1)

    attempts = dispatch(hooks.engine, client)

    assert sorted(a.status for a in attempts) == ["delivered", "delivered"]
    by_event = {r.headers["x-lmops-event"]: r for r in receiver.requests}
    assert set(by_event) == {"model_version.create", "model_alias.set"}  # not model.create
    move = by_event["model_alias.set"]
    assert move.json["target"] == "models:/chat@production"
    assert (move.json["before"], move.json["after"]) == (None, {"version": 1})
    assert move.json["actor"].startswith("local:") and move.json["target_kind"] == "model"
    assert set(move.json) == {
        "id",
        "event",
        "at",
        "actor",
        "target",
        "target_kind",
        "target_id",
        "before",
        "after",
    }
    assert by_event["model_version.create"].json["target"] == "models:/chat/1"
    for request in receiver.requests:
        assert request.headers["content-type"] == "application/json"
        timestamp, signature = (
            request.headers["x-lmops-timestamp"],
            request.headers["x-lmops-signature"],
        )
        assert signature.startswith("sha256=")
        assert verify_signature(hook.secret, timestamp, request.body, signature)
        tampered = request.body.replace(b"model_", b"modeL_")
        assert not verify_signature(hook.secret, timestamp, tampered, signature)
        assert not verify_signature("another secret!!", timestamp, request.body, signature)
        old = int(timestamp) + 301
        assert not verify_signature(hook.secret, timestamp, request.body, signature, now=old)
    assert len({r.headers["x-lmops-delivery"] for r in receiver.requests}) == 2
    delivered = hooks.deliveries(hook.id)
    assert [(d.event, d.status, d.attempts, d.last_status_code) for d in delivered] == [
        ("model_alias.set", "delivered", 1, 200),
        ("model_version.create", "delivered", 1, 200),
    ]
    assert dispatch(hooks.engine, client) == []  # nothing twice


def test_verify_signature_refuses_what_it_cannot_trust() -> None:
    from lmops.governance.signing import sign

    body = b'{"event":"model_alias.set"}'
    signature = sign("s" * 20, 1_700_000_000, body)
    assert verify_signature("s" * 20, "1700000000", body, signature, now=1_700_000_100)
    assert verify_signature("s" * 20, 1_700_000_000, body.decode(), signature, now=1_700_000_000)
    for timestamp, sig, now in [
        ("1700000000", signature, 1_700_000_000 + 301),  # too old: a replay
        ("1700000000", signature, 1_700_000_000 - 301),  # from the future
        ("yesterday", signature, 1_700_000_000),
        ("1700000000", signature.upper(), 1_700_000_000),
        ("1700000000", "sha256=☃", 1_700_000_000),
        ("1700000000", "", 1_700_000_000),
    ]:
        assert not verify_signature("s" * 20, timestamp, body, sig, now=now), (timestamp, sig)


def test_a_refused_delivery_arrives_on_the_retry(
    hooks: WebhookStore, registry: RegistryStore, client: httpx.Client, tmp_path: Path
) -> None:
    with Receiver(statuses=(500, 200)) as receiver:
        hook = hooks.create(receiver.url, ["model.create"])
        registry.create_model("chat")
        t0 = utcnow()
        assert scan(hooks.engine, t0) == 1

        [first] = deliver_due(hooks.engine, client, t0)
        assert (first.status, first.attempts, first.status_code) == ("pending", 1, 500)
        [pending] = hooks.deliveries(hook.id)
        assert pending.last_error == "HTTP 500: no"
        assert pending.next_attempt_at == t0 + retry_delay(1)
        assert deliver_due(hooks.engine, client, t0 + timedelta(seconds=5)) == []  # not yet

        [second] = deliver_due(hooks.engine, client, t0 + retry_delay(1))
        assert (second.status, second.attempts, second.status_code) == ("delivered", 2, 200)
        assert len(receiver.requests) == 2
        ids = {r.headers["x-lmops-delivery"] for r in receiver.requests}
        assert ids == {first.delivery_id}  # a retry keeps its id, so receivers can dedupe
    [done] = hooks.deliveries(hook.id)
    assert (done.status, done.attempts, done.last_error) == ("delivered", 2, None)


def test_a_receiver_that_is_down_fails_after_max_attempts(
    hooks: WebhookStore, registry: RegistryStore, client: httpx.Client
) -> None:
    hook = hooks.create(f"http://127.0.0.1:{free_port()}/hook", ["*"])
    registry.create_model("chat")
    now = utcnow()
    scan(hooks.engine, now)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        [result] = deliver_due(hooks.engine, client, now)
        assert result.attempts == attempt and result.status_code is None
        [delivery] = hooks.deliveries(hook.id)
        assert delivery.last_error is not None and "ConnectError" in delivery.last_error
        expected = "failed" if attempt == MAX_ATTEMPTS else "pending"
        assert result.status == delivery.status == expected
        now += retry_delay(attempt)
    assert retry_delay(1) < retry_delay(2) < retry_delay(3)
    assert deliver_due(hooks.engine, client, now + timedelta(days=1)) == []
    assert hooks.deliveries(hook.id, status="failed")[0].attempts == MAX_ATTEMPTS


def test_a_receiver_that_hangs_times_out_and_is_retried(
    hooks: WebhookStore, registry: RegistryStore, client: httpx.Client
) -> None:
    with Receiver(hold_s=10) as receiver:
        hook = hooks.create(receiver.url, ["model.create"])
        registry.create_model("chat")
        scan(hooks.engine)
        [result] = deliver_due(hooks.engine, client, timeout=0.2)
        assert result.status == "pending" and receiver.holding == 1
    [delivery] = hooks.deliveries(hook.id)
    assert delivery.last_error is not None and "ReadTimeout" in delivery.last_error


def test_events_filter_by_subscription(
    hooks: WebhookStore, registry: RegistryStore, tmp_path: Path
) -> None:
    registry.create_model("before-any-hook")
    aliases = hooks.create("http://127.0.0.1:9/a", ["model_alias.set", "model_alias.set"])
    everything = hooks.create("https://example.com/all", ["*", "model.create"])
    paused = hooks.create("http://127.0.0.1:9/p", ["*"], active=False)
    _register(registry, tmp_path)
    registry.set_alias("chat", "production", 1)
    registry.delete_alias("chat", "production")
    late = hooks.create("http://127.0.0.1:9/late", ["*"])
    assert scan(hooks.engine) == 5
    assert scan(hooks.engine) == 0  # the cursor moved: nothing is queued twice

    def events(webhook_id: str) -> list[str]:
        return [d.event for d in reversed(hooks.deliveries(webhook_id))]

    assert aliases.events == ["model_alias.set"] and everything.events == ["*"]
    assert events(aliases.id) == ["model_alias.set"]
    assert events(everything.id) == [
        "model.create",
        "model_version.create",
        "model_alias.set",
        "model_alias.delete",
    ]
    assert events(paused.id) == [] and events(late.id) == []
    # webhook.create entries are in the log but are no event anyone can subscribe to
    assert "webhook.create" not in EVENTS
    assert len(search(hooks.engine)) >= 9


def test_secrets_are_shown_once_and_kept(hooks: WebhookStore) -> None:
    made = hooks.create("http://127.0.0.1:9/x", ["model.create"], description="ci")
    given = hooks.create("http://127.0.0.1:9/y", ["*"], secret="my-own-secret-123")
    assert made.secret.startswith("whsec_") and len(made.secret) > 30
    assert given.secret == "my-own-secret-123"
    listed = hooks.list()
    assert [w.id for w in listed] == [made.id, given.id]
    for shown in [*listed, hooks.get(made.id)]:
        dumped = shown.model_dump_json()
        assert "secret" not in dumped and made.secret not in dumped
    entries = search(hooks.engine)
    assert [e.action for e in entries] == ["webhook.create", "webhook.create"]
    assert made.secret not in json.dumps([e.model_dump(mode="json") for e in entries])
    with pytest.raises(InvalidInput, match="secret must be 16 to 256"):
        hooks.create("http://127.0.0.1:9/z", ["*"], secret="short")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/hook", "absolute http:// or https://"),
        ("/relative/hook", "absolute http:// or https://"),
        ("http://", "absolute http:// or https://"),
        ("javascript:alert(1)", "absolute http:// or https://"),
        ("", "without spaces"),
        ("http://exa mple.com/", "without spaces"),
        ("http://example.com/\x00", "NUL"),
        ("http://[::1/", "not a valid URL"),
        ("http://example.com/" + "x" * 3000, "longer than 2048"),
    ],
)
def test_bad_urls_are_invalid_input(hooks: WebhookStore, url: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        hooks.create(url, ["*"])
    assert caught.value.field == "url"


@pytest.mark.parametrize(
    ("events", "message"),
    [
        (["model.delete"], "unknown event 'model.delete'; known: model.create"),
        (["*", "nope"], "unknown event 'nope'"),
        ([], "give 1 to 50 events"),
        ("model.create", "must be a list"),
    ],
)
def test_unknown_events_are_invalid_input(
    hooks: WebhookStore, events: list[str], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        hooks.create("http://127.0.0.1:9/x", events)
    assert caught.value.field == "events"
    assert hooks.list() == []


def test_deleting_a_webhook_is_audited_and_drops_its_deliveries(
    hooks: WebhookStore, registry: RegistryStore
) -> None:
    hook = hooks.create("http://127.0.0.1:9/x", ["*"])
    registry.create_model("chat")
    scan(hooks.engine)
    assert len(hooks.deliveries(hook.id)) == 1
    hooks.delete(hook.id)
    with pytest.raises(NotFound):
        hooks.get(hook.id)
    with pytest.raises(NotFound):
        hooks.delete(hook.id)
    with pytest.raises(NotFound):
        hooks.deliveries("not-an-id")
    assert hooks.deliveries() == []
    removed = search(hooks.engine)[-1]
    assert (removed.action, removed.target_id, removed.after) == ("webhook.delete", hook.id, None)
    assert removed.before == {
        "url": "http://127.0.0.1:9/x",
        "events": ["*"],
        "active": True,
        "description": "",
    }


def test_concurrent_scans_queue_each_event_once(
    hooks: WebhookStore, registry: RegistryStore
) -> None:
    hook = hooks.create("http://127.0.0.1:9/x", ["*"])
    for i in range(20):
        registry.create_model(f"m{i}")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            scan(hooks.engine)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(d.target for d in hooks.deliveries(hook.id)) == sorted(
        f"models:/m{i}" for i in range(20)
    )


def test_an_entry_that_commits_late_is_not_missed(hooks: WebhookStore, engine: Engine) -> None:
    """PostgreSQL hands out ids when rows are inserted, not when they commit: a scan may see
    id n+1 before n. The cursor waits at the gap; the late entry is delivered all the same."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serializes writers: its ids commit in order")
    hook = hooks.create("http://127.0.0.1:9/x", ["*"])
    with engine.connect() as slow:
        with slow.begin():
            record(slow, "model.create", "model", "a", "models:/slow", project="default")
            with engine.begin() as fast:
                record(fast, "model.create", "model", "b", "models:/fast", project="default")
            assert scan(engine) == 1
            assert scan(engine) == 0  # read again while the gap is open, queued once
        assert scan(engine) == 1
    assert sorted(d.target for d in hooks.deliveries(hook.id)) == ["models:/fast", "models:/slow"]
    last = max(e.id for e in search(engine))
    assert _cursor(engine) == last

    # a rolled-back entry leaves a gap for good; the cursor passes it once it has settled
    with engine.connect() as conn, conn.begin() as tx:
        record(conn, "model.create", "model", "c", "models:/gone", project="default")
        tx.rollback()
    with engine.begin() as conn:
        record(conn, "model.create", "model", "d", "models:/after", project="default")
    assert scan(engine) == 1 and _cursor(engine) == last
    assert scan(engine, utcnow() + GAP_GRACE + timedelta(seconds=1)) == 0
    assert _cursor(engine) == max(e.id for e in search(engine)) == last + 2


def _cursor(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(webhook_cursor.c.audit_id)).scalar_one())


def test_the_migration_starts_the_cursor_at_the_end_of_the_log(store_uri: str) -> None:
    engine = create_db_engine(store_uri)
    try:
        upgrade(engine, "0008")
        with engine.begin() as conn:  # the log as it was then: no project column yet
            for name in ("a", "b"):
                conn.execute(
                    text(
                        "INSERT INTO audit_log (at, actor, action, target_kind, target_id, target)"
                        " VALUES (:at, 'local:test', 'model.create', 'model', :id, :target)"
                    ),
                    {"at": utcnow(), "id": name, "target": f"models:/{name}"},
                )
        upgrade(engine)
        assert _cursor(engine) == max(e.id for e in search(engine))
        with engine.connect() as conn:
            assert conn.execute(select(webhook_deliveries)).all() == []
    finally:
        engine.dispose()
