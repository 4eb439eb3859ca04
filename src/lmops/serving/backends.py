"""What a model server routes to: anything that answers OpenAI requests for some model ids.

A backend answers a request with the response body, or, when the request streams, with an
async iterator of chunk bodies. A streamed answer always ends with a usage chunk (no
choices) so the caller can count tokens; the route drops it unless the client asked for it
with `stream_options.include_usage`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from lmops.serving.protocol import ChatRequest, CompletionRequest, EmbeddingRequest

Answer = dict[str, Any] | AsyncIterator[dict[str, Any]]


@dataclass(frozen=True)
class ServedModel:
    """One model id a backend answers to, as `/v1/models` lists it."""

    id: str
    owned_by: str = "lmops"
    version: str | None = None  # the registry URI of the version that answers
    created: int = 0

    def card(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "model",
            "created": self.created,
            "owned_by": self.owned_by,
        }


class Backend(Protocol):
    def models(self) -> list[ServedModel]: ...

    async def chat(self, request: ChatRequest) -> Answer: ...

    async def complete(self, request: CompletionRequest) -> Answer: ...

    async def embed(self, request: EmbeddingRequest) -> dict[str, Any]: ...

    def close(self) -> None: ...
