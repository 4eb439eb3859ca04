"""Projects: every experiment, trace, dataset, model and webhook belongs to exactly one.

A store works in one project at a time; `in_project` gives the same store working in
another, sharing its engine and connections. The server picks the project from the caller's
key or session; the SDK from `LMOPS_PROJECT`.
"""

from __future__ import annotations

import copy
from typing import Self

DEFAULT_PROJECT = "default"
"""The project everything belongs to until a team makes more (and all data made before)."""


class InProject:
    """Mixin for stores whose rows belong to a project (`self.project`)."""

    project: str = DEFAULT_PROJECT

    def in_project(self, project: str) -> Self:
        """This store, reading and writing in `project` instead."""
        if project == self.project:
            return self
        scoped = copy.copy(self)
        scoped.project = project
        return scoped
