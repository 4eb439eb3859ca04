"""The prompt registry on SQLite and PostgreSQL: versions, URIs, aliases, projects, audit."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from lmops.core.errors import InvalidInput, NotFound
from lmops.prompts.store import PromptStore
from lmops.prompts.tables import prompt_versions
from lmops.store.audit import AuditQuery, acting_as, search

SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}}


def test_versions_are_numbered_and_keep_what_was_registered(prompts: PromptStore) -> None:
    with acting_as("alice"):
        first = prompts.create_version(
            "qa",
            template="Answer {{ question }} in {{ language }}.",
            model_params={"temperature": 0.2, "max_tokens": 64},
            response_format=SCHEMA,
            commit_message="first",
            tags={"team": "nlp"},
        )
    second = prompts.create_version("qa", template="Answer briefly: {{ question }}")
    assert (first.uri, second.uri) == ("prompts:/qa/1", "prompts:/qa/2")
    assert first.variables == ["language", "question"] and second.variables == ["question"]
    assert first.model_params == {"temperature": 0.2, "max_tokens": 64}
    assert first.response_format == SCHEMA and second.response_format is None
    assert (first.commit_message, first.tags, first.author) == ("first", {"team": "nlp"}, "alice")
    assert first.created_at.tzinfo is not None and not first.is_chat
    assert prompts.get_version("prompts:/qa/1") == first
    assert prompts.get_version("prompts:/qa@latest") == second
    assert [v.version for v in prompts.list_versions("qa")] == [1, 2]
    listed = prompts.list_prompts()
    assert [(p.name, p.version_count, p.latest_version) for p in listed] == [("qa", 2, 2)]


def test_a_version_never_changes(prompts: PromptStore) -> None:
    first = prompts.create_version("qa", template="v1 {{ x }}")
    prompts.create_version("qa", template="v2 {{ x }}")
    assert not hasattr(prompts, "update_version")
    assert prompts.get_version("prompts:/qa/1").template == first.template == "v1 {{ x }}"
    with prompts.engine.connect() as conn:
        stored = conn.execute(select(prompt_versions.c.version, prompt_versions.c.template))
        assert sorted(stored) == [(1, "v1 {{ x }}"), (2, "v2 {{ x }}")]


def test_chat_versions_keep_their_messages(prompts: PromptStore) -> None:
    chat = prompts.create_version(
        "support",
        messages=[
            {"role": "system", "content": "You are {{ persona }}."},
            {"role": "user", "content": "{{ question }}"},
        ],
    )
    assert chat.is_chat and chat.template is None
    assert chat.variables == ["persona", "question"]
    assert [m.role for m in chat.messages or []] == ["system", "user"]


def test_aliases_move_and_resolve(prompts: PromptStore) -> None:
    for text in ("one {{ x }}", "two {{ x }}", "three {{ x }}"):
        prompts.create_version("qa", template=text)
    assert prompts.set_alias("qa", "production", 1).aliases == ["production"]
    assert prompts.get_version("prompts:/qa@production").version == 1
    moved = prompts.set_alias("qa", "production", 3)
    prompts.set_alias("qa", "staging", 2)
    assert moved.version == 3 and prompts.get_version("prompts:/qa@production").version == 3
    assert prompts.get_prompt("qa").aliases == {"production": 3, "staging": 2}
    assert prompts.get_version("prompts:/qa/1").aliases == []
    prompts.delete_alias("qa", "staging")
    with pytest.raises(NotFound, match=r"no alias 'staging' \(aliases: production\)"):
        prompts.get_version("prompts:/qa@staging")
    with pytest.raises(InvalidInput, match="cannot be set"):
        prompts.set_alias("qa", "latest", 1)
    with pytest.raises(NotFound, match="no prompt version prompts:/qa/9"):
        prompts.set_alias("qa", "production", 9)
    audit = search(prompts.engine, AuditQuery(action="prompt_alias.set"))
    assert [(e.target, e.before, e.after) for e in audit] == [
        ("prompts:/qa@production", None, {"version": 1}),
        ("prompts:/qa@production", {"version": 1}, {"version": 3}),
        ("prompts:/qa@staging", None, {"version": 2}),
    ]
    created = search(prompts.engine, AuditQuery(action="prompt_version.create"))
    assert [e.target for e in created] == ["prompts:/qa/1", "prompts:/qa/2", "prompts:/qa/3"]


def test_another_projects_prompt_answers_as_unknown(prompts: PromptStore) -> None:
    prompts.create_version("qa", template="default {{ x }}")
    prompts.set_alias("qa", "production", 1)
    other = prompts.in_project("other")
    assert other.list_prompts() == []
    for call in (
        lambda: other.get_prompt("qa"),
        lambda: other.get_version("prompts:/qa/1"),
        lambda: other.get_version("prompts:/qa@production"),
        lambda: other.list_versions("qa"),
        lambda: other.set_alias("qa", "staging", 1),
        lambda: other.delete_alias("qa", "production"),
    ):
        with pytest.raises(NotFound, match="no prompt named 'qa'"):
            call()
    # the same name is free in another project, and numbered from 1 there
    mine = other.create_version("qa", template="other {{ y }}")
    assert mine.version == 1 and prompts.get_version("prompts:/qa/1").template == "default {{ x }}"
    assert [e.project for e in search(prompts.engine, AuditQuery(project="other"))] == ["other"] * 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"template": "Hi {{ name"}, r"template has a syntax error at line 1"),
        ({"template": "line one\nHi {{ name }} }} x"}, r"unbalanced '}}' at line 2, column 15"),
        ({"template": "a\n\n{{ x | nosuch }}"}, r"line 3: No filter named 'nosuch'"),
        ({"template": "{{ }}"}, "syntax error at line 1"),
        ({"template": "a", "messages": [{"role": "user", "content": "b"}]}, "not both"),
        ({}, "not neither"),
        ({"messages": []}, "1 to 200 messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, r"messages\[0\]\.role"),
        ({"messages": [{"role": "user", "content": "{{ a"}]}, r"messages\[0\]\.content has"),
        ({"template": "a\x00b"}, "NUL"),
        ({"template": "x", "model_params": {"t": float("nan")}}, "nan"),
        ({"template": "x", "model_params": {"stop": ["\x00"]}}, "NUL"),
        ({"template": "x", "model_params": [1]}, "model_params must be a JSON object"),
        ({"template": "x", "response_format": {"type": "banana"}}, "not a JSON schema"),
        ({"template": "x", "response_format": "json"}, "response_format must be a JSON object"),
        ({"template": "x", "tags": {"k": "\ud800"}}, "not valid Unicode"),
    ],
)
def test_bad_versions_are_refused_before_anything_is_written(
    prompts: PromptStore, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        prompts.create_version("qa", **kwargs)  # type: ignore[arg-type]
    assert prompts.list_prompts() == []


@pytest.mark.parametrize("uri", ["models:/qa/1", "prompts:/qa", "qa", "prompts:/q a/1"])
def test_uris_that_name_no_prompt_version(prompts: PromptStore, uri: str) -> None:
    with pytest.raises(InvalidInput, match="URI"):
        prompts.get_version(uri)


def test_unknown_names_and_versions(prompts: PromptStore) -> None:
    with pytest.raises(NotFound, match="no prompt named 'qa'"):
        prompts.get_version("prompts:/qa@latest")
    prompts.create_version("qa", template="x")
    with pytest.raises(NotFound, match="no prompt version prompts:/qa/2"):
        prompts.get_version("prompts:/qa/2")
    with pytest.raises(InvalidInput, match="invalid prompt name"):
        prompts.create_version("bad name", template="x")
