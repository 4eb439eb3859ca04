"""The four roles a user holds in a project, each allowing what the ones below it do."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """viewer reads; editor also writes; approver also decides transitions; admin also manages
    the project's members and keys."""

    VIEWER = "viewer"
    EDITOR = "editor"
    APPROVER = "approver"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        """Whether holding this role is enough for what `needed` guards."""
        return self.rank >= needed.rank


_RANKS = {role: rank for rank, role in enumerate(Role)}
