"""One transport for every remote call: JSON in, JSON out, server errors re-raised as ours."""

from __future__ import annotations

import time
from collections.abc import Iterator
from json import dumps
from typing import IO, Any

import httpx

from lmops.core.errors import RemoteError, Unavailable, error_from_response
from lmops.core.projects import DEFAULT_PROJECT
from lmops.core.settings import Settings

API = "/api/v1"
_RETRIES = 3
_JSON_HEADERS = {"content-type": "application/json"}


class Transport:
    """Talks to an lmops server. Tests pass their own `httpx` transport instead of patching."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(
            base_url=self.base_url, timeout=timeout, transport=transport, headers=headers
        )

    @classmethod
    def for_settings(cls, settings: Settings) -> Transport:
        """A transport to `settings.uri`, with its API key when it has one, in its project.

        The default project is not named: a key works in its own project, so a client with
        a key for "team-a" and no LMOPS_PROJECT works there. Naming another project than
        the key's is refused by the server rather than silently ignored.
        """
        headers = (
            {} if settings.project == DEFAULT_PROJECT else {"x-lmops-project": settings.project}
        )
        if settings.api_key:
            headers["authorization"] = f"Bearer {settings.api_key}"
        return cls(settings.uri, timeout=settings.http_timeout, headers=headers)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        content: Any = None,
    ) -> Any:
        """Send one API call; retry only when the request never reached the server."""
        headers = None
        if json is not None:
            # NaN and infinities are legal metric values; the stdlib encoder writes them.
            content, headers = dumps(json, separators=(",", ":")), _JSON_HEADERS
        for attempt in range(_RETRIES):
            try:
                response = self.http.request(
                    method, API + path, params=params, content=content, headers=headers
                )
                break
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Nothing reached the server, so a retry cannot apply a write twice.
                if attempt == _RETRIES - 1 or not isinstance(content, str | None):
                    raise Unavailable(
                        f"cannot reach lmops server at {self.base_url}: {exc}"
                    ) from exc
                time.sleep(0.2 * 2**attempt)
            except httpx.TransportError as exc:
                # The request may have been applied: retrying could write it twice.
                raise RemoteError(f"lmops server at {self.base_url} failed: {exc!r}") from exc
        return self._decode(response)

    def upload(self, path: str, stream: IO[bytes]) -> Any:
        """Stream a file body (never read whole into memory)."""

        def chunks() -> Iterator[bytes]:
            while chunk := stream.read(1 << 20):
                yield chunk

        return self.request("POST", path, content=chunks())

    def download(self, path: str, out: IO[bytes]) -> None:
        with self.http.stream("GET", API + path) as response:
            if response.status_code >= 400:
                response.read()
                self._decode(response)
            for chunk in response.iter_bytes(1 << 20):
                out.write(chunk)

    @staticmethod
    def _decode(response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"message": response.text[:500]}
            raise error_from_response(
                response.status_code, body if isinstance(body, dict) else {"message": str(body)}
            )
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def close(self) -> None:
        self.http.close()
