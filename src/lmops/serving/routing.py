"""Who asks and where a request goes: the `Caller`, the `Target` a router picks (with its
fallback), the `Router` and `Guard` protocols the OpenAI service works through, and the
`StaticRouter` of `lmops serve` (a fixed set of backends, each answering to its own ids)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from lmops.serving.backends import Backend, ServedModel
from lmops.serving.fallbacks import Failure
from lmops.serving.protocol import (
    ChatRequest,
    CompletionRequest,
    EmbeddingRequest,
    model_not_found,
)

AnyRequest = ChatRequest | CompletionRequest | EmbeddingRequest


@dataclass(frozen=True)
class Caller:
    """Who asked: the key that limits apply to, its project, and what tracing records."""

    project: str = "default"
    key_id: str | None = None
    user: str | None = None
    prompt_version: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)  # set on the request's trace


@dataclass
class Target:
    """Where a request goes: a backend, the model id it answers to there (`served`), and the
    name the client used (an endpoint's name, or `served.id` itself).

    `fallback` reaches the next model to try when this one failed before answering (given
    how): a target already acquired, or it raises what the caller gets when no model was
    left that could answer. `tried` is what failed before this target was reached.
    """

    backend: Backend
    served: ServedModel
    name: str
    endpoint: str | None = None
    cache: bool = False
    release: Callable[[], None] = field(default=lambda: None)
    tried: tuple[Failure, ...] = ()
    fallback: Callable[[Failure], Awaitable[Target]] | None = None

    @property
    def model(self) -> str:
        """The version answering here (its model id when it has none), as failures name it."""
        return self.served.version or self.served.id


class Router(Protocol):
    async def route(self, request: AnyRequest, caller: Caller) -> Target: ...

    def models(self, caller: Caller) -> list[ServedModel]: ...

    def forget(self, project: str, name: str) -> None:
        """Drop what is cached about model `name` (its endpoint was just changed)."""

    def close(self) -> None: ...


class Guard(Protocol):
    """Checks a request before it runs and an answer before it leaves; raises OpenAIError
    to refuse. The gateway's hook for guardrails."""

    def check_input(self, request: AnyRequest, caller: Caller) -> None: ...

    def check_output(self, text: str, caller: Caller) -> None: ...


class NoGuard:
    def check_input(self, request: AnyRequest, caller: Caller) -> None:
        return None

    def check_output(self, text: str, caller: Caller) -> None:
        return None


class StaticRouter:
    """A fixed set of backends, each answering to its own model ids (`lmops serve`)."""

    def __init__(self, backends: list[Backend]) -> None:
        self._backends = backends

    async def route(self, request: AnyRequest, caller: Caller) -> Target:
        for backend in self._backends:
            for served in backend.models():
                if served.id == request.model:
                    return Target(backend, served, request.model)
        raise model_not_found(request.model)

    def models(self, caller: Caller) -> list[ServedModel]:
        return [m for b in self._backends for m in b.models()]

    def forget(self, project: str, name: str) -> None:
        return None

    def close(self) -> None:
        for backend in self._backends:
            backend.close()
