from __future__ import annotations

from pathlib import Path

import pytest

from lmops.core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    RemoteError,
    Unavailable,
    error_from_response,
)
from lmops.core.settings import Settings


def test_defaults_live_in_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMOPS_HOME", str(tmp_path))
    monkeypatch.delenv("LMOPS_URI", raising=False)
    s = Settings()
    assert s.uri == f"sqlite:///{tmp_path / 'lmops.db'}"
    assert s.artifacts_uri == str(tmp_path / "artifacts")
    assert not s.is_remote


def test_uri_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LMOPS_URI", "http://127.0.0.1:5000")
    assert Settings().is_remote


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (404, {"error": "not_found", "message": "no run"}, NotFound),
        (409, {"error": "conflict", "message": "write-once"}, Conflict),
        (400, {"error": "invalid_input", "message": "bad", "field": "metrics.0.key"}, InvalidInput),
        (400, {"error": "invalid_filter", "message": "bad (at position 3)"}, InvalidInput),
        (502, {"detail": "bad gateway"}, Unavailable),
        (503, {"error": "unavailable", "message": "database is locked"}, Unavailable),
        (500, {"error": "internal_error", "message": "boom"}, RemoteError),
    ],
)
def test_server_errors_become_our_classes(
    status: int, body: dict[str, str], cls: type[Exception]
) -> None:
    err = error_from_response(status, body)
    assert type(err) is cls
    if isinstance(err, InvalidInput) and "field" in body:
        assert err.field == body["field"]
