"""Gateway pages: the endpoints with their routes and recent traffic, one endpoint per model
version (a canary's versions side by side), and the playground that calls them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from lmops.core.errors import InvalidInput, LmopsError
from lmops.core.uris import VersionRef, check_name, parse_uri
from lmops.registry.store import RegistryStore
from lmops.server.auth import Principal, authorize, required_role
from lmops.server.deps import (
    PromptDep,
    RegistryDep,
    Services,
    ServicesDep,
    TracingDep,
    endpoint_store,
    project,
)
from lmops.server.ui.payloads import format_ms
from lmops.server.ui.playground import (
    MAX_PANELS,
    PromptText,
    answer_costs,
    describe_version,
    fill_in,
    prompt_choices,
)
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
    prompt: Annotated[list[str] | None, Query(max_length=1000)] = None,
) -> Response:
    """Run chats side by side: on one or more endpoints, from text or from registered prompt
    versions (edited ones too, which the page can save as new versions)."""
    found = store.list()
    names = {e.name for e in found}
    chosen = [n for n in dict.fromkeys(endpoint or []) if n in names][:MAX_PANELS]
    if not chosen and found:
        chosen = [found[0].name]
    context = {
        "endpoints": found,
        "chosen": chosen,
        "prompt_groups": prompt_choices(prompts),
        "chosen_prompts": list(dict.fromkeys(prompt or []))[:MAX_PANELS],
        "max_panels": MAX_PANELS,
        "can_run": _can_run(request),
    }
    return _render(request, "playground.html", context)


@router.get("/playground/prompt", include_in_schema=False)
def playground_prompt(
    prompts: PromptDep, uri: Annotated[str, Query(max_length=1000)]
) -> JSONResponse:
    """A prompt version (any `prompts:/` URI) as the playground edits it (JSON)."""
    try:
        return JSONResponse(describe_version(prompts.get_version(uri)))
    except LmopsError as exc:
        return JSONResponse(exc.to_dict(), status_code=exc.status_code)


@router.post("/playground/render", include_in_schema=False)
def playground_render(prompts: PromptDep, text: PromptText) -> JSONResponse:
    """The variables of a prompt version or of edited text, and its messages filled in with
    `variables` (JSON). A write's role, like the runs it prepares; it stores nothing."""
    try:
        return JSONResponse(fill_in(prompts, text))
    except LmopsError as exc:
        return JSONResponse(exc.to_dict(), status_code=exc.status_code)


@router.get("/playground/cost", include_in_schema=False)
def playground_cost(
    store: EndpointDep,
    tracing: TracingDep,
    endpoint: Annotated[str, Query(max_length=255)],
    input_tokens: Annotated[int, Query(ge=0, le=2**31)],
    output_tokens: Annotated[int, Query(ge=0, le=2**31)],
) -> JSONResponse:
    """What an answer of the endpoint cost, per model it routes to (JSON; cost None where
    the model has no price)."""
    try:
        found = store.get(check_name(endpoint, "endpoint"))
    except LmopsError as exc:
        return JSONResponse(exc.to_dict(), status_code=exc.status_code)
    costs = answer_costs(found, tracing.prices, input_tokens, output_tokens)
    return JSONResponse({"endpoint": found.name, "models": costs})


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


def _render(request: Request, name: str, context: dict[str, Any]) -> Response:
    section = "/endpoints"
    helpers = {"ms": format_ms, "traces_for": _traces_link, "model_path": _model_path}
    return render(request, name, {"section": section, **helpers, **context})
