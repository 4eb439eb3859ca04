"""Scorers for structured answers: does the output parse as JSON, does it follow a schema.

An output that is already a dict or list (a target that returns parsed JSON) counts as
JSON as it is; a string is parsed. The schema comes from the scorer, or else from the
row's `inputs["response_format"]`: a bare JSON schema (what a prompt version stores) or an
OpenAI `response_format` (`{"type": "json_schema", "json_schema": {"schema": ...}}`, or
`{"type": "json_object"}`, which asks for any JSON object).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lmops.core.errors import InvalidInput, require_modules
from lmops.evaluation.scoring import Example, RowError, Score, Scorer

EXTRA = "eval"
_ANY_OBJECT: dict[str, Any] = {"type": "object"}
_KEEP_VALIDATORS = 64


def parse_output(example: Example) -> tuple[Any, str | None]:
    """The output as JSON data, or None and why it does not parse."""
    output = example.output
    if output is None:
        raise RowError("row has no output")
    if not isinstance(output, str | bytes | bytearray):
        return output, None
    try:
        return json.loads(output), None
    except ValueError as exc:  # JSONDecodeError, or bytes that are not UTF-8
        return None, f"not JSON: {exc}"


class JsonValid(Scorer):
    """1 when the output parses as JSON, else 0 with the parse error as the rationale."""

    name = "json_valid"

    def compute(self, example: Example) -> Score:
        _, error = parse_output(example)
        return Score(0.0, rationale=error) if error else Score(1.0)


def schema_of(response_format: object, field: str = "response_format") -> dict[str, Any]:
    """The JSON schema a response format asks for (a bare schema or OpenAI's wrapping)."""
    if not isinstance(response_format, Mapping):
        raise RowError(f"{field} is not a JSON object")
    kind = response_format.get("type")
    if kind == "json_object":
        return _ANY_OBJECT
    if kind == "json_schema":
        wrapped = response_format.get("json_schema")
        schema = wrapped.get("schema") if isinstance(wrapped, Mapping) else None
        if not isinstance(schema, Mapping):
            raise RowError(f"{field} has no json_schema.schema")
        return dict(schema)
    return dict(response_format)


class JsonSchema(Scorer):
    """1 when the output is JSON that follows the schema, else 0 naming the first violation.

    Give the schema here, or leave it out to read each row's `inputs["response_format"]`.
    A schema that is itself invalid is refused here, or is that row's error.
    """

    name = "json_schema"

    def __init__(self, schema: Mapping[str, Any] | None = None, *, name: str | None = None) -> None:
        require_modules(("jsonschema",), "the json_schema scorer", EXTRA)
        self.name = name or self.name
        self._validators: dict[str, Any] = {}
        self.schema = None
        if schema is not None:
            try:
                self.schema = schema_of(schema, "schema")
                self._validator(self.schema)
            except RowError as exc:
                raise InvalidInput(str(exc), field="schema") from None

    def compute(self, example: Example) -> Score:
        schema = self.schema
        if schema is None:
            if "response_format" not in example.inputs:
                raise RowError("no schema: give one to the scorer or inputs['response_format']")
            schema = schema_of(example.inputs["response_format"])
        validator = self._validator(schema)
        data, error = parse_output(example)
        if error:
            return Score(0.0, rationale=error)
        return _conformance(validator, data)

    def _validator(self, schema: dict[str, Any]) -> Any:
        """A checked validator for `schema`, kept for the next row that brings the same."""
        key = json.dumps(schema, sort_keys=True, default=str)
        if key not in self._validators:
            if len(self._validators) >= _KEEP_VALIDATORS:
                self._validators.clear()
            self._validators[key] = _validator(schema)
        return self._validators[key]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_validators": {}}  # rebuilt where it lands


def _validator(schema: dict[str, Any]) -> Any:
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    cls = validator_for(schema)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        raise RowError(f"invalid JSON schema: {exc.message} at {exc.json_path}") from None
    return cls(schema)


def _conformance(validator: Any, data: Any) -> Score:
    from jsonschema.exceptions import best_match

    error = best_match(validator.iter_errors(data))
    if error is None:
        return Score(1.0)
    return Score(0.0, rationale=f"{error.json_path}: {error.message}")
