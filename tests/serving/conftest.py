"""The tiny model the serving tests run (built once per session), `lmops serve` as a real
process on a free port, and apps of our own (fake providers) served from a thread."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from tests.conftest import free_port, lmops_env


@pytest.fixture(scope="session")
def tiny_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random Llama and its byte-level BPE tokenizer (ChatML, 256 positions)."""
    from lmops.tuning.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model").path


@pytest.fixture(scope="session")
def tiny(tiny_path: Path) -> tuple[Any, Any]:
    """The tiny model (eval mode, on the CPU) and its tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(tiny_path)).eval()
    return model, AutoTokenizer.from_pretrained(str(tiny_path))


@pytest.fixture(scope="session")
def tokenizer(tiny: tuple[Any, Any]) -> Any:
    return tiny[1]


class ModelServer:
    """`lmops serve URI` on a free port, logging to `home/serve-<port>.log`."""

    def __init__(self, home: Path, uri: str, *args: str) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / f"serve-{self.port}.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115
        command = ["serve", uri, "--port", str(self.port), "--log-level", "warning", *args]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lmops.cli.main", *command],
            env=lmops_env(home),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait()
        except BaseException:
            self.stop()
            raise

    def _wait(self, seconds: float = 180) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"lmops serve exited:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"lmops serve did not answer /health in {seconds} s:\n{self.output()}")

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


@pytest.fixture(scope="module")
def serve() -> Iterator[Any]:
    """Start servers with `serve(home, uri, *flags)`; every one is stopped after the module."""
    started: list[ModelServer] = []

    def start(home: Path, uri: str, *args: str) -> ModelServer:
        server = ModelServer(home, uri, *args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
    # An unhandled error (a 500, a failed batch) leaves a traceback in the server's log.
    failures = [s.log_path.name for s in started if "Traceback" in s.output()]
    assert not failures, f"tracebacks in {failures}:\n" + "\n".join(s.output() for s in started)


@contextmanager
def serving(app: FastAPI, *, lifespan: Literal["on", "off"] = "off") -> Iterator[str]:
    """`app` on a free port in a thread; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, port=port, log_level="critical", lifespan=lifespan, ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
