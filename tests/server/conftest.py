"""The app the API tests share: a real app over SQLite or PostgreSQL, and a client for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lmops.core.settings import Settings
from lmops.server import create_app


@pytest.fixture
def app(store_uri: str, tmp_path: Path) -> FastAPI:
    return create_app(Settings(auth="off", home=tmp_path, uri=store_uri))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """Errors come back as responses, so tests can assert a route never answers 500."""
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
