"""Checks on what users send to tracking, shared by the store and the REST edge."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lmops.core.errors import InvalidInput, NotFound
from lmops.core.text import check_text
from lmops.tracking.entities import MAX_PARAM_VALUE, MAX_TAG_VALUE, RunStatus, check_key

_ID = re.compile(r"^[0-9a-f]{32}$")
_ADJECTIVES = ("amber", "brisk", "calm", "deft", "eager", "fleet", "glad", "keen", "lucid", "noble")
_NOUNS = ("otter", "heron", "lynx", "finch", "badger", "cedar", "comet", "delta", "ember", "fjord")


def known_id(value: str, kind: str) -> str:
    """An id we could have made (32 hex characters); anything else cannot exist."""
    if not isinstance(value, str) or not _ID.match(value):
        raise NotFound(f"no {kind} with id {value!r}")
    return value


def check_name(name: str | None, field: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise InvalidInput(f"{field} must be 1-255 characters", field=field)
    return check_text(name.strip(), field)


def check_status(status: RunStatus | str) -> RunStatus:
    try:
        return RunStatus(status)
    except ValueError as exc:
        raise InvalidInput(
            f"invalid status {status!r}; use one of {', '.join(s.value for s in RunStatus)}",
            field="status",
        ) from exc


def check_time(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise InvalidInput(f"{field} needs a timezone (e.g. 2026-01-31T12:00:00Z)", field=field)
    return value


def stringify_params(items: Mapping[str, Any] | None) -> dict[str, str]:
    """Params as stored: text; lists and dicts as JSON."""
    out: dict[str, str] = {}
    for key, value in (items or {}).items():
        check_key(key, "params.key")
        if isinstance(value, str):
            text = value
        elif isinstance(value, dict | list):
            text = json.dumps(value)
        else:
            text = str(value)
        out[key] = check_text(text, f"params.{key}", max_length=MAX_PARAM_VALUE)
    return out


def check_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (tags or {}).items():
        check_key(key, "tags.key")
        out[key] = check_text(value, f"tags.{key}", max_length=MAX_TAG_VALUE)
    return out


def check_artifact_path(path: str) -> str:
    clean = check_text(path, "artifact_path", max_length=1024).strip("/")
    if not clean or any(part in ("", ".", "..") for part in clean.split("/")):
        raise InvalidInput(
            f"artifact path {path!r} must be relative, without '..'", field="artifact_path"
        )
    return clean


def run_name() -> str:
    """A name for a run nobody named: adjective-noun-number."""
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(100, 999)}"
