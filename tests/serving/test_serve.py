"""`lmops serve` as a real process, spoken to with the official `openai` client.

Two servers share one store: `models:/tiny/1` as `lmops models build-tiny` registers it
(context window 256), and a narrow one (one batch slot, one waiting place, an API key)
over `tiny-long`, the same model with 4,096 positions so that one answer can keep its slot
for as long as a test needs it, and a chat template that refuses system messages.
"""

from __future__ import annotations

import base64
import json
import math
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import lmops, lmops_env
from tests.serving.conftest import ModelServer

pytestmark = pytest.mark.e2e
T = TypeVar("T")

KEY = "sk-narrow-0123456789"
MESSAGES: list[Any] = [{"role": "user", "content": "What is the capital of France?"}]
# The greedy answer of the tiny model (and tiny-long) to this is " May May May ...": text from
# the first token on, and never its end of sequence.
STEADY = "Farid shared a map at the station this morning."


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("serve-home")
    lmops(home, "models", "build-tiny", "--name", "tiny")
    return home


@pytest.fixture(scope="module")
def server(home: Path, serve: Callable[..., ModelServer]) -> ModelServer:
    return serve(home, "models:/tiny/1")


@pytest.fixture(scope="module")
def client(server: ModelServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=120
    ) as made:
        yield made


# Prepended to tiny-long's chat template: templates such as Gemma's refuse some messages.
STRICT = (
    "{% if messages[0]['role'] == 'system' %}{{ raise_exception('No system role') }}{% endif %}"
)
BUILD_LONG = """
import sys
from pathlib import Path
from lmops.tuning.tiny import build_tiny_model
built = build_tiny_model(Path(sys.argv[1]), max_positions=4096)
template = built.path / "chat_template.jinja"
template.write_text(sys.argv[2] + template.read_text())
"""


@pytest.fixture(scope="module")
def narrow(home: Path, serve: Callable[..., ModelServer]) -> ModelServer:
    """tiny-long behind one batch slot, one waiting place and an API key."""
    built = home / "tiny-long"
    done = subprocess.run(
        [sys.executable, "-c", BUILD_LONG, str(built), STRICT],
        env=lmops_env(home),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    lmops(home, "models", "register", "tiny-long", str(built))
    flags = ("--max-batch", "1", "--max-queue", "1", "--api-key", KEY)
    return serve(home, "models:/tiny-long/1", *flags)


def chat_prompt_tokens(tokenizer: Any, messages: list[Any]) -> int:
    ids = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=False
    )
    return len(ids)


def post(server: ModelServer, path: str, body: Any, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(
        f"{server.url}{path}",
        content=content,
        headers={"content-type": "application/json", **headers},
        timeout=120,
    )


def metrics(server: ModelServer) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(f"{server.url}/metrics", timeout=30).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


# -- chat ---------------------------------------------------------------------------------


def test_a_stream_says_what_the_whole_answer_says(client: openai.OpenAI, tokenizer: Any) -> None:
    ask: dict[str, Any] = {
        "model": "tiny",
        "messages": MESSAGES,
        "temperature": 0,
        "max_tokens": 40,
    }
    whole = client.chat.completions.create(**ask)
    [choice] = whole.choices
    assert whole.object == "chat.completion" and whole.model == "tiny"
    assert choice.message.role == "assistant" and choice.message.content
    usage = whole.usage
    assert usage is not None
    assert usage.prompt_tokens == chat_prompt_tokens(tokenizer, MESSAGES)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    if choice.finish_reason == "length":
        assert usage.completion_tokens == 40
    else:
        assert 0 <= usage.completion_tokens < 40

    *chunks, last = client.chat.completions.create(
        **ask, stream=True, stream_options={"include_usage": True}
    )
    assert last.choices == [] and last.usage == usage
    assert all(c.usage is None and len(c.choices) == 1 for c in chunks)
    assert len({c.id for c in [*chunks, last]}) == 1
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == choice.message.content
    assert [c.choices[0].finish_reason for c in chunks] == [None] * (len(chunks) - 1) + [
        choice.finish_reason
    ]

    plain = list(client.chat.completions.create(**ask, stream=True))
    assert all(c.usage is None and c.choices for c in plain)  # no usage unless asked for
    assert "".join(c.choices[0].delta.content or "" for c in plain) == choice.message.content


def test_n_answers_with_independent_seeded_choices(client: openai.OpenAI) -> None:
    ask: dict[str, Any] = {
        "model": "tiny",
        "messages": MESSAGES,
        "n": 2,
        "temperature": 1.0,
        "seed": 11,
        "max_tokens": 20,
    }
    whole = client.chat.completions.create(**ask)
    assert [c.index for c in whole.choices] == [0, 1]
    first, second = (c.message.content for c in whole.choices)
    assert first != second
    assert whole.usage is not None and whole.usage.completion_tokens <= 40
    if all(c.finish_reason == "length" for c in whole.choices):
        assert whole.usage.completion_tokens == 40

    texts = ["", ""]
    reasons: list[list[str]] = [[], []]
    for chunk in client.chat.completions.create(**ask, stream=True):
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            if choice.finish_reason:
                reasons[choice.index].append(choice.finish_reason)
    assert texts == [first, second]  # the same seeds, streamed
    assert reasons == [[c.finish_reason] for c in whole.choices]


def test_a_seed_reproduces_a_sampled_answer(client: openai.OpenAI) -> None:
    def ask(seed: int) -> str | None:
        answer = client.chat.completions.create(
            model="tiny", messages=MESSAGES, temperature=1.0, top_p=0.9, seed=seed, max_tokens=30
        )
        return answer.choices[0].message.content

    assert ask(42) == ask(42)
    assert ask(42) != ask(43)


def test_stop_ends_the_answer_before_the_stop_sequence(client: openai.OpenAI) -> None:
    ask: dict[str, Any] = {
        "model": "tiny",
        "messages": MESSAGES,
        "temperature": 0,
        "max_tokens": 60,
    }
    text = client.chat.completions.create(**ask).choices[0].message.content or ""
    stop = text.strip()[len(text.strip()) // 2 :][:3]
    assert len(stop) == 3, text
    expected = text[: text.index(stop)]

    whole = client.chat.completions.create(**ask, stop=[stop, "never said"])
    assert whole.choices[0].message.content == expected
    assert whole.choices[0].finish_reason == "stop"
    chunks = list(client.chat.completions.create(**ask, stop=stop, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == expected
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_a_temperature_near_zero_answers_greedily(client: openai.OpenAI) -> None:
    def ask(temperature: float) -> str | None:
        answer = client.chat.completions.create(
            model="tiny", messages=MESSAGES, temperature=temperature, max_tokens=12
        )
        return answer.choices[0].message.content

    assert ask(1e-40) == ask(0)


# -- completions, models, embeddings ------------------------------------------------------


def test_completions_with_echo_and_streaming(client: openai.OpenAI, tokenizer: Any) -> None:
    prompt = "Ada found"
    plain = client.completions.create(model="tiny", prompt=prompt, max_tokens=8, temperature=0)
    [choice] = plain.choices
    assert plain.object == "text_completion" and choice.text
    assert plain.usage is not None
    assert plain.usage.prompt_tokens == len(tokenizer(prompt)["input_ids"])
    echoed = client.completions.create(
        model="tiny", prompt=prompt, max_tokens=8, temperature=0, echo=True
    )
    assert echoed.choices[0].text == prompt + choice.text
    streamed = client.completions.create(
        model="tiny", prompt=prompt, max_tokens=8, temperature=0, stream=True
    )
    assert "".join(c.choices[0].text for c in streamed) == choice.text

    default = client.completions.create(model="tiny", prompt=prompt, temperature=0)
    assert default.usage is not None and default.usage.completion_tokens <= 16  # OpenAI's default
    if default.choices[0].finish_reason == "length":
        assert default.usage.completion_tokens == 16


def test_models_are_listed_and_retrieved(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["tiny"]
    found = client.models.retrieve("tiny")
    assert (found.id, found.object, found.owned_by) == ("tiny", "model", "lmops")
    with pytest.raises(openai.NotFoundError) as missing:
        client.models.retrieve("nope")
    assert missing.value.code == "model_not_found"


def test_embeddings_are_unit_vectors_in_float_and_base64(
    client: openai.OpenAI, server: ModelServer, tokenizer: Any
) -> None:
    texts = ["Paris is a large city in France.", "hello"]
    default = client.embeddings.create(model="tiny", input=texts)  # base64 on the wire
    floats = client.embeddings.create(model="tiny", input=texts, encoding_format="float")
    assert [e.index for e in default.data] == [0, 1]
    for packed, plain in zip(default.data, floats.data, strict=True):
        assert len(plain.embedding) == 128
        assert math.isclose(math.fsum(x * x for x in plain.embedding), 1.0, rel_tol=1e-4)
        assert packed.embedding == pytest.approx(plain.embedding, abs=1e-6)
    assert floats.data[0].embedding != floats.data[1].embedding
    assert floats.usage.prompt_tokens == sum(len(tokenizer(t)["input_ids"]) for t in texts)

    short = client.embeddings.create(model="tiny", input="hello", dimensions=16)
    assert len(short.data[0].embedding) == 16
    assert math.isclose(math.fsum(x * x for x in short.data[0].embedding), 1.0, rel_tol=1e-4)

    raw = post(
        server, "/v1/embeddings", {"model": "tiny", "input": "hello", "encoding_format": "base64"}
    )
    packed_text = raw.json()["data"][0]["embedding"]
    assert isinstance(packed_text, str)
    unpacked = struct.unpack("<128f", base64.b64decode(packed_text))
    assert list(unpacked) == pytest.approx(floats.data[1].embedding, abs=1e-6)


# -- errors -------------------------------------------------------------------------------

CHAT, COMPLETIONS, EMBEDDINGS = "/v1/chat/completions", "/v1/completions", "/v1/embeddings"
ASK = {"model": "tiny", "messages": MESSAGES}
LONG = "Ada found a book at the library on Monday. " * 40  # far past 256 tokens
TOO_LONG = "context_length_exceeded"
CONTENT, ROLE = "messages.0.content", "messages.0.role"


@pytest.mark.parametrize(
    ("path", "body", "status", "param", "code"),
    [
        (CHAT, {**ASK, "model": "nope"}, 404, "model", "model_not_found"),
        (EMBEDDINGS, {"model": "nope", "input": "x"}, 404, "model", "model_not_found"),
        (CHAT, b'{"model": "tiny", "messages": [', 400, None, None),
        (CHAT, b"[]", 400, None, None),
        (CHAT, {"model": "tiny"}, 400, "messages", None),
        (CHAT, {**ASK, "temperature": "hot"}, 400, "temperature", None),
        (CHAT, {**ASK, "stop": 5}, 400, "stop", None),
        (CHAT, {**ASK, "messages": [{"role": "user", "content": 5}]}, 400, CONTENT, None),
        (CHAT, {**ASK, "messages": [{"role": "robot", "content": "x"}]}, 400, ROLE, None),
        (CHAT, {**ASK, "n": 0}, 400, "n", None),
        (CHAT, {**ASK, "seed": 2**64}, 400, "seed", None),
        (CHAT, {**ASK, "max_tokens": 1000}, 400, "messages", TOO_LONG),
        (CHAT, {**ASK, "messages": [{"role": "user", "content": LONG}]}, 400, "messages", TOO_LONG),
        (COMPLETIONS, {"model": "tiny", "prompt": LONG}, 400, "prompt", TOO_LONG),
        (COMPLETIONS, {"model": "tiny", "prompt": ["a", "b"]}, 400, "prompt", None),
        (EMBEDDINGS, {"model": "tiny", "input": LONG}, 400, "input", TOO_LONG),
        (EMBEDDINGS, {"model": "tiny", "input": 5}, 400, "input", None),
        (EMBEDDINGS, {"model": "tiny", "input": ""}, 400, "input", None),
    ],
)  # fmt: skip
def test_each_mistake_is_an_openai_error_with_its_status(
    server: ModelServer,
    path: str,
    body: Any,
    status: int,
    param: str | None,
    code: str | None,
) -> None:
    answer = post(server, path, body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)
    assert error["message"]
    if code == TOO_LONG:
        assert "maximum context length" in error["message"] and "256 tokens" in error["message"]


def test_the_client_raises_what_the_server_answers(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="nope", messages=MESSAGES)
    assert missing.value.code == "model_not_found"
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as too_long:
            client.chat.completions.create(
                model="tiny", messages=[{"role": "user", "content": LONG}], stream=stream
            )
        assert too_long.value.code == "context_length_exceeded"
        assert too_long.value.param == "messages"
        assert "256" in too_long.value.message


def test_unknown_routes_and_methods_answer_openai_errors(server: ModelServer) -> None:
    missing = httpx.get(f"{server.url}/v1/nothing-here")
    wrong_method = httpx.get(f"{server.url}{CHAT}")
    assert (missing.status_code, wrong_method.status_code) == (404, 405)
    assert set(missing.json()["error"]) == {"message", "type", "param", "code"}
    assert set(wrong_method.json()["error"]) == {"message", "type", "param", "code"}


# -- metrics and traces -------------------------------------------------------------------


def test_metrics_count_requests_and_tokens(server: ModelServer, client: openai.OpenAI) -> None:
    before = metrics(server)
    whole = client.chat.completions.create(
        model="tiny", messages=MESSAGES, temperature=0, max_tokens=7
    )
    streamed = client.chat.completions.create(
        model="tiny", messages=MESSAGES, temperature=0, max_tokens=3, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in streamed)
    after = metrics(server)

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    usage = whole.usage
    assert usage is not None
    ok = {"model": "tiny", "route": CHAT, "status": "200"}
    assert grew("lmops_serving_requests_total", **ok) == 2
    assert grew("lmops_serving_input_tokens_total", model="tiny") == 2 * usage.prompt_tokens
    # the greedy answer runs past 3 tokens (see the first test): the stream counts 3
    assert grew("lmops_serving_output_tokens_total", model="tiny") == usage.completion_tokens + 3
    assert grew("lmops_serving_time_to_first_token_seconds_count", model="tiny") == 1
    assert grew("lmops_serving_request_duration_seconds_count", model="tiny", route=CHAT) == 2
    assert grew("lmops_serving_batch_size_count") >= usage.completion_tokens - 1


def traces(home: Path, *filters: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(lmops(home, "traces", "list", "--json", *filters))
    return found


def wait_for_traces(home: Path, user: str, count: int) -> list[dict[str, Any]]:
    """The server writes its spans on a timer: poll the store for a while."""
    deadline = time.monotonic() + 60
    while True:
        found = traces(home, "--user", user)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def test_requests_are_traced_with_their_token_counts(client: openai.OpenAI, home: Path) -> None:
    user = f"tracer-{uuid.uuid4().hex[:8]}"
    ask: dict[str, Any] = {"model": "tiny", "messages": MESSAGES, "temperature": 0, "user": user}
    whole = client.chat.completions.create(**ask, max_tokens=9)
    list(client.chat.completions.create(**ask, max_tokens=9, stream=True))  # usage not asked for
    client.completions.create(
        model="tiny", prompt="Ada found", max_tokens=4, temperature=0, user=user
    )

    found = wait_for_traces(home, user, 3)
    assert whole.usage is not None
    assert sorted(t["name"] for t in found) == ["chat tiny", "chat tiny", "text_completion tiny"]
    assert all(t["status"] == "OK" and t["model_version"] == "models:/tiny/1" for t in found)
    chats = [t for t in found if t["name"] == "chat tiny"]
    expected = (whole.usage.prompt_tokens, whole.usage.completion_tokens)
    assert [(t["input_tokens"], t["output_tokens"]) for t in chats] == [expected, expected]
    [completion] = [t for t in found if t["name"] == "text_completion tiny"]
    assert completion["input_tokens"] == 3 and 0 < completion["output_tokens"] <= 4


# -- the narrow server: a full queue, a client that leaves, an API key ---------------------


def until_admitted(ask: Callable[[], T], seconds: float = 60) -> T:
    """`ask` again while the server answers 503 (the leaving client is not noticed at once)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return ask()
        except openai.APIStatusError as exc:
            if exc.status_code != 503 or time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def test_a_full_queue_answers_503_and_clients_that_leave_free_their_places(
    narrow: ModelServer,
) -> None:
    def steps() -> float:
        """Rows run by decode steps so far: with one slot, tokens generated so far."""
        return sample(metrics(narrow), "lmops_serving_batch_size_sum")

    with openai.OpenAI(
        base_url=f"{narrow.url}/v1", api_key=KEY, max_retries=0, timeout=300
    ) as client:
        long: dict[str, Any] = {"model": "tiny-long", "prompt": STEADY, "temperature": 0}
        start = steps()
        running = client.completions.create(**long, max_tokens=4000, stream=True)
        assert next(iter(running)).choices[0].text  # a token came: this answer has the slot
        waiting = client.completions.create(**long, max_tokens=4000, stream=True)

        with pytest.raises(openai.APIStatusError) as full:
            client.completions.create(**long, max_tokens=4000)
        assert full.value.status_code == 503
        assert int(full.value.response.headers["retry-after"]) >= 1
        error = full.value.response.json()["error"]
        assert error["type"] == "server_overloaded" and "overloaded" in error["message"]

        waiting.close()  # this client gives up: its waiting place is free again
        queued = until_admitted(
            lambda: client.completions.create(**long, max_tokens=5, stream=True)
        )
        assert steps() - start < 3990  # got in while the first answer was still running

        running.close()  # and this one leaves mid-answer: its slot goes to the queued one
        chunks = list(queued)
        assert "".join(c.choices[0].text for c in chunks)
        assert chunks[-1].choices[0].finish_reason == "length"
        assert steps() - start < 4000  # the first answer did not run on to its 4,000 tokens


def test_the_api_key_guards_v1(narrow: ModelServer) -> None:
    missing = httpx.get(f"{narrow.url}/v1/models")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "invalid_api_key"
    wrong = openai.OpenAI(base_url=f"{narrow.url}/v1", api_key="sk-wrong", max_retries=0)
    with wrong, pytest.raises(openai.AuthenticationError):
        wrong.models.list()
    assert httpx.get(f"{narrow.url}/health").status_code == 200  # health needs no key
    with openai.OpenAI(base_url=f"{narrow.url}/v1", api_key=KEY, max_retries=0) as right:
        assert [m.id for m in right.models.list()] == ["tiny-long"]


def test_messages_the_chat_template_refuses_are_a_400(narrow: ModelServer) -> None:
    with openai.OpenAI(base_url=f"{narrow.url}/v1", api_key=KEY, max_retries=0) as client:
        system = [{"role": "system", "content": "Be brief."}, *MESSAGES]
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(model="tiny-long", messages=system, max_tokens=3)
        assert refused.value.param == "messages" and "No system role" in refused.value.message
        fine = client.chat.completions.create(model="tiny-long", messages=MESSAGES, max_tokens=3)
        assert fine.usage is not None and fine.usage.completion_tokens <= 3


# -- a real small model -------------------------------------------------------------------


@pytest.mark.slow
def test_smollm2_knows_the_capital_of_france(
    tmp_path_factory: pytest.TempPathFactory, serve: Callable[..., ModelServer]
) -> None:
    home = tmp_path_factory.mktemp("smollm2-home")
    lmops(home, "models", "import-demo")
    server = serve(home, "models:/smollm2-135m-instruct/1")
    with openai.OpenAI(
        base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=300
    ) as client:
        ask: dict[str, Any] = {
            "model": "smollm2-135m-instruct",
            "messages": MESSAGES,
            "temperature": 0,
            "max_tokens": 40,
        }
        whole = client.chat.completions.create(**ask)
        answer = whole.choices[0].message.content or ""
        assert "Paris" in answer
        assert whole.choices[0].finish_reason == "stop"  # it said its end of turn
        streamed = client.chat.completions.create(**ask, stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in streamed) == answer
