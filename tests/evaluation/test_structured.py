"""JSON answers: does the output parse, does it follow the schema, and where it does not."""

from __future__ import annotations

import json
import pickle

import pytest

from lmops.core.errors import InvalidInput
from lmops.evaluation import Example, JsonSchema, JsonValid, Score, get_scorer

SCHEMA = {
    "type": "object",
    "properties": {
        "answer": {"type": "string"},
        "sources": {"type": "array", "items": {"type": "integer", "minimum": 1}},
    },
    "required": ["answer"],
    "additionalProperties": False,
}


def test_json_valid_gives_the_parse_error_as_its_rationale() -> None:
    valid = get_scorer("json_valid")
    rows = [
        Example({}, '{"a": [1, 2]}'),
        Example({}, "  [1, 2]  "),
        Example({}, '{"a": 1,}'),
        Example({}, "```json\n{}\n```"),
        Example({}, {"already": "parsed"}),
        Example({}, None),
    ]
    scores = valid.score_many(rows)
    assert [s.value for s in scores] == [1.0, 1.0, 0.0, 0.0, 1.0, None]
    with pytest.raises(json.JSONDecodeError) as caught:
        json.loads('{"a": 1,}')
    assert scores[2] == Score(0.0, rationale=f"not JSON: {caught.value}")
    assert scores[5].error == "row has no output"
    assert isinstance(valid, JsonValid) and not valid.needs_expected


def test_json_schema_names_the_first_violation_and_its_path() -> None:
    scorer = JsonSchema(SCHEMA)
    rows = [
        Example({}, '{"answer": "Paris", "sources": [1, 3]}'),
        Example({}, '{"answer": "Paris", "sources": [1, 0]}'),
        Example({}, '{"sources": []}'),
        Example({}, '{"answer": 42}'),
        Example({}, '{"answer": "x", "extra": true}'),
        Example({}, "not json"),
        Example({}, {"answer": "parsed already"}),
    ]
    scores = scorer.score_many(rows)
    assert [s.value for s in scores] == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    assert scores[1].rationale == "$.sources[1]: 0 is less than the minimum of 1"
    assert scores[2].rationale == "$: 'answer' is a required property"
    assert scores[3].rationale == "$.answer: 42 is not of type 'string'"
    assert scores[4].rationale is not None and scores[4].rationale.startswith("$: Additional")
    assert scores[5].rationale is not None and scores[5].rationale.startswith("not JSON: ")


def test_json_schema_reads_the_rows_response_format_when_it_has_none() -> None:
    scorer = get_scorer("json_schema")
    wrapped = {"type": "json_schema", "json_schema": {"name": "qa", "schema": SCHEMA}}
    rows = [
        Example({"response_format": SCHEMA}, '{"answer": "a"}'),
        Example({"response_format": wrapped}, '{"answer": 1}'),
        Example({"response_format": {"type": "json_object"}}, "[1, 2]"),
        Example({"response_format": {"type": "json_object"}}, '{"any": "object"}'),
        Example({}, '{"answer": "a"}'),
        Example({"response_format": {"type": "json_schema"}}, "{}"),
        Example({"response_format": {"type": "object", "required": 3}}, "{}"),
    ]
    scores = scorer.score_many(rows)
    assert [s.value for s in scores[:4]] == [1.0, 0.0, 0.0, 1.0]
    assert scores[1].rationale == "$.answer: 1 is not of type 'string'"
    assert scores[4].error == "no schema: give one to the scorer or inputs['response_format']"
    assert scores[5].error == "response_format has no json_schema.schema"
    assert scores[6].error is not None and scores[6].error.startswith("invalid JSON schema: ")


def test_a_schema_given_to_the_scorer_wins_over_the_rows() -> None:
    scorer = JsonSchema({"type": "array"})
    assert scorer.score(Example({"response_format": SCHEMA}, "[]")) == Score(1.0)


def test_an_invalid_schema_is_refused_when_the_scorer_is_made() -> None:
    with pytest.raises(InvalidInput, match="invalid JSON schema") as caught:
        JsonSchema({"type": "object", "properties": {"a": {"type": "nonsense"}}})
    assert caught.value.field == "schema"
    with pytest.raises(InvalidInput, match=r"^schema is not a JSON object$"):
        JsonSchema(["not", "a", "schema"])  # type: ignore[arg-type]


def test_schema_scorers_survive_pickling_for_executors() -> None:
    scorer = JsonSchema(SCHEMA)
    rows = [Example({}, '{"answer": "a"}'), Example({}, '{"answer": 1}')]
    before = scorer.score_many(rows)
    assert pickle.loads(pickle.dumps(scorer)).score_many(rows) == before
