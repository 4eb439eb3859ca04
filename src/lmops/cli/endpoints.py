"""`lmops endpoints ...`: the gateway's endpoints, and `lmops keys limits` for API keys."""

from __future__ import annotations

import click

from lmops.cli.output import emit, json_option
from lmops.core.errors import InvalidInput
from lmops.core.settings import Settings
from lmops.serving.entities import Endpoint, EndpointSpec, Route
from lmops.serving.store import EndpointStore
from lmops.store import open_engine


def open_store() -> EndpointStore:
    settings = Settings()
    if settings.is_remote:
        raise InvalidInput(
            f"endpoints are managed in-process for now: LMOPS_URI={settings.uri} is a server; "
            "point LMOPS_URI at the store, or use PUT /api/v1/endpoints/NAME",
            field="uri",
        )
    return EndpointStore(open_engine(settings.uri), settings.project)


def _routes(models: tuple[str, ...]) -> list[Route]:
    """`models:/x@production` or `models:/x/4=10` (a weight out of the total)."""
    routes = []
    for given in models:
        uri, sep, weight = given.rpartition("=") if "=" in given else (given, "", "100")
        if sep and not weight.isdigit():
            raise InvalidInput(f"a route's weight is a whole number: {given!r}", field="model")
        routes.append(Route(model=uri, weight=int(weight)))
    return routes


model_option = click.option(
    "--model",
    "models",
    multiple=True,
    required=True,
    metavar="URI[=WEIGHT]",
    help="A version or alias to route to, with its share (repeat for a split or a canary).",
)
sticky_option = click.option(
    "--sticky/--no-sticky", default=True, show_default=True, help="A user keeps their route."
)
cache_option = click.option(
    "--cache/--no-cache", default=False, show_default=True, help="Exact-match response cache."
)
fallback_option = click.option(
    "--fallback",
    "fallbacks",
    multiple=True,
    metavar="URI",
    help="A model to answer when the route's fails before answering (repeat: tried in order).",
)


def _show(endpoint: Endpoint) -> None:
    total = sum(r.weight for r in endpoint.routes)
    split = ", ".join(f"{r.model} {100 * r.weight / total:.0f}%" for r in endpoint.routes)
    options = [o for o, on in (("sticky", endpoint.sticky), ("cache", endpoint.cache)) if on]
    click.echo(f"{endpoint.name}: {split}" + (f" ({', '.join(options)})" if options else ""))
    if endpoint.fallbacks:
        click.echo(f"  fallbacks: {' > '.join(endpoint.fallbacks)}")


@click.group()
def endpoints() -> None:
    """Gateway endpoints: /v1 model names that route to registered versions."""


@endpoints.command("create")
@click.argument("name")
@model_option
@fallback_option
@sticky_option
@cache_option
@click.option("--description", "-d", default="")
def create(
    name: str,
    models: tuple[str, ...],
    fallbacks: tuple[str, ...],
    sticky: bool,
    cache: bool,
    description: str,
) -> None:
    """Create endpoint NAME; `lmops server` answers /v1 requests for model NAME with it."""
    spec = EndpointSpec(
        routes=_routes(models),
        fallbacks=list(fallbacks),
        sticky=sticky,
        cache=cache,
        description=description,
    )
    _show(open_store().create(name, spec))


@endpoints.command("update")
@click.argument("name")
@model_option
@fallback_option
@click.option("--no-fallbacks", is_flag=True, help="Remove every fallback.")
@sticky_option
@cache_option
@click.option("--description", "-d", default="")
def update(
    name: str,
    models: tuple[str, ...],
    fallbacks: tuple[str, ...],
    no_fallbacks: bool,
    sticky: bool,
    cache: bool,
    description: str,
) -> None:
    """Replace NAME's routes and options (a running server picks them up within a second).

    The fallbacks stay as they were unless --fallback gives new ones or --no-fallbacks
    removes them.
    """
    if fallbacks and no_fallbacks:
        raise InvalidInput("give --fallback or --no-fallbacks, not both", field="fallback")
    store = open_store()
    kept = [] if no_fallbacks else list(fallbacks) or store.get(name).fallbacks
    spec = EndpointSpec(
        routes=_routes(models),
        fallbacks=kept,
        sticky=sticky,
        cache=cache,
        description=description,
    )
    _show(store.update(name, spec))


@endpoints.command("list")
@json_option
def list_endpoints(as_json: bool) -> None:
    """Endpoints by name."""
    emit(
        open_store().list(),
        [
            ("name", lambda e: e.name),
            ("routes", lambda e: ", ".join(f"{r.model}={r.weight}" for r in e.routes)),
            ("fallbacks", lambda e: " > ".join(e.fallbacks) or "-"),
            ("sticky", lambda e: e.sticky),
            ("cache", lambda e: e.cache),
            ("updated", lambda e: e.updated_at),
        ],
        as_json,
    )


@endpoints.command("show")
@click.argument("name")
@json_option
def show(name: str, as_json: bool) -> None:
    endpoint = open_store().get(name)
    if as_json:
        click.echo(endpoint.model_dump_json(indent=2))
    else:
        _show(endpoint)


@endpoints.command("delete")
@click.argument("name")
def delete(name: str) -> None:
    open_store().delete(name)
    click.echo(f"deleted endpoint {name}")


@click.command("limits")
@click.argument("key_id")
@click.option("--rpm", type=click.IntRange(min=1), help="Requests per minute.")
@click.option("--tpm", type=click.IntRange(min=1), help="Tokens (in + out) per minute.")
@click.option("--budget", type=click.FloatRange(min=0), help="USD per calendar month.")
@click.option("--clear", is_flag=True, help="Lift every limit.")
def key_limits(
    key_id: str, rpm: int | None, tpm: int | None, budget: float | None, clear: bool
) -> None:
    """Show KEY_ID's gateway limits and spend this month; set them with the options.

    Setting replaces all three: a limit not given is lifted.
    """
    from lmops.governance.access import AccessStore
    from lmops.serving.entities import KeyLimits
    from lmops.serving.limits import current_period
    from lmops.serving.store import LimitStore

    settings = Settings()
    engine = open_engine(settings.uri)
    key = AccessStore(engine).get_key(key_id)
    store = LimitStore(engine)
    if clear or any(v is not None for v in (rpm, tpm, budget)):
        limits = KeyLimits(requests_per_minute=rpm, tokens_per_minute=tpm, monthly_budget=budget)
        store.set_limits(key_id, limits, project=key.project)
    limits = store.get_limits(key_id)
    usage = store.get_usage(key_id, current_period())
    budget_text = None if limits.monthly_budget is None else f"${limits.monthly_budget:.2f}"
    click.echo(
        f"{key.prefix}... ({key.user}, {key.project}): "
        f"{_limit(limits.requests_per_minute)} requests/min, "
        f"{_limit(limits.tokens_per_minute)} tokens/min, budget {_limit(budget_text)}"
    )
    click.echo(
        f"{usage.period}: {usage.requests} requests, {usage.input_tokens} input and "
        f"{usage.output_tokens} output tokens, ${usage.cost:.4f}"
    )


def _limit(value: object) -> str:
    return "unlimited" if value is None else str(value)
