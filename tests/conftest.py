"""Shared fixtures: stores on SQLite and a real PostgreSQL, SDK faces, a live server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text

from lmops.artifacts import ArtifactStore
from lmops.core.ids import new_id
from lmops.store import close_engine, open_engine
from lmops.tracking.store import TrackingStore

PG_URL = os.environ.get("LMOPS_TEST_DATABASE_URL", "")
# CI sets this so that a missing PostgreSQL fails the run instead of skipping half the suite.
REQUIRE_PG = os.environ.get("LMOPS_REQUIRE_POSTGRES") == "1"


def _postgres_schema() -> str:
    """A fresh schema on the test server, so each test starts from an empty store."""
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("LMOPS_TEST_DATABASE_URL is not set but LMOPS_REQUIRE_POSTGRES=1")
        pytest.skip("LMOPS_TEST_DATABASE_URL not set: no PostgreSQL server to test against")
    schema = f"t_{new_id()[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return schema


def _drop_schema(schema: str) -> None:
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store URI on each dialect: every store test runs twice."""
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'lmops.db'}"
        yield uri
        close_engine(uri)
        return
    yield request.getfixturevalue("store_uri_pg")


@pytest.fixture
def store_uri_pg() -> Iterator[str]:
    """A store URI on the PostgreSQL test server alone."""
    schema = _postgres_schema()
    sep = "&" if "?" in PG_URL else "?"
    uri = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    yield uri
    close_engine(uri)
    _drop_schema(schema)


@pytest.fixture
def engine(store_uri: str) -> Engine:
    return open_engine(store_uri)


@pytest.fixture
def artifacts(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(str(tmp_path / "artifacts"))


@pytest.fixture
def tracking(engine: Engine, artifacts: ArtifactStore) -> TrackingStore:
    return TrackingStore(engine, artifacts)


def lmops(home: Path, *args: str, timeout: float = 300) -> str:
    """Run the `lmops` CLI in a process of its own against the store in `home`; its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "lmops.cli.main", *args],
        env=lmops_env(home),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def lmops_env(home: Path) -> dict[str, str]:
    return {**os.environ, "LMOPS_HOME": str(home), "LMOPS_URI": ""}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """A real `lmops server` process on a free port."""

    def __init__(self, home: Path, uri: str | None = None, *, auth: bool = False) -> None:
        self.home = home
        self.uri = uri or ""
        self.auth = auth
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        home.mkdir(parents=True, exist_ok=True)
        self.start()

    def start(self) -> None:
        """Start (or restart) the server on the same port and home."""
        env = {**os.environ, "LMOPS_HOME": str(self.home), "LMOPS_URI": self.uri}
        self.log = open(self.home / "server.log", "a")  # noqa: SIM115
        args = ["server", "--port", str(self.port), "--log-level", "warning"]
        args.append("--auth" if self.auth else "--no-auth")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lmops.cli.main", *args],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait()

    def _wait(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {(self.home / 'server.log').read_text()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not answer /health within 30 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("server-home"))
    yield server
    server.stop()


@pytest.fixture(params=["local", "postgresql", "remote"])
def sdk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Point the fluent SDK at an in-process SQLite store, at PostgreSQL, or at a server."""
    import lmops
    from lmops.fluent import tracking

    if request.param == "local":
        lmops.configure(home=tmp_path / "home", uri="")
    elif request.param == "postgresql":
        lmops.configure(home=tmp_path / "home", uri=request.getfixturevalue("store_uri_pg"))
    else:
        server: LiveServer = request.getfixturevalue("live_server")
        lmops.configure(home=tmp_path / "home", uri=server.url)
    yield request.param
    tracking.reset()
    lmops.configure(home=tmp_path / "home", uri="")


@pytest.fixture(autouse=True)
def _forget_configured_settings() -> Iterator[None]:
    """`lmops.configure` in one test must not leak into the next."""
    yield
    from lmops.core.settings import reset

    reset()
