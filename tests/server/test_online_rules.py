"""Online scoring in a real `lmops server`: a rule made over REST scores the traces of the
gateway endpoint it names, on its own, with a judge that is another gateway endpoint (the
judge's own calls are traced but never scored), and the pages show what it did; bad rules
are 4xx naming the field."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.conftest import LiveServer, free_port, lmops

pytestmark = pytest.mark.e2e

GRADE = {"score": 4, "rationale": "correct and short"}


def provider() -> FastAPI:
    """An OpenAI-compatible stand-in: `assistant-model` echoes, `grader` grades 4 of 5."""
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> JSONResponse:
        body = await request.json()
        asked = body["messages"][-1]["content"]
        text = json.dumps(GRADE) if body["model"] == "grader" else f"echo: {asked}"
        message = {"role": "assistant", "content": text}
        return JSONResponse(
            {
                "id": "x",
                "object": "chat.completion",
                "created": 1,
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13},
            }
        )

    return app


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(provider(), port=port, log_level="critical", lifespan="off", ws="none")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, upstream: str) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("online-home")
    for name, model in (("assistant-model", "assistant-model"), ("grader", "grader")):
        lmops(home, "models", "endpoint", name, "--url", upstream, "--model", model)
    os.environ["LMOPS_ONLINE_SCORING_INTERVAL_S"] = "0.3"
    try:
        live = LiveServer(home)
    finally:
        del os.environ["LMOPS_ONLINE_SCORING_INTERVAL_S"]
    for endpoint, model in (("assistant", "assistant-model"), ("judge", "grader")):
        answer = httpx.post(
            f"{live.url}/api/v1/endpoints/{endpoint}",
            json={"routes": [{"model": f"models:/{model}/1"}]},
        )
        assert answer.status_code == 201, answer.text
    yield live
    live.stop()


def traces(server: LiveServer, **filters: Any) -> list[dict[str, Any]]:
    answer = httpx.post(f"{server.url}/api/v1/traces/search", json={"limit": 200, **filters})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["traces"])


def feedback(server: LiveServer, trace_id: str) -> dict[str, dict[str, Any]]:
    answer = httpx.get(f"{server.url}/api/v1/traces/{trace_id}")
    assert answer.status_code == 200, answer.text
    return {f["name"]: f for f in answer.json()["feedback"]}


def until(check: Any, seconds: float = 20) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_a_rule_scores_an_endpoints_traces_with_a_judge_endpoint(server: LiveServer) -> None:
    rules = f"{server.url}/api/v1/online-rules"
    made = httpx.post(
        f"{rules}/helpfulness",
        json={
            "scorers": [{"name": "judge"}, {"name": "word_count"}],
            "filter": {"endpoint": "assistant"},
            "judge": "judge",
            "description": "every answer graded",
        },
    )
    assert made.status_code == 201, made.text
    assert made.json()["stats"] == {
        "scored": 0,
        "failed": 0,
        "in_progress": 0,
        "last_scored_at": None,
        "means": {},
        "recent": 0,
    }

    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
    try:
        for question in ("capital of France?", "capital of Peru?", "two plus two?"):
            reply = client.chat.completions.create(
                model="assistant", messages=[{"role": "user", "content": question}]
            )
            assert reply.choices[0].message.content == f"echo: {question}"
    finally:
        client.close()

    def scored() -> dict[str, Any] | None:
        rule = httpx.get(f"{rules}/helpfulness").json()
        return rule if rule["stats"]["scored"] >= 3 else None

    rule = until(scored)
    assert rule is not None, httpx.get(f"{rules}/helpfulness").text
    assert rule["stats"]["failed"] == 0, httpx.get(f"{rules}/helpfulness/scored").text
    assert rule["stats"]["means"] == {"judge": 0.75, "word_count": 4.0}

    answered = traces(server, endpoint="assistant")
    assert len(answered) == 3
    for trace in answered:
        notes = feedback(server, trace["trace_id"])
        assert notes["judge"]["value"] == 0.75
        assert notes["judge"]["source"] == "llm"
        assert notes["judge"]["comment"] == "[4/5] correct and short"
        assert notes["word_count"]["source"] == "code"
        assert {n["author"] for n in notes.values()} == {"rule:helpfulness"}

    # The judge's calls are traces of the project too, tagged, and never scored themselves.
    judged = until(lambda: [t for t in traces(server, endpoint="judge") if t["end_time"]])
    assert len(judged) == 3, traces(server)
    assert all(t["tags"] == {"lmops.online_rule": "helpfulness"} for t in judged)
    assert all(t["feedback_count"] == 0 for t in judged)
    logged = httpx.get(f"{rules}/helpfulness/scored").json()
    assert {s["trace_id"] for s in logged} == {t["trace_id"] for t in answered}

    # A rule over every trace leaves the judge's alone; "run" runs a pass on demand.
    everything = {"scorers": [{"name": "length"}], "enabled": False}
    assert httpx.post(f"{rules}/everything", json=everything).status_code == 201
    ran = httpx.post(f"{rules}/everything/run")
    assert ran.status_code == 200, ran.text
    assert ran.json()["scored"] == 0  # created now: earlier traces are not its business
    backfilled = {**everything, "since": "2020-01-01T00:00:00Z"}
    assert httpx.post(f"{rules}/backfill", json=backfilled).status_code == 201
    report = httpx.post(f"{rules}/backfill/run").json()
    assert report["scored"] == 3, report  # the three answers, not the three judge calls

    # The pages: the list and the rule with its scored traces; switching it off.
    page = httpx.get(f"{server.url}/online-rules")
    assert page.status_code == 200
    assert 'data-rule="helpfulness"' in page.text
    detail = httpx.get(f"{server.url}/online-rules/helpfulness")
    assert detail.status_code == 200
    assert all(f'data-trace="{t["trace_id"]}"' in detail.text for t in answered)
    off = httpx.post(
        f"{server.url}/online-rules/helpfulness/enabled",
        data={"enabled": "false"},
        headers={"sec-fetch-site": "same-origin"},
    )
    assert off.status_code == 303
    assert httpx.get(f"{rules}/helpfulness").json()["enabled"] is False
    assert httpx.get(f"{server.url}/online-rules/nope").status_code == 404


def test_bad_rules_are_refused_with_the_field(server: LiveServer) -> None:
    rules = f"{server.url}/api/v1/online-rules"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"scorers": [{"name": "rougeL"}]}, "needs an expected answer"),
        ({"scorers": [{"name": "judge"}]}, "needs a judge model"),
        ({"scorers": [{"name": "length"}], "sample_rate": 0}, "sample_rate"),
        ({"scorers": []}, "scorers"),
        ({"scorers": [{"name": "length"}], "filter": {"colour": "red"}}, "colour"),
        ({"scorers": [{"name": "regex", "options": {"pattern": "("}}]}, "bad regular expression"),
        ({"scorers": [{"name": "length"}], "since": "2024-01-01T00:00:00"}, "timezone"),
        ({"scorers": [{"name": "length"}], "description": "a\u0000b"}, "NUL"),
        ({"scorers": [{"name": "length"}], "filter": {"tags": {"k\u0000": "v"}}}, "NUL"),
        ({"scorers": [{"name": "regex", "options": {"pattern": "\u0000"}}]}, "NUL"),
        (
            {"scorers": [{"name": "judge"}], "judge": "judge", "judge_rubric": "prompts:/none/1"},
            "none",
        ),
    ]
    for body, needle in cases:
        answer = httpx.post(f"{rules}/bad", json=body)
        assert 400 <= answer.status_code < 500, (body, answer.text)
        assert needle in answer.text, (body, answer.text)
    assert httpx.get(f"{rules}/bad").status_code == 404
    good = {"scorers": [{"name": "length"}]}
    assert httpx.post(f"{rules}/twice", json=good).status_code == 201
    assert httpx.post(f"{rules}/twice", json=good).status_code == 409
    assert httpx.post(f"{rules}/bad name!", json=good).status_code in (400, 422)
    assert httpx.delete(f"{rules}/twice").status_code == 204
    assert httpx.delete(f"{rules}/twice").status_code == 404
