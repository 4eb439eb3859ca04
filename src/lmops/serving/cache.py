"""An exact-match response cache: an endpoint that opts in answers a repeated identical
request (same endpoint, body and parameters; the user aside) from memory."""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
from collections import OrderedDict
from typing import Any

from pydantic import BaseModel

_IGNORED = {"user", "stream", "stream_options"}


class ResponseCache:
    def __init__(self, max_entries: int = 4096, ttl_s: float = 3600.0) -> None:
        self._entries: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self._max = max_entries
        self._ttl = ttl_s
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(project: str, request: BaseModel) -> str:
        body = request.model_dump(mode="json", exclude=_IGNORED)
        raw = json.dumps([project, type(request).__name__, body], sort_keys=True)
        return hashlib.sha256(raw.encode()).hexdigest()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None or time.monotonic() - found[0] > self._ttl:
                self._entries.pop(key, None)
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return copy.deepcopy(found[1])

    def put(self, key: str, answer: dict[str, Any]) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic(), copy.deepcopy(answer))
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
