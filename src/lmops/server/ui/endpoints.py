"""Gateway pages: the endpoints with their routes and recent traffic, one endpoint per model
version (a canary's versions side by side), and the playground that calls them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from lmops.core.errors import InvalidInput, LmopsError
from lmops.core.uris import VersionRef, check_name, parse_uri
from lmops.prompts.entities import Prompt
from lmops.prompts.store import PromptStore
from lmops.registry.store import RegistryStore
from lmops.server.auth import Principal, authorize, required_role
from lmops.server.deps import (
    PromptDep,
    RegistryDep,
    Services,
    ServicesDep,
    endpoint_store,
    project,
)
from lmops.server.ui.payloads import format_ms
from lmops.server.ui.rendering import HtmlRoute, render
from lmops.serving.entities import Endpoint
from lmops.serving.gateway import Deployment, GatewayRouter
from lmops.serving.store import EndpointStore
from lmops.tracing.activity import ActivityWindow, Bucket, Stats, endpoint_activity

router = APIRouter(dependencies=[Depends(authorize)], route_class=HtmlRoute, tags=["ui"])

EndpointDep = Annotated[EndpointStore, Depends(endpoint_store)]
ProjectDep = Annotated[str, Depends(project)]
# window: (length, seconds per chart bucket)
WINDOWS: dict[str, tuple[timedelta, int]] = {
    "15m": (timedelta(minutes=15), 30),
    "1h": (timedelta(hours=1), 60),
    "24h": (timedelta(hours=24), 900),
    "7d": (timedelta(days=7), 7200),
}
WINDOW_LABELS = {"15m": "last 15 min", "1h": "last hour", "24h": "last 24 h", "7d": "last 7 days"}
LIST_WINDOW = "15m"
PROMPT_VERSIONS_SHOWN = 10
MAX_COMPARED = 4


@dataclass(frozen=True)
class RouteView:
    """A route, what it resolves to in the registry now, and what the gateway has loaded."""

    model: str
    weight: int
    share: float  # percent of the endpoint's traffic
    resolved: str | None = None  # the version URI the route names now
    problem: str | None = None  # why it does not resolve
    loaded: str | None = None  # the version URI loaded for it (lags an alias move)
    inflight: int = 0

    @property
    def resolved_version(self) -> str:
        """The version number alone (v3): the route's own URI already names the model."""
        return "v" + self.resolved.rpartition("/")[2] if self.resolved else ""

    @property
    def switching(self) -> bool:
        """The alias moved: the loaded version answers until the next request loads the new."""
        return (
            self.loaded is not None and self.resolved is not None and self.loaded != self.resolved
        )


@dataclass(frozen=True)
class VersionView:
    uri: str  # "" when traces named no version
    stats: Stats
    routes: list[RouteView] = field(default_factory=list)
    series: list[Bucket] = field(default_factory=list)


@router.get("/endpoints", include_in_schema=False)
def endpoints_page(
    request: Request,
    store: EndpointDep,
    registry: RegistryDep,
    services: ServicesDep,
    project: ProjectDep,
) -> Response:
    """Every endpoint: its routes and split, what they resolve to, and recent traffic."""
    found = store.list()
    window = _activity(services, project, LIST_WINDOW)
    loaded = _loaded(request)
    rows = [(e, _routes(e, registry, loaded), window.of(e.name).total) for e in found]
    context = {"rows": rows, "window": window, "window_label": WINDOW_LABELS[LIST_WINDOW]}
    return _render(request, "endpoints.html", context)


@router.get("/endpoints/{name}", include_in_schema=False)
def endpoint_page(
    request: Request,
    name: str,
    store: EndpointDep,
    registry: RegistryDep,
    services: ServicesDep,
    project: ProjectDep,
    range_: Annotated[str, Query(alias="range", max_length=10)] = LIST_WINDOW,
) -> Response:
    """One endpoint per model version, with request rate and latency over time."""
    endpoint = store.get(check_name(name, "endpoint"))
    if range_ not in WINDOWS:
        choices = ", ".join(WINDOWS)
        raise InvalidInput(f"range must be one of {choices}, not {range_!r}", field="range")
    routes = _routes(endpoint, registry, _loaded(request))
    window = _activity(services, project, range_, endpoint.name)
    activity = window.of(endpoint.name)
    versions = _versions(routes, activity.versions, activity.version_series)
    context = {
        "endpoint": endpoint,
        "routes": routes,
        "versions": versions,
        "total": activity.total,
        "window": window,
        "range": range_,
        "windows": WINDOW_LABELS,
        "chart": _chart(window, versions),
        "traces_link": _traces_link(endpoint.name, range_, activity.total),
    }
    return _render(request, "endpoint.html", context)


@router.get("/playground", include_in_schema=False)
def playground_page(
    request: Request,
    store: EndpointDep,
    prompts: PromptDep,
    endpoint: Annotated[list[str] | None, Query(max_length=255)] = None,
    prompt: Annotated[str, Query(max_length=1000)] = "",
) -> Response:
    """Run chats against endpoints side by side, from text or a registered prompt."""
    found = store.list()
    names = {e.name for e in found}
    chosen = [n for n in dict.fromkeys(endpoint or []) if n in names][:MAX_COMPARED]
    if not chosen and found:
        chosen = [found[0].name]
    context = {
        "endpoints": found,
        "chosen": chosen,
        "prompt_groups": _prompt_choices(prompts),
        "chosen_prompt": prompt,
        "max_compared": MAX_COMPARED,
        "can_run": _can_run(request),
    }
    return _render(request, "playground.html", context)


@router.get("/playground/prompt", include_in_schema=False)
def playground_prompt(
    prompts: PromptDep,
    uri: Annotated[str, Query(max_length=1000)],
    variables: Annotated[str | None, Query(max_length=100_000)] = None,
) -> JSONResponse:
    """A prompt version's variables and parameters (JSON), and its messages rendered with
    `variables` (a JSON object of strings) when given or when it uses none."""
    try:
        version = prompts.get_version(uri)
        given = _variables(variables)
        messages = None
        if given is not None or not version.variables:
            messages = _messages(version, given or {})
    except LmopsError as exc:
        return JSONResponse(exc.to_dict(), status_code=exc.status_code)
    return JSONResponse(
        {
            "uri": version.uri,
            "variables": version.variables,
            "model_params": version.model_params,
            "messages": messages,
        }
    )


# -- gathering -------------------------------------------------------------------------------


def _activity(
    services: Services, project: str, range_: str, endpoint: str | None = None
) -> ActivityWindow:
    length, bucket_s = WINDOWS[range_]
    now = datetime.now(UTC)
    return endpoint_activity(services.engine, project, now - length, bucket_s, endpoint=endpoint)


def _can_run(request: Request) -> bool:
    """Whether the caller may POST /v1/chat/completions: a write, so editors and above."""
    principal: Principal | None = getattr(request.state, "principal", None)
    return principal is not None and principal.role.allows(required_role(None, "POST"))


def _loaded(request: Request) -> list[Deployment]:
    gateway = getattr(request.app.state, "openai", None)
    router = getattr(gateway, "router", None)
    return router.deployments.loaded() if isinstance(router, GatewayRouter) else []


def _routes(
    endpoint: Endpoint, registry: RegistryStore, loaded: list[Deployment]
) -> list[RouteView]:
    total = sum(r.weight for r in endpoint.routes) or 1
    views = []
    for route in endpoint.routes:
        resolved = problem = None
        try:
            resolved = registry.get_version(route.model).uri
        except LmopsError as exc:
            problem = exc.message
        serving = [d for d in loaded if (registry.project, route.model) in d.refs]
        views.append(
            RouteView(
                model=route.model,
                weight=route.weight,
                share=100 * route.weight / total,
                resolved=resolved,
                problem=problem,
                loaded=serving[0].version.uri if serving else None,
                inflight=sum(d.inflight for d in serving),
            )
        )
    return views


def _versions(
    routes: list[RouteView], stats: dict[str, Stats], series: dict[str, list[Bucket]]
) -> list[VersionView]:
    """The versions routes lead to (in route order), then any other that answered."""
    uris = [u for r in routes for u in (r.loaded, r.resolved) if u is not None]
    uris += sorted(stats)
    return [
        VersionView(
            uri=uri,
            stats=stats.get(uri, Stats()),
            routes=[r for r in routes if uri in (r.loaded, r.resolved)],
            series=series.get(uri, []),
        )
        for uri in dict.fromkeys(uris)
    ]


def _chart(window: ActivityWindow, versions: list[VersionView]) -> dict[str, Any]:
    """Series for the page's two charts: requests per minute and latency, per version.

    Times are UTC without a zone (plotly.js reads none); latency sits mid-step."""
    per_minute = 60 / window.bucket_s
    half = timedelta(seconds=window.bucket_s / 2)
    lines = [
        {
            "name": v.uri or "no version",
            "x": [_plotly_time(b.start) for b in v.series],
            "mid": [_plotly_time(b.start + half) for b in v.series],
            "rate": [round(b.requests * per_minute, 3) for b in v.series],
            "p50": [b.latency_p50_ms for b in v.series],
            "p95": [b.latency_p95_ms for b in v.series],
        }
        for v in versions
        if v.series
    ]
    return {
        "bucket_ms": window.bucket_s * 1000,
        "range": [_plotly_time(window.since), _plotly_time(window.until)],
        "lines": lines,
    }


def _plotly_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _traces_link(endpoint: str, range_: str, stats: Stats, version: str = "") -> str:
    """The traces page narrowed to this endpoint (and version) in the window.

    The traces page filters by model and time but not yet by endpoint or model version:
    those are carried in the link too, so that it narrows exactly once the page reads them.
    """
    pairs = [("range", range_)]
    if len(stats.models) == 1:
        pairs.append(("model", stats.models[0]))
    pairs.append(("endpoint", endpoint))
    if version:
        pairs.append(("model_version", version))
    return "/traces?" + urlencode(pairs)


def _model_path(uri: str | None) -> str:
    """The registry page of a model version URI, or "" for anything else."""
    try:
        ref = parse_uri(uri or "")
    except InvalidInput:
        return ""
    if not isinstance(ref, VersionRef) or ref.kind != "models":
        return ""
    tail = ref.version if ref.version is not None else ""
    return f"/models/{quote(ref.name, safe='')}/{tail}".rstrip("/")


def _prompt_choices(store: PromptStore) -> list[tuple[str, list[tuple[str, str]]]]:
    """(prompt name, [(version URI, label)]) newest first, for the playground's picker."""
    groups = []
    for registered in store.list_prompts():
        versions = store.list_versions(registered.name)[::-1][:PROMPT_VERSIONS_SHOWN]
        choices = [(v.uri, _version_label(v)) for v in versions]
        if choices:
            groups.append((registered.name, choices))
    return groups


def _version_label(version: Prompt) -> str:
    aliases = f" @{' @'.join(version.aliases)}" if version.aliases else ""
    kind = "chat" if version.is_chat else "text"
    return f"{version.name} v{version.version} ({kind}){aliases}"


def _variables(text: str | None) -> dict[str, str] | None:
    if text is None:
        return None
    try:
        given = json.loads(text)
    except ValueError:
        raise InvalidInput("variables must be a JSON object", field="variables") from None
    if not isinstance(given, dict) or not all(isinstance(v, str) for v in given.values()):
        raise InvalidInput("variables must be a JSON object of strings", field="variables")
    return given


def _messages(version: Prompt, variables: dict[str, str]) -> list[dict[str, str]]:
    """The chat messages a version makes: a text prompt becomes the user's message."""
    rendered = version.format(**variables)
    if isinstance(rendered, str):
        return [{"role": "user", "content": rendered}]
    return rendered


def _render(request: Request, name: str, context: dict[str, Any]) -> Response:
    section = "/endpoints"
    helpers = {"ms": format_ms, "traces_for": _traces_link, "model_path": _model_path}
    return render(request, name, {"section": section, **helpers, **context})
