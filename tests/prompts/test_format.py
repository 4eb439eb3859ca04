"""Rendering a version: text and chat, every variable named when missing or unknown."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lmops.core.errors import InvalidInput
from lmops.prompts.changes import describe, diff_versions
from lmops.prompts.content import check_body
from lmops.prompts.entities import Prompt


def _prompt(version: int = 1, **fields: object) -> Prompt:
    template = fields.pop("template", None)
    messages = fields.pop("messages", None)
    text, chat, variables = check_body(template, messages)  # type: ignore[arg-type]
    return Prompt.model_validate(
        {
            "id": f"id{version}",
            "prompt_id": "p",
            "name": "qa",
            "version": version,
            "template": text,
            "messages": chat,
            "variables": variables,
            "author": "alice",
            "created_at": datetime.now(UTC),
            **fields,
        }
    )


def test_a_text_prompt_formats_to_text() -> None:
    prompt = _prompt(template="Answer in {{ language }}:\n{{ question }}\n")
    text = prompt.format(question="What is {{ x }}?", language="French")
    # a value is text, never a template in its turn
    assert text == "Answer in French:\nWhat is {{ x }}?\n"


def test_a_chat_prompt_formats_to_messages() -> None:
    prompt = _prompt(
        messages=[
            {"role": "system", "content": "You are {{ persona }}."},
            {"role": "user", "content": "{% if short %}Briefly: {% endif %}{{ question }}"},
        ]
    )
    assert prompt.format(persona="terse", question="why?", short=True) == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Briefly: why?"},
    ]


def test_missing_and_unknown_variables_are_named() -> None:
    prompt = _prompt(template="{{ a }} {{ b }} {{ c }}")
    with pytest.raises(InvalidInput, match=r"missing variables b, c \(the prompt uses a, b, c\)"):
        prompt.format(a=1)
    with pytest.raises(InvalidInput, match=r"unknown variable d \(the prompt uses a, b, c\)"):
        prompt.format(a=1, b=2, c=3, d=4)
    with pytest.raises(InvalidInput, match=r"unknown variable x .*uses no variables"):
        _prompt(template="plain").format(x=1)
    assert _prompt(template="plain").format() == "plain"


def test_rendering_stays_in_the_sandbox() -> None:
    unsafe = _prompt(template="{{ user.__class__.__mro__ }}")
    with pytest.raises(InvalidInput, match="cannot render template"):
        unsafe.format(user="x")
    missing = _prompt(template="{{ user.name }}")
    with pytest.raises(InvalidInput, match="has no attribute 'name'"):
        missing.format(user={"id": 1})


def test_diff_of_two_text_versions() -> None:
    a = _prompt(1, template="Answer {{ q }}.\nBe brief.\n", model_params={"temperature": 0.2})
    b = _prompt(
        2,
        template="Answer {{ q }} in {{ lang }}.\nBe brief.\n",
        model_params={"temperature": 0.7, "top_p": 0.9},
        commit_message="languages",
    )
    found = diff_versions(a, b)
    assert found.text_diff.splitlines() == [
        "--- prompts:/qa/1",
        "+++ prompts:/qa/2",
        "@@ -1,2 +1,2 @@",
        "-Answer {{ q }}.",
        "+Answer {{ q }} in {{ lang }}.",
        " Be brief.",
    ]
    assert found.changes == {
        "variables": {"a": ["q"], "b": ["lang", "q"]},
        "commit_message": {"a": "", "b": "languages"},
        "model_params.temperature": {"a": 0.2, "b": 0.7},
        "model_params.top_p": {"a": None, "b": 0.9},
    }
    assert "model_params.top_p: null -> 0.9" in describe(found)
    assert diff_versions(a, a).unchanged
    assert describe(diff_versions(a, a)) == "prompts:/qa/1 and prompts:/qa/1 are the same\n"


def test_diff_of_chat_versions_and_text_to_chat() -> None:
    a = _prompt(1, messages=[{"role": "user", "content": "{{ q }}"}])
    b = _prompt(
        2,
        messages=[
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": "{{ q }}"},
        ],
    )
    lines = diff_versions(a, b).text_diff.splitlines()
    assert lines[3:] == ["+[system]", "+Be kind.", " [user]", " {{ q }}"]
    mixed = diff_versions(_prompt(3, template="{{ q }}\n"), a).text_diff.splitlines()
    assert mixed[3:] == ["+[user]", " {{ q }}"]
