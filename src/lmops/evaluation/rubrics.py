"""Rubrics: the prompts a judge model is asked, and how a row fills them in.

A rubric is a `lmops.prompts` Prompt version (or anything whose `.format(**variables)`
returns chat messages or text) or a plain template string with `{{ placeholders }}`,
rendered by the prompts' own code (Jinja's sandbox, strict about unknown names).

The variables a row offers: `input` (the row's inputs as text: the value itself when
there is one, else one `key: value` line each), `inputs` (the dict), each input by its
own name, `output`, and `expected` when the row has one (a rubric can ask
`{% if expected is defined %}`). A pairwise rubric gets `response_a` and `response_b`
in place of `output`. Inputs whose names start with `__` are bookkeeping, not shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from lmops.core.errors import InvalidInput
from lmops.evaluation.scoring import Example, RowError, as_text
from lmops.prompts.templates import check_template, render

Messages = list[dict[str, str]]

DEFAULT_RUBRIC = """\
You are grading an answer for correctness.

Question or task:
{{ input }}

Answer to grade:
{{ output }}
{% if expected is defined %}
Reference answer (treat it as correct):
{{ expected }}
{% endif %}
Score the answer from 1 to 5:
1 = wrong or off-topic; 2 = mostly wrong; 3 = partly correct, with notable errors or gaps;
4 = correct with minor issues; 5 = fully correct and complete.

Reply with JSON only: {"score": <1 to 5>, "rationale": "<one or two sentences>"}
"""

DEFAULT_PAIRWISE_RUBRIC = """\
You are comparing two answers to the same request.

Request:
{{ input }}
{% if expected is defined %}
Reference answer (treat it as correct):
{{ expected }}
{% endif %}
Answer A:
{{ response_a }}

Answer B:
{{ response_b }}

Which answer is better: more correct, more helpful, clearer? Judge what they say, not the
order they are shown in or how long they are.

Reply with JSON only: {"winner": "A" or "B" or "tie", "rationale": "<one or two sentences>"}
"""


class Formats(Protocol):
    """A prompt version, or anything that fills variables into messages or text."""

    def format(self, **variables: Any) -> str | list[dict[str, str]]: ...


Rubric = str | Formats


def check_rubric(rubric: Rubric) -> Rubric:
    """Refuse a template string that cannot render, or something that is not a rubric."""
    if isinstance(rubric, str):
        check_template(rubric, "rubric")
    elif not callable(getattr(rubric, "format", None)):
        raise InvalidInput(
            f"a rubric is a template string or a prompt version, got {type(rubric).__name__}",
            field="rubric",
        )
    return rubric


def row_variables(example: Example, **extra: Any) -> dict[str, Any]:
    """What a rubric may use from a row (see the module's docstring)."""
    inputs = {k: v for k, v in example.inputs.items() if not k.startswith("__")}
    found: dict[str, Any] = {k: v for k, v in inputs.items() if k.isidentifier()}
    found["inputs"] = inputs
    found["input"] = input_text(inputs)
    if example.expected is not None:
        found["expected"] = as_text(example.expected)
    found.update(extra)
    return found


def input_text(inputs: Mapping[str, Any]) -> str:
    if len(inputs) == 1:
        return as_text(next(iter(inputs.values())))
    return "\n".join(f"{key}: {as_text(value)}" for key, value in inputs.items())


def render_rubric(rubric: Rubric, variables: Mapping[str, Any]) -> Messages:
    """The rubric filled in for one row, as chat messages."""
    if isinstance(rubric, str):
        filled: str | list[dict[str, str]] = render(rubric, variables, "rubric")
    else:
        wanted = getattr(rubric, "variables", None)
        if isinstance(wanted, list | tuple | set | frozenset):
            # a prompt version refuses variables it does not use: offer only its own
            missing = sorted(set(wanted) - set(variables))
            if missing:
                raise RowError(f"the rubric uses {', '.join(missing)}, which the row lacks")
            filled = rubric.format(**{k: variables[k] for k in wanted})
        else:
            filled = rubric.format(**variables)
    if isinstance(filled, str):
        return [{"role": "user", "content": filled}]
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in filled]
