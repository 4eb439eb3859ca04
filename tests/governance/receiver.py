"""A real webhook receiver for tests: an HTTP server on a free port, in a thread, that
records every request and answers with the statuses it is told (optionally holding on)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """Answers POSTs with `statuses` in turn (the last one repeats).

    With `hold_s`, each request waits that long (or until `close`) before its answer: a
    receiver that hangs. `arrived` is set by the first request, `holding` counts the requests
    still waiting.
    """

    def __init__(self, statuses: tuple[int, ...] = (200,), hold_s: float = 0.0) -> None:
        self.statuses = list(statuses)
        self.hold_s = hold_s
        self.requests: list[Received] = []
        self.arrived = threading.Event()
        self.holding = 0
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                status = receiver._take(
                    Received({k.lower(): v for k, v in self.headers.items()}, body)
                )
                if receiver.hold_s:
                    receiver._hold()
                try:
                    self.send_response(status)
                    self.send_header("content-length", "2")
                    self.end_headers()
                    self.wfile.write(b"no" if status >= 300 else b"ok")
                except OSError:
                    pass  # the sender gave up waiting (a timeout): the point of holding

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def _take(self, request: Received) -> int:
        with self._lock:
            self.requests.append(request)
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            self.holding += 1 if self.hold_s else 0
        self.arrived.set()
        return status

    def _hold(self) -> None:
        self._release.wait(self.hold_s)
        with self._lock:
            self.holding -= 1

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
