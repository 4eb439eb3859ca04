"""The run search language: `metrics.loss < 0.5 and params.lr = '0.01'`.

    filter     := disjunct ("or" disjunct)*
    disjunct   := atom ("and" atom)*
    atom       := "(" filter ")" | field op value
    field      := (metrics|params|tags|attributes) "." name  |  attribute name
    op         := = != < <= > >= like ilike in "not in"
    value      := number | 'text' | "text" | "(" value ("," value)* ")"

Names with odd characters are quoted: metrics.`val loss`. Parsing is pure; the tracking
store compiles the tree into SQL. Every error says at which character it failed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from lmops.core.errors import InvalidFilter, InvalidInput

Kind = Literal["metrics", "params", "tags", "attributes"]
Value = float | str | tuple[float | str, ...]

ATTRIBUTES = {
    "id": "str",
    "run_id": "str",
    "name": "str",
    "status": "str",
    "start_time": "time",
    "end_time": "time",
    "parent_run_id": "str",
}
_KIND_ALIASES: dict[str, Kind] = {
    "metrics": "metrics",
    "metric": "metrics",
    "params": "params",
    "param": "params",
    "tags": "tags",
    "tag": "tags",
    "attributes": "attributes",
    "attribute": "attributes",
    "attr": "attributes",
    "run": "attributes",
}
MAX_DEPTH = 32
MAX_COMPARISONS = 200
MAX_TIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_NUMERIC_OPS = {"=", "!=", "<", "<=", ">", ">="}
_TEXT_OPS = {"=", "!=", "like", "ilike", "in", "not in"}

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<quoted>`[^`]*`)
  | (?P<op><=|>=|!=|<>|==|=|<|>)
  | (?P<punct>[(),.])
  | (?P<word>[A-Za-z_][A-Za-z0-9_\-:/]*)
""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Comparison:
    kind: Kind
    key: str
    op: str
    value: Value


@dataclass(frozen=True)
class BoolOp:
    op: Literal["and", "or"]
    items: tuple[Node, ...]


Node = Comparison | BoolOp


@dataclass(frozen=True)
class OrderKey:
    kind: Kind
    key: str
    descending: bool


@dataclass(frozen=True)
class _Tok:
    type: str
    text: str
    pos: int


def _tokenize(source: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if not m:
            raise InvalidFilter(f"unexpected character {source[pos]!r}", position=pos)
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append(_Tok(kind, m.group(), pos))
        pos = m.end()
    tokens.append(_Tok("end", "", len(source)))
    return tokens


class _Parser:
    def __init__(self, source: str) -> None:
        self.toks = _tokenize(source)
        self.i = 0
        self.depth = 0
        self.comparisons = 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def word_is(self, *words: str) -> bool:
        return self.tok.type == "word" and self.tok.text.lower() in words

    def fail(self, message: str) -> InvalidFilter:
        found = repr(self.tok.text) if self.tok.type != "end" else "end of filter"
        return InvalidFilter(f"{message}, found {found}", position=self.tok.pos)

    def expect_end(self) -> None:
        if self.tok.type != "end":
            raise self.fail("expected 'and', 'or' or the end")

    def filter(self) -> Node:
        items = [self.conjunction()]
        while self.word_is("or"):
            self.take()
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def conjunction(self) -> Node:
        items = [self.atom()]
        while self.word_is("and"):
            self.take()
            items.append(self.atom())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def atom(self) -> Node:
        if self.tok.text == "(":
            if self.depth == MAX_DEPTH:
                raise self.fail(f"parentheses nest deeper than {MAX_DEPTH}")
            self.take()
            self.depth += 1
            node = self.filter()
            self.depth -= 1
            if self.tok.text != ")":
                raise self.fail("expected ')'")
            self.take()
            return node
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise self.fail(f"a filter holds at most {MAX_COMPARISONS} comparisons")
        kind, key = self.field()
        op_pos = self.tok.pos
        op = self.operator()
        value_pos = self.tok.pos
        value = self.value(list_allowed=op in ("in", "not in"))
        _check_types(kind, key, op, value, op_pos, value_pos)
        return Comparison(kind, key, op, value)

    def field(self) -> tuple[Kind, str]:
        tok = self.tok
        if tok.type != "word":
            raise self.fail("expected a field such as metrics.loss, params.lr or status")
        self.take()
        if self.tok.text != ".":
            if tok.text.lower() in ATTRIBUTES:
                return "attributes", tok.text.lower()
            raise InvalidFilter(
                f"unknown field {tok.text!r}: use metrics.<key>, params.<key>, tags.<key> "
                f"or an attribute ({', '.join(sorted(ATTRIBUTES))})",
                position=tok.pos,
            )
        kind = _KIND_ALIASES.get(tok.text.lower())
        if kind is None:
            raise InvalidFilter(
                f"unknown prefix {tok.text!r}: use metrics, params, tags or attributes",
                position=tok.pos,
            )
        self.take()
        name = self.tok
        if name.type == "word":
            key = name.text
        elif name.type in ("quoted", "str"):
            key = name.text[1:-1]
        else:
            raise self.fail(f"expected a key after '{tok.text}.'")
        self.take()
        if self.tok.text == "." and name.type == "word":
            raise InvalidFilter(
                f"a key with dots needs backticks: {tok.text}.`{key}.{self.toks[self.i + 1].text}`",
                position=name.pos,
            )
        if kind == "attributes" and key.lower() not in ATTRIBUTES:
            raise InvalidFilter(
                f"unknown attribute {key!r}; known: {', '.join(sorted(ATTRIBUTES))}",
                position=name.pos,
            )
        return kind, key.lower() if kind == "attributes" else key

    def operator(self) -> str:
        tok = self.tok
        if tok.type == "op":
            self.take()
            return {"==": "=", "<>": "!="}.get(tok.text, tok.text)
        if self.word_is("like", "ilike", "in"):
            return self.take().text.lower()
        if self.word_is("not"):
            self.take()
            if not self.word_is("in"):
                raise self.fail("expected 'in' after 'not'")
            self.take()
            return "not in"
        raise self.fail("expected a comparator (=, !=, <, <=, >, >=, like, ilike, in, not in)")

    def value(self, *, list_allowed: bool) -> Value:
        tok = self.tok
        if list_allowed:
            if tok.text != "(":
                raise self.fail("expected '(' to open a list of values")
            self.take()
            values = [self.scalar()]
            while self.tok.text == ",":
                self.take()
                values.append(self.scalar())
            if self.tok.text != ")":
                raise self.fail("expected ',' or ')' in the list of values")
            self.take()
            return tuple(values)
        return self.scalar()

    def scalar(self) -> float | str:
        tok = self.tok
        if tok.type == "num":
            self.take()
            return float(tok.text)
        if tok.type == "str":
            self.take()
            return re.sub(r"\\(.)", r"\1", tok.text[1:-1])
        raise self.fail("expected a number or a quoted string")


def _check_types(kind: Kind, key: str, op: str, value: Value, op_pos: int, value_pos: int) -> None:
    if kind == "metrics":
        if op not in _NUMERIC_OPS:
            raise InvalidFilter(
                f"metrics compare with =, !=, <, <=, >, >=, not {op!r}", position=op_pos
            )
        if not isinstance(value, float):
            raise InvalidFilter(f"metrics.{key} compares with a number", position=value_pos)
        return
    typ = ATTRIBUTES.get(key, "str") if kind == "attributes" else "str"
    if typ == "time":
        if op not in _NUMERIC_OPS:
            raise InvalidFilter(f"{key} compares with =, !=, <, <=, >, >=", position=op_pos)
        if not isinstance(value, float) or not 0 <= value <= MAX_TIME_MS:
            raise InvalidFilter(
                f"{key} compares with milliseconds since the epoch (0 to {MAX_TIME_MS})",
                position=value_pos,
            )
        return
    if op not in _TEXT_OPS:
        raise InvalidFilter(
            f"{kind}.{key} is text: compare with =, !=, like, ilike, in, not in, not {op!r}",
            position=op_pos,
        )
    values = value if isinstance(value, tuple) else (value,)
    if not all(isinstance(v, str) for v in values):
        raise InvalidFilter(
            f"{kind}.{key} is text: quote the value, e.g. '0.01'", position=value_pos
        )


def parse_filter(source: str | None) -> Node | None:
    """Parse a filter string; None or blank means no filter."""
    if source is None or not source.strip():
        return None
    parser = _Parser(source)
    node = parser.filter()
    parser.expect_end()
    return node


def parse_order_by(clauses: list[str] | None) -> list[OrderKey]:
    """Parse `["metrics.loss ASC", "start_time DESC"]` into order keys."""
    keys: list[OrderKey] = []
    for clause in clauses or []:
        parser = _Parser(clause)
        kind, key = parser.field()
        descending = False
        if parser.word_is("asc", "desc"):
            descending = parser.take().text.lower() == "desc"
        if parser.tok.type != "end":
            raise InvalidInput(
                f"invalid order_by {clause!r}: expected '<field> [ASC|DESC]' "
                f"(at position {parser.tok.pos})",
                field="order_by",
            )
        keys.append(OrderKey(kind, key, descending))
    return keys
