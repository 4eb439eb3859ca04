"""Fixtures for prompts: a store on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from lmops.prompts.store import PromptStore


@pytest.fixture
def prompts(engine: Engine) -> PromptStore:
    return PromptStore(engine)
