"""Error handlers: every failure becomes a JSON body that says what to fix, never a bare 500."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lmops.core.errors import LmopsError
from lmops.serving.protocol import OpenAIError

log = logging.getLogger(__name__)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LmopsError, _lmops_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)


async def _lmops_error(request: Request, exc: LmopsError) -> JSONResponse:
    if _openai_route(request):
        body = OpenAIError(exc.status_code, exc.message, type=exc.code).body()
        return JSONResponse(body, status_code=exc.status_code)
    return JSONResponse(exc.to_dict(), status_code=exc.status_code)


def _openai_route(request: Request) -> bool:
    """The OpenAI API answers errors in OpenAI's shape (its clients read no other)."""
    path = request.url.path
    return path.startswith("/v1/") and not path.startswith("/v1/traces")


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = describe_validation_errors(exc.errors())
    first_field = problems[0][0] if problems else None
    shown = "; ".join(f"{f}: {m}" if f else m for f, m in problems[:3]) or "invalid request"
    more = f" (and {len(problems) - 3} more problems)" if len(problems) > 3 else ""
    message = shown + more
    return JSONResponse(
        {"error": "invalid_input", "message": message, "field": first_field}, status_code=400
    )


def describe_validation_errors(errors: Sequence[Any]) -> list[tuple[str | None, str]]:
    """(field, message) per pydantic error, the field dotted without its body/query prefix."""
    return [_describe(e) for e in errors]


def _describe(error: Any) -> tuple[str | None, str]:
    loc = [str(p) for p in error.get("loc", ())]
    if loc and loc[0] in ("body", "query", "path", "header"):
        loc = loc[1:]
    msg = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if error.get("type") == "json_invalid":
        return None, f"request body is not valid JSON: {error.get('ctx', {}).get('error', msg)}"
    return (".".join(loc) or None), msg


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route {request.method} {request.url.path}"
    return JSONResponse(
        {"error": code, "message": message},
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(
        {
            "error": "internal_error",
            "message": f"internal error ({type(exc).__name__}); see server log",
        },
        status_code=500,
    )
