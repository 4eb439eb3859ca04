"""Parse the URIs users already know from MLflow: runs:/, models:/, prompts:/, datasets:/."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lmops.core.errors import InvalidInput

_NAME = r"[A-Za-z0-9][A-Za-z0-9_.\-]*"
_VERSIONED = re.compile(
    rf"^(?P<scheme>models|prompts|datasets):/(?P<name>{_NAME})"
    rf"(?:/(?P<version>\d+)|@(?P<alias>{_NAME}))$"
)
_NAME_ONLY = re.compile(rf"^{_NAME}$")
_RUN = re.compile(r"^runs:/(?P<run_id>[0-9a-f]{32})(?:/(?P<path>.*))?$")


@dataclass(frozen=True)
class VersionRef:
    """`models:/name/3` (a version) or `models:/name@alias` (an alias)."""

    kind: str
    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        tail = f"/{self.version}" if self.version is not None else f"@{self.alias}"
        return f"{self.kind}:/{self.name}{tail}"


@dataclass(frozen=True)
class RunRef:
    """`runs:/<run_id>/path/in/artifacts`."""

    run_id: str
    path: str = ""

    def __str__(self) -> str:
        return f"runs:/{self.run_id}/{self.path}" if self.path else f"runs:/{self.run_id}"


def parse_uri(uri: str) -> VersionRef | RunRef:
    """Parse a lifecycle URI, or raise InvalidInput saying the accepted forms."""
    if m := _RUN.match(uri):
        return RunRef(m["run_id"], (m["path"] or "").strip("/"))
    if m := _VERSIONED.match(uri):
        version = int(m["version"]) if m["version"] is not None else None
        return VersionRef(m["scheme"], m["name"], version, m["alias"])
    raise InvalidInput(
        f"cannot parse URI {uri!r}: expected runs:/<run_id>[/path], "
        "models:/<name>/<version>, models:/<name>@<alias> (or prompts:/, datasets:/)",
        field="uri",
    )


def check_name(name: object, what: str, field: str = "name") -> str:
    """A name that fits in a URI (`models:/name/3`, `datasets:/name@latest`), or InvalidInput."""
    if not isinstance(name, str) or not _NAME_ONLY.match(name) or len(name) > 255:
        raise InvalidInput(
            f"invalid {what} name {name!r}: use 1-255 letters, digits, _ - and ., "
            "starting with a letter or digit",
            field=field,
        )
    return name
