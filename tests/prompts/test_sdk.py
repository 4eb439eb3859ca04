"""The prompt SDK in-process, on SQLite and PostgreSQL: register, load (cached), alias, trace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import lmops
from lmops.core.errors import InvalidInput, NotFound
from lmops.core.ids import new_id
from lmops.prompts import sdk


@pytest.fixture(autouse=True)
def _configured(store_uri: str, tmp_path: Path) -> Iterator[None]:
    lmops.configure(home=tmp_path / "home", uri=store_uri)
    sdk.clear_prompt_cache()
    yield
    sdk.clear_prompt_cache()


def test_register_load_and_format() -> None:
    lmops.register_prompt(
        "qa",
        "Answer {{ question }}",
        model_params={"temperature": 0.1},
        commit_message="first",
        tags={"team": "nlp"},
    )
    chat = lmops.register_prompt(
        "qa",
        messages=[{"role": "user", "content": "Answer {{ question }} briefly"}],
        response_format={"type": "object"},
    )
    assert chat.uri == "prompts:/qa/2"
    first = lmops.load_prompt("prompts:/qa/1")
    assert first.format(question="why?") == "Answer why?"
    assert first.model_params == {"temperature": 0.1} and first.tags == {"team": "nlp"}
    assert lmops.load_prompt("prompts:/qa@latest").format(question="why?") == [
        {"role": "user", "content": "Answer why? briefly"}
    ]
    changes = lmops.prompts.diff("prompts:/qa/1", chat)
    assert "+[user]" in changes.text_diff and "response_format" in changes.changes
    assert [p.name for p in lmops.prompts.list_prompts()] == ["qa"]


def test_an_alias_follows_its_move_and_a_version_is_cached() -> None:
    lmops.register_prompt("qa", "one {{ x }}")
    lmops.register_prompt("qa", "two {{ x }}")
    lmops.set_prompt_alias("qa", "production", 1)
    assert lmops.load_prompt("prompts:/qa@production").version == 1
    lmops.set_prompt_alias("qa", "production", 2)
    # within the alias TTL the cached answer stands; a TTL of 0 resolves again
    assert lmops.load_prompt("prompts:/qa@production").version == 1
    assert lmops.load_prompt("prompts:/qa@production", cache_ttl_s=0).version == 2
    sdk.clear_prompt_cache()
    assert lmops.load_prompt("prompts:/qa@production").version == 2
    # a numbered version is immutable: served from the cache, the same object each time
    assert lmops.load_prompt("prompts:/qa/1") is lmops.load_prompt("prompts:/qa/1")


def test_the_cache_is_per_project(tmp_path: Path, store_uri: str) -> None:
    lmops.register_prompt("qa", "default {{ x }}")
    assert lmops.load_prompt("prompts:/qa/1").template == "default {{ x }}"
    lmops.configure(home=tmp_path / "home", uri=store_uri, project="other")
    with pytest.raises(NotFound, match="no prompt named 'qa'"):
        lmops.load_prompt("prompts:/qa/1")


def test_bad_uris_and_remote_settings() -> None:
    with pytest.raises(InvalidInput, match="not a prompt URI"):
        lmops.load_prompt("models:/qa/1")
    lmops.configure(uri="http://127.0.0.1:1")
    with pytest.raises(InvalidInput, match="in-process only"):
        lmops.register_prompt("qa", "x")


def test_a_trace_records_the_prompt_version() -> None:
    prompt = lmops.register_prompt("qa", "Answer {{ question }}")
    tag = new_id()

    @lmops.trace
    def answer(question: str) -> str:
        lmops.update_current_trace(tags={"test": tag}, prompt_version=prompt.uri)
        return str(prompt.format(question=question)).upper()

    assert answer("why?") == "ANSWER WHY?"
    lmops.flush_traces()
    page = lmops.search_traces(tags={"test": tag})
    assert [t.prompt_version for t in page.traces] == ["prompts:/qa/1"]
    # and traces group by the prompt version they used
    assert len(lmops.search_traces(prompt_version="prompts:/qa/1").traces) == 1
    assert lmops.search_traces(prompt_version="prompts:/qa/2").traces == []
