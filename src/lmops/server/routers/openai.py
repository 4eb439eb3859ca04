"""The OpenAI API (`/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`, `/v1/models`):
bodies are parsed here and answered by the app's `OpenAIService`; every error is OpenAI's
JSON shape."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from lmops.serving.protocol import (
    ChatRequest,
    CompletionRequest,
    EmbeddingRequest,
    OpenAIError,
    model_not_found,
    parse,
)
from lmops.serving.routing import Caller
from lmops.serving.service import OpenAIService

PROMPT_HEADER = "x-lmops-prompt-version"
MAX_BODY = 16 * 1024 * 1024

router = APIRouter(tags=["openai"])


def _service(request: Request) -> OpenAIService:
    service: OpenAIService = request.app.state.openai
    return service


async def _body(request: Request) -> bytes:
    size = request.headers.get("content-length")
    if size is not None and size.isdigit() and int(size) > MAX_BODY:
        raise OpenAIError(413, f"The request body is larger than {MAX_BODY} bytes")
    return await request.body()


def _caller(request: Request) -> Caller:
    """Who calls: on the platform server the authenticated principal (its project, key and
    name); on `lmops serve`, nobody in particular."""
    prompt = request.headers.get(PROMPT_HEADER) or None
    principal = getattr(request.state, "principal", None)
    if principal is None:
        return Caller(prompt_version=prompt)
    return Caller(
        project=principal.project,
        key_id=principal.key_id,
        user=None if principal.name == "anonymous" else principal.name,
        prompt_version=prompt,
    )


def _answer(answer: dict[str, Any] | AsyncIterator[bytes]) -> Any:
    if isinstance(answer, dict):
        return JSONResponse(answer)
    return StreamingResponse(
        answer, media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


@router.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Any:
    body = parse(await _body(request), ChatRequest)
    return _answer(await _service(request).generate(body, _caller(request)))


@router.post("/v1/completions")
async def completions(request: Request) -> Any:
    body = parse(await _body(request), CompletionRequest)
    return _answer(await _service(request).generate(body, _caller(request)))


@router.post("/v1/embeddings")
async def embeddings(request: Request) -> Any:
    body = parse(await _body(request), EmbeddingRequest)
    return JSONResponse(await _service(request).embed(body, _caller(request)))


@router.get("/v1/models")
def list_models(request: Request) -> dict[str, Any]:
    served = _service(request).models(_caller(request))
    return {"object": "list", "data": [m.card() for m in served]}


@router.get("/v1/models/{model:path}")
def get_model(request: Request, model: str) -> dict[str, Any]:
    for served in _service(request).models(_caller(request)):
        if served.id == model:
            return served.card()
    raise model_not_found(model)


def install_openai_errors(app: FastAPI) -> None:
    @app.exception_handler(OpenAIError)
    async def _openai_error(request: Request, exc: OpenAIError) -> JSONResponse:
        headers = {}
        if exc.retry_after is not None:
            headers["Retry-After"] = str(math.ceil(exc.retry_after))
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)
