"""Prompt templates: `{{ variable }}` placeholders, parsed and rendered with Jinja2.

A template is checked when a version is registered, so a broken one never gets a number:
a syntax error, an unknown filter, or a stray `{{` or `}}` is refused with its line and
column. Rendering runs in Jinja's sandbox with strict undefined values, and the caller must
give exactly the variables the template uses: a missing or an unknown one is named.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta
from jinja2.nodes import Template as TemplateNode
from jinja2.sandbox import SandboxedEnvironment

from lmops.core.errors import InvalidInput
from lmops.core.text import check_text

MAX_TEMPLATE_CHARS = 100_000
_QUOTED = r"""(?:'[^']*'|"[^"]*"|[^'"])*?"""
# A placeholder, a tag or a comment (quoted text inside may hold braces), else a stray mark.
_BLOCKS = re.compile(
    rf"\{{\{{{_QUOTED}\}}\}}|\{{%{_QUOTED}%\}}|\{{#.*?#\}}|(?P<stray>\{{\{{|\}}\}}|\{{%|%\}})",
    re.DOTALL,
)

_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def check_template(source: str, field: str = "template") -> list[str]:
    """Refuse a template that cannot render; return the variables it uses, sorted."""
    check_text(source, field, max_length=MAX_TEMPLATE_CHARS)
    try:
        tree = _env.parse(source)
        _env.from_string(tree)  # compiling finds unknown filters and tests
    except TemplateSyntaxError as exc:
        raise InvalidInput(
            f"{field} has a syntax error at line {exc.lineno}: {exc.message}", field=field
        ) from None
    except TemplateError as exc:  # an unknown filter or test is an assertion error
        raise InvalidInput(f"{field} cannot be compiled: {exc.message}", field=field) from None
    _refuse_stray_braces(source, field)
    return sorted(meta.find_undeclared_variables(tree))


def _refuse_stray_braces(source: str, field: str) -> None:
    """Jinja keeps a lone `}}` as text; in a prompt it is an unbalanced placeholder."""
    for match in _BLOCKS.finditer(source):
        mark = match["stray"]
        if mark is not None:
            line = source.count("\n", 0, match.start()) + 1
            column = match.start() - (source.rfind("\n", 0, match.start()) + 1) + 1
            raise InvalidInput(
                f"{field} has an unbalanced {mark!r} at line {line}, column {column}",
                field=field,
            )


def render(source: str, variables: Mapping[str, Any], field: str = "template") -> str:
    """The template with `variables` filled in (all of them must be given)."""
    try:
        return _env.from_string(source).render(variables)
    except TemplateError as exc:  # an undefined attribute, a sandbox refusal
        raise InvalidInput(f"cannot render {field}: {exc.message}", field="variables") from None
    except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
        raise InvalidInput(f"cannot render {field}: {exc}", field="variables") from None


def check_variables(expected: Iterable[str], given: Mapping[str, Any]) -> None:
    """Refuse variables that are missing or that the template does not use, naming them."""
    wanted = set(expected)
    missing = sorted(wanted - set(given))
    unknown = sorted(set(given) - wanted)
    uses = ", ".join(sorted(wanted)) or "no variables"
    if missing:
        raise InvalidInput(
            f"missing variable{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(the prompt uses {uses})",
            field="variables",
        )
    if unknown:
        raise InvalidInput(
            f"unknown variable{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
            f"(the prompt uses {uses})",
            field="variables",
        )


def variables_of(sources: Iterable[str]) -> list[str]:
    """The variables a set of already-checked templates use, sorted."""
    found: set[str] = set()
    for source in sources:
        tree: TemplateNode = _env.parse(source)
        found |= meta.find_undeclared_variables(tree)
    return sorted(found)
