"""The serving and evaluation parts of `make demo`, with the real SmolLM2: a streamed chat
through the gateway with the openai client and its trace; two prompt versions evaluated
and compared."""

from __future__ import annotations

from pathlib import Path

import pytest

import lmops
from lmops.core.settings import current
from lmops.demo_access import populate_users
from lmops.demo_eval import populate_evaluations
from lmops.demo_serving import chat_through_gateway, populate_endpoint
from lmops.tuning.register import DEMO_NAME, register_demo_model


@pytest.mark.slow
def test_the_demo_chats_through_the_gateway_and_compares_two_prompts(tmp_path: Path) -> None:
    lmops.configure(home=tmp_path / "home", uri="")
    version = register_demo_model()
    lmops.set_model_alias(DEMO_NAME, "production", version.version)
    settings = current()
    populate_users(settings)

    assert populate_endpoint(settings)
    assert not populate_endpoint(settings)  # a second demo run keeps the one it made
    chat = chat_through_gateway(settings)
    assert "Paris" in chat.answer
    assert chat.trace_id is not None
    assert chat.model_version == version.uri
    assert chat.input_tokens > 0 and chat.output_tokens > 0
    assert chat.scores["mentions_paris"] == 1.0
    assert chat.scores["word_count"] == len(chat.answer.split())

    done = populate_evaluations(settings)
    assert done is not None
    before, after, comparison = done
    for result in (before, after):
        e = result.evaluation
        assert (e.row_count, e.failed_rows, e.model_version) == (8, 0, version.uri)
        assert set(e.aggregates) == {"rougeL", "bleu", "token_f1"}
    assert [m.name for m in comparison.metrics] == ["rougeL", "bleu", "token_f1"]
    # the guided prompt answers in the expected form: it should not lose to the bare one
    rouge = comparison.metrics[0]
    assert rouge.losses <= rouge.wins
    assert populate_evaluations(settings) is None
