"""The auth dependency every router takes. A no-op until governance adds users and keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request


@dataclass(frozen=True)
class Principal:
    """Who is calling. Until users exist, everyone is the anonymous admin."""

    name: str
    roles: frozenset[str]


ANONYMOUS = Principal("anonymous", frozenset({"admin"}))


def authorize(request: Request) -> Principal:
    """Return the caller. Governance will check keys and roles here, for every route at once."""
    request.state.principal = ANONYMOUS
    return ANONYMOUS


CurrentUser = Annotated[Principal, Depends(authorize)]
