"""Endpoints, key limits and usage in the store (SQLite and PostgreSQL), the limiter over
them, and how a split chooses routes."""

from __future__ import annotations

from collections import Counter

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine

from lmops.core.errors import Conflict, NotFound
from lmops.governance.access import AccessStore
from lmops.serving.entities import EndpointSpec, KeyLimits, KeyUsage, Route
from lmops.serving.gateway import choose
from lmops.serving.limits import Limiter, current_period
from lmops.serving.protocol import OpenAIError
from lmops.serving.store import EndpointStore, LimitStore
from lmops.store import audit


def spec(*routes: tuple[str, int], **options: bool) -> EndpointSpec:
    return EndpointSpec(routes=[Route(model=m, weight=w) for m, w in routes], **options)


def test_endpoints_are_kept_per_project_and_audited(engine: Engine) -> None:
    store = EndpointStore(engine)
    made = store.create("chat", spec(("models:/a@production", 90), ("models:/a/4", 10)))
    assert store.get("chat").routes == made.routes
    with pytest.raises(Conflict):
        store.create("chat", spec(("models:/a/1", 1)))

    other = store.in_project("other")
    with pytest.raises(NotFound, match="no endpoint named 'chat'"):
        other.get("chat")
    assert other.list() == []
    other.create("chat", spec(("models:/b/1", 1)))  # the same name in another project
    assert [r.model for r in store.get("chat").routes] == ["models:/a@production", "models:/a/4"]

    store.update("chat", spec(("models:/a/4", 100), cache=True))
    assert store.get("chat").cache is True
    assert store.get("chat").fallbacks == []
    store.delete("chat")
    with pytest.raises(NotFound):
        store.get("chat")
    actions = [e.action for e in audit.search(engine) if e.target == "endpoints:/chat"]
    assert actions == [
        "endpoint.create",
        "endpoint.create",
        "endpoint.update",
        "endpoint.delete",
    ]


def test_fallbacks_are_kept_in_order_and_replaced_by_an_update(engine: Engine) -> None:
    store = EndpointStore(engine)
    made = store.create(
        "chat",
        EndpointSpec(
            routes=[Route(model="models:/a/1")], fallbacks=["models:/c@production", "models:/b/2"]
        ),
    )
    assert made.fallbacks == ["models:/c@production", "models:/b/2"]
    assert store.get("chat").fallbacks == ["models:/c@production", "models:/b/2"]
    assert store.list()[0].fallbacks == made.fallbacks
    store.update(
        "chat", EndpointSpec(routes=[Route(model="models:/a/1")], fallbacks=["models:/b/2"])
    )
    assert store.get("chat").fallbacks == ["models:/b/2"]
    [entry] = [e for e in audit.search(engine) if e.action == "endpoint.update"]
    assert entry.before["fallbacks"] == made.fallbacks
    assert entry.after["fallbacks"] == ["models:/b/2"]
    store.update("chat", spec(("models:/a/1", 100)))
    assert store.get("chat").fallbacks == []


@pytest.mark.parametrize(
    ("fallbacks", "message"),
    [
        (["nonsense"], "cannot parse URI"),
        (["prompts:/p/1"], "not a model URI"),
        (["models:/b/1", "models:/b/1"], "appear once in the fallbacks"),
        (["models:/a/1"], "models:/a/1 is a route already"),
        ([f"models:/b/{i}" for i in range(1, 10)], "at most 8 items"),
    ],
)
def test_bad_fallbacks_are_refused_with_the_reason(fallbacks: list[str], message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        EndpointSpec.model_validate({"routes": [{"model": "models:/a/1"}], "fallbacks": fallbacks})
    assert caught.value.errors()[0]["loc"][0] == "fallbacks"


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        ([], "at least 1 item"),
        ([{"model": "datasets:/x/1"}], "not a model URI"),
        ([{"model": "nonsense"}], "cannot parse URI"),
        ([{"model": "models:/a/1", "weight": 0}], "weight above 0"),
        ([{"model": "models:/a/1"}, {"model": "models:/a/1"}], "appear once"),
        ([{"model": "models:/a/1", "weight": 101}], "less than or equal to 100"),
    ],
)
def test_bad_routes_are_refused_with_the_reason(routes: list[object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        EndpointSpec.model_validate({"routes": routes})


def test_usage_adds_up_per_key_and_month(engine: Engine) -> None:
    access = AccessStore(engine)
    access.create_user("ana")
    access.set_role("ana", "default", "editor")
    key = access.create_key("ana", "default")
    store = LimitStore(engine)
    assert store.get_limits(key.id) == KeyLimits()
    store.set_limits(key.id, KeyLimits(requests_per_minute=5), project="default")
    assert store.get_limits(key.id).requests_per_minute == 5
    for _ in range(2):
        store.add_usage(
            KeyUsage(
                key_id=key.id,
                period="2026-11",
                requests=2,
                input_tokens=5,
                output_tokens=7,
                cost=1.5,
            )
        )
    usage = store.get_usage(key.id, "2026-11")
    assert (usage.requests, usage.input_tokens, usage.output_tokens, usage.cost) == (4, 10, 14, 3.0)
    assert store.get_usage(key.id, "2026-12").requests == 0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_limiter_counts_requests_tokens_and_spend(engine: Engine) -> None:
    access = AccessStore(engine)
    access.create_user("ana")
    access.set_role("ana", "default", "editor")
    key = access.create_key("ana", "default").id
    store = LimitStore(engine)
    store.set_limits(
        key,
        KeyLimits(requests_per_minute=3, tokens_per_minute=100, monthly_budget=2.0),
        project="default",
    )
    clock = Clock()
    limiter = Limiter(store, clock=clock, refresh_s=1e9, flush_s=3600)
    try:
        for _ in range(3):
            limiter.admit(key)
        with pytest.raises(OpenAIError, match="3 requests per minute") as caught:
            limiter.admit(key)
        assert caught.value.status == 429 and caught.value.retry_after == 60

        clock.now += 61  # the window moved on
        limiter.admit(key)
        limiter.charge(key, 60, 50, cost=0.5)
        with pytest.raises(OpenAIError, match="100 tokens per minute"):
            limiter.admit(key)

        clock.now += 61
        limiter.charge(key, 1, 1, cost=1.6)  # 2.1 spent of 2.0
        with pytest.raises(OpenAIError, match="Budget exhausted") as spent:
            limiter.admit(key)
        assert spent.value.code == "budget_exceeded"

        limiter.flush()
        usage = store.get_usage(key, current_period())
        assert (usage.requests, usage.input_tokens, usage.output_tokens) == (2, 61, 51)
        assert usage.cost == pytest.approx(2.1)
    finally:
        limiter.close()


def test_a_split_follows_its_weights_and_sticks_to_a_user() -> None:
    endpoint_spec = spec(("models:/a/1", 90), ("models:/a/2", 10), sticky=False)
    from datetime import UTC, datetime

    from lmops.serving.entities import Endpoint

    now = datetime.now(UTC)
    endpoint = Endpoint(
        id="x", name="chat", created_at=now, updated_at=now, **endpoint_spec.model_dump()
    )
    picked = Counter(choose(endpoint, None).model for _ in range(4000))
    assert 0.07 < picked["models:/a/2"] / 4000 < 0.13

    sticky = endpoint.model_copy(update={"sticky": True})
    for user in ("ana", "bob", "eve"):
        assert len({choose(sticky, user).model for _ in range(50)}) == 1
    users = Counter(choose(sticky, f"user-{i}").model for i in range(2000))
    assert 0.07 < users["models:/a/2"] / 2000 < 0.13
