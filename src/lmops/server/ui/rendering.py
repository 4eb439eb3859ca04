"""Templates, formatting filters and the route class that turns errors into HTML pages."""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Coroutine
from datetime import datetime
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.templating import Jinja2Templates

from lmops._version import __version__
from lmops.core.errors import LmopsError, Unauthorized
from lmops.server.errors import describe_validation_errors
from lmops.server.ui.nav import STAGES

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"


@cache
def templates() -> Jinja2Templates:
    """The one template environment: autoescaped, strict about undefined names."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=format_time,
        duration=format_duration,
        num=format_number,
        thousands="{:,}".format,
        abbrev=format_count,
        urlpath=url_path,
    )
    env.globals.update(stages=STAGES, version=__version__, asset=asset_url, plotly_url=plotly_url())
    return Jinja2Templates(env=env)


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    """Render template `name`; `section` in the context highlights a navigation entry."""
    context.setdefault("section", "")
    context.setdefault("principal", getattr(request.state, "principal", None))
    context.setdefault("auth_on", request.app.state.services.auth)
    return templates().TemplateResponse(request, name, context, status_code=status_code)


def error_page(request: Request, status_code: int, message: str) -> Response:
    titles = {
        400: "Bad request",
        401: "Not logged in",
        403: "Forbidden",
        404: "Not found",
        409: "Conflict",
        413: "Too large",
        415: "Unsupported media type",
    }
    title = titles.get(status_code, "Error")
    return render(
        request,
        "error.html",
        {"title": title, "message": message, "status": status_code},
        status_code,
    )


class HtmlRoute(APIRoute):
    """A UI route: our errors and bad query strings answer an HTML page, not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except Unauthorized as exc:
                if request.method in ("GET", "HEAD"):
                    target = quote(request.url.path + _query(request), safe="/")
                    return RedirectResponse(f"/login?next={target}", status_code=303)
                return error_page(request, 401, exc.message)
            except LmopsError as exc:
                return error_page(request, exc.status_code, exc.message)
            except RequestValidationError as exc:
                problems = "; ".join(
                    f"{field}: {message}" if field else message
                    for field, message in describe_validation_errors(exc.errors())
                )
                return error_page(request, 400, problems or "invalid request")

        return route


def _query(request: Request) -> str:
    return f"?{request.url.query}" if request.url.query else ""


# -- assets ------------------------------------------------------------------------------


@cache
def asset_url(name: str) -> str:
    """URL of a static file with a content hash, so that it may be cached for long."""
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]
    return f"/static/{name}?v={digest}"


def plotly_url() -> str:
    return f"/static/plotly.min.js?v={version('plotly')}"


# -- filters -----------------------------------------------------------------------------


def format_time(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} d {hours % 24} h"


def format_number(value: object) -> str:
    """Show a metric compactly: six significant digits, NaN and infinities spelled out."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.6g}"
    return str(value)


def format_count(value: int | None) -> str:
    """A count people read at a glance: 64, 1.5K, 135M, 1.2B."""
    if value is None:
        return ""
    shown, unit = float(value), ""
    for next_unit in ("K", "M", "B", "T"):
        if abs(shown) < 999.5:
            break
        shown, unit = shown / 1000, next_unit
    if not unit:
        return str(value)
    if abs(shown) < 9.95:
        return f"{shown:.1f}".removesuffix(".0") + unit
    return f"{shown:.0f}{unit}"


def url_path(value: str) -> str:
    """Quote a path for a URL, keeping its slashes."""
    return quote(value, safe="/")
