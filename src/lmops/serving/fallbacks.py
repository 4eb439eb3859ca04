"""Fallbacks: which failures another model may answer instead, what the caller is told when
none did, and streams held back until their first chunk so that they still can.

A failure is the model's, not the request's, when its status is 5xx: the model could not be
loaded, its backend was overloaded (503), or an upstream gave up after its retries (502 or
503, which includes a provider that refused our key or did not know the model name). The
caller's own 4xx (a bad request, a prompt over the context length, a rate limit) would fail
on any model, and is answered as it is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from lmops.serving.protocol import OpenAIError

Chunk = dict[str, Any]


@dataclass(frozen=True)
class Failure:
    """A model a request went to, and why it did not answer there."""

    model: str
    error: OpenAIError

    def __str__(self) -> str:
        return f"{self.model}: {self.error.status} {self.error.message}"


def fails_over(error: OpenAIError) -> bool:
    """Whether another model may answer a request that failed with `error`."""
    return error.status >= 500


class NoneAnswered(OpenAIError):
    """Every model a request was tried on failed; `tried` says how, in order. A 503 when
    each was only unavailable (with the shortest Retry-After any gave), else a 502."""

    def __init__(self, tried: Sequence[Failure]) -> None:
        unavailable = all(f.error.status == 503 for f in tried)
        waits = [f.error.retry_after for f in tried if f.error.retry_after is not None]
        super().__init__(
            503 if unavailable else 502,
            "No model answered; tried in order: " + "; ".join(str(f) for f in tried),
            type="server_error",
            code="fallbacks_failed",
            retry_after=min(waits) if unavailable and waits else None,
        )
        self.tried = tuple(tried)


def none_answered(tried: Sequence[Failure]) -> OpenAIError:
    """What the caller gets when each model of `tried` failed: a lone failure as it was."""
    return tried[0].error if len(tried) == 1 else NoneAnswered(tried)


class Primed:
    """A stream whose first chunk was read before it was handed on; closing it closes the
    stream it came from."""

    def __init__(self, first: Chunk, rest: AsyncIterator[Chunk]) -> None:
        self._first: Chunk | None = first
        self._rest = rest

    def __aiter__(self) -> Primed:
        return self

    async def __anext__(self) -> Chunk:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return await anext(self._rest)

    async def aclose(self) -> None:
        self._first = None
        await _close(self._rest)


async def prime(stream: AsyncIterator[Chunk]) -> AsyncIterator[Chunk]:
    """`stream` once its first chunk came: until then nothing reached the client, and a
    failure may still be answered by another model (or with an error status)."""
    try:
        first = await anext(stream)
    except StopAsyncIteration:
        return stream
    except BaseException:
        await _close(stream)
        raise
    return Primed(first, stream)


async def _close(stream: AsyncIterator[Chunk]) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:  # the backend's own stream (an upstream response) ends too
        await close()
