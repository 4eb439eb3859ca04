"""The judge scorers wired to a judge model by `run_evaluation`: an OpenAI-compatible
endpoint (a stand-in for a paid provider, started here) and a model loaded in-process."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

import lmops
from lmops.core.errors import InvalidInput
from lmops.core.settings import current
from lmops.evaluation.sdk import run_evaluation

ROWS = [{"question": f"say {w}", "expected": w} for w in ("cat", "dog", "sun")]
asked: list[list[dict[str, Any]]] = []


async def provider(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Grades every answer 4 of 5, and keeps what it was asked."""
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    asked.append(json.loads(body)["messages"])
    reply = json.dumps({"score": 4, "rationale": "close enough"})
    answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": reply}}]}
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": json.dumps(answer).encode()})


@pytest.fixture(scope="module")
def judge_url() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(provider, port=port, log_level="warning"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(10)


def test_a_judge_endpoint_grades_every_row(judge_url: str, tmp_path: Path) -> None:
    lmops.configure(home=tmp_path / "home", uri="")
    asked.clear()
    result = run_evaluation(
        lambda question: question.removeprefix("say "),
        ROWS,
        ["judge", "exact_match"],
        judge=judge_url,
        judge_model="grader",
    )
    e = result.evaluation
    assert e.aggregates["judge"] == pytest.approx(0.75)  # 4 on a 1-5 scale
    assert e.aggregates["exact_match"] == 1.0
    assert [r.scores["judge"].rationale for r in result.rows] == ["[4/5] close enough"] * 3
    assert len(asked) == 3
    shown = [" ".join(m["content"] for m in messages) for messages in asked]
    assert sorted(w for w in ("cat", "dog", "sun") for t in shown if f"say {w}" in t) == [
        "cat",
        "dog",
        "sun",
    ]  # each row's input went to the judge with the rubric


def test_a_model_loaded_here_can_judge(tmp_path: Path) -> None:
    lmops.configure(home=tmp_path / "home", uri="")
    from lmops.tuning.register import register_tiny_model

    tiny = register_tiny_model("tiny")
    result = run_evaluation(
        lambda question: question, ROWS, ["judge"], judge=tiny.uri, name="tiny judges"
    )
    # The tiny model answers noise: each row gets the parse failure as its error, and the
    # evaluation still finishes.
    rows = result.rows
    assert all(r.scores["judge"].value is None and r.scores["judge"].error for r in rows)
    assert result.evaluation.status == "finished"


def test_a_judge_scorer_without_a_judge_is_refused(tmp_path: Path) -> None:
    lmops.configure(home=tmp_path / "home", uri="")
    with pytest.raises(InvalidInput, match="needs a judge model"):
        run_evaluation(lambda question: question, ROWS, ["judge"])
    with pytest.raises(InvalidInput, match="judge_model"):
        run_evaluation(lambda question: question, ROWS, ["judge"], judge="http://x/v1")
    assert current().home == tmp_path / "home"
