"""Static files: our CSS and JavaScript, and plotly.js from the installed plotly package."""

from __future__ import annotations

import gzip
from functools import cache
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from lmops.core.errors import NotFound
from lmops.server.ui.rendering import STATIC_DIR, HtmlRoute

# Public, like the login page that needs them: nothing here is data, all of it is shipped code.
router = APIRouter(prefix="/static", route_class=HtmlRoute, tags=["ui"])

# Asset URLs carry a content hash or version (see asset_url), so a year of caching is safe.
LONG_CACHE = {"cache-control": "public, max-age=31536000, immutable"}
_MEDIA = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}


@cache
def plotly_js() -> Path:
    """plotly.min.js as the installed plotly package ships it (never a CDN)."""
    found = resources.files("plotly") / "package_data" / "plotly.min.js"
    path = Path(str(found))
    if not path.is_file():
        raise NotFound("plotly.min.js is missing from the installed plotly package")
    return path


@cache
def plotly_js_gzip() -> bytes:
    """plotly.min.js compressed once per process: 4.8 MB on the wire becomes about 1.4 MB."""
    return gzip.compress(plotly_js().read_bytes(), compresslevel=6)


@router.get("/plotly.min.js", include_in_schema=False)
def get_plotly(request: Request) -> Response:
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers = {**LONG_CACHE, "content-encoding": "gzip", "vary": "accept-encoding"}
        return Response(plotly_js_gzip(), media_type="text/javascript", headers=headers)
    return FileResponse(
        plotly_js(), media_type="text/javascript", headers={**LONG_CACHE, "vary": "accept-encoding"}
    )


@router.get("/{name}", include_in_schema=False)
def get_asset(name: str) -> FileResponse:
    path = STATIC_DIR / name
    # Only files directly in static/: `name` never climbs out, it has no slash.
    if (
        len(name) > 100  # longer than any file of ours, and than some file systems allow
        or "/" in name
        or name.startswith(".")
        or path.suffix not in _MEDIA
        or not path.is_file()
    ):
        raise NotFound(f"no static file {name!r}")
    return FileResponse(path, media_type=_MEDIA[path.suffix], headers=LONG_CACHE)
