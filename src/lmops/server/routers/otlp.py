"""OTLP/HTTP trace ingestion: `POST /v1/traces` from any OpenTelemetry SDK or collector.

Answers as the OTLP spec says: 200 with an ExportTraceServiceResponse in the request's
encoding, only after the spans are committed, with `partial_success` counting the spans
refused alone; otherwise a google.rpc.Status body saying what was wrong: 400 for a
malformed payload, 413 past the size limit, 415 for a content type or encoding OTLP does
not define, 503 (which exporters retry) when the store cannot take spans.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from lmops.core.errors import InvalidInput, LmopsError, PayloadTooLarge, UnsupportedMediaType
from lmops.server.auth import authorize
from lmops.server.deps import TracingDep
from lmops.tracing import ingest, otlp

router = APIRouter(tags=["otlp"], dependencies=[Depends(authorize)])

# google.rpc.Code values; OTLP clients go by the HTTP status, the code is for people.
_RPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 413: 8, 415: 3, 503: 14}


def install(app: FastAPI) -> None:
    """Mount `POST /v1/traces` on the app."""
    app.include_router(router)


@router.post(
    "/v1/traces",
    response_class=Response,
    responses={
        200: {"description": "ExportTraceServiceResponse, in the request's encoding"},
        400: {"description": "malformed payload: google.rpc.Status"},
        413: {"description": "body over the size limit: google.rpc.Status"},
        415: {"description": "unsupported Content-Type or Content-Encoding"},
        503: {"description": "the store cannot take spans now; retry"},
    },
)
async def export_traces(request: Request, store: TracingDep) -> Response:
    """Store the spans of an OTLP ExportTraceServiceRequest (protobuf or JSON, gzip or not)."""
    try:
        encoding = otlp.encoding_of(request.headers.get("content-type"))
    except UnsupportedMediaType as exc:
        # No encoding to answer in: our usual JSON error, with the Status fields.
        return JSONResponse({"code": 3, **exc.to_dict()}, status_code=exc.status_code)
    try:
        body = await _read_body(request, otlp.MAX_BODY)
        coding = request.headers.get("content-encoding")
        answer = await run_in_threadpool(ingest.export_traces, store, body, encoding, coding)
    except LmopsError as exc:
        code = _RPC_CODES.get(exc.status_code, 2)
        status = otlp.encode_status(code, exc.message, encoding, exc.code)
        return Response(status, status_code=exc.status_code, media_type=encoding.value)
    return Response(answer, status_code=200, media_type=encoding.value)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is over the {limit} byte limit")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"request body is over the {limit} byte limit")
            chunks.append(chunk)
    except ClientDisconnect:
        raise InvalidInput("the client disconnected before sending the whole body") from None
    return b"".join(chunks)
