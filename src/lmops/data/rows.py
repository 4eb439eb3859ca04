"""Row-wise steps: map, sample, split, convert (chat, prompt/completion, preference), redact_pii.

All of them stream the input batch by batch; sample makes one extra pass over row numbers
only. Sampling and splitting decide each row by a stable 64-bit hash (of its row number
or of its key) mixed with the seed, so the same seed gives the same rows on any machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc
from pydantic import Field

from lmops.core.errors import InvalidInput
from lmops.data.functions import get_function
from lmops.data.hashing import hash_strings, hash_uint64
from lmops.data.steps import Count, Report, Seed, Share, StepContext, ordered_pairs, step

_TWO_64 = float(2**64)
PRODUCES = {
    "chat": ("messages",),
    "prompt_completion": ("prompt", "completion"),
    "preference": ("prompt", "chosen", "rejected"),
}
MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])


def _with_module(params: dict[str, Any]) -> dict[str, Any]:
    if params.get("module") is None:
        params["module"] = get_function(str(params["function"])).module
    return params


@step("map", pin=_with_module)
def map_rows(ctx: StepContext, function: str, module: str | None = None) -> Report:
    """Apply the function registered as `function` (see lmops.data.functions) to every row.

    Each mapped batch is spooled to an Arrow file next to the output; the column types are
    then unified over all of them (an int column that later holds 1.5 becomes a float one,
    a column missing from some batches is null there), and the batches are written out.
    """
    registered = get_function(function, module)
    dropped = 0
    spool = ctx.dest.parent / "map-spool"
    spool.mkdir()
    parts: list[Path] = []
    for batch in ctx.batches():
        out, gone = _map_batch(registered.fn, registered.batched, batch, function)
        dropped += gone
        if out.num_rows:
            parts.append(spool / f"{len(parts)}.arrow")
            with pa.OSFile(str(parts[-1]), "wb") as sink, pa.ipc.new_file(sink, out.schema) as w:
                w.write_table(out)
    if not parts:
        raise InvalidInput(f"map function {function!r} dropped every row: nothing to write")
    schema = _unified([pa.ipc.open_file(p).schema for p in parts], function)
    ctx.write(schema, (_conform(pa.ipc.open_file(p).read_all(), schema) for p in parts))
    return {"function": function, "rows_dropped": dropped}


def _map_batch(fn: Any, batched: bool, batch: pa.RecordBatch, name: str) -> tuple[pa.Table, int]:
    """The mapped rows of one batch and how many rows the function dropped."""
    if batched:
        out = fn(batch)
        if not isinstance(out, pa.RecordBatch | pa.Table):
            raise InvalidInput(f"a batched map function must return a RecordBatch, not {out!r}")
        return pa.Table.from_batches([out]) if isinstance(out, pa.RecordBatch) else out, 0
    rows = []
    for row in batch.to_pylist():
        result = fn(row)
        if result is not None and not isinstance(result, dict):
            raise InvalidInput(f"a map function must return a dict or None, not {result!r}")
        if result is not None:
            rows.append(result)
    try:
        return pa.Table.from_pylist(rows), batch.num_rows - len(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidInput(
            f"map function {name!r} returned values Arrow cannot hold: {exc}"
        ) from None


def _unified(schemas: list[pa.Schema], name: str) -> pa.Schema:
    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidInput(
            f"map function {name!r} returned columns whose types disagree between rows: {exc}"
        ) from None


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with every column of `schema` (null where it has none), cast to its type."""
    columns = [
        table.column(f.name) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    try:
        return pa.Table.from_arrays(columns, names=schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidInput(f"mapped rows do not fit the unified schema {schema}: {exc}") from None


def _peek(batches: Iterator[Any]) -> tuple[Any, Iterator[Any]]:
    for first in batches:
        return first, batches
    return None, iter(())


def _conformed(first: Any, rest: Iterator[Any], schema: pa.Schema, what: str) -> Iterator[Any]:
    if first is None:
        return
    yield first
    for batch in rest:
        try:
            yield batch.select(schema.names).cast(schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, KeyError) as exc:
            raise InvalidInput(
                f"{what}: the rows' column types change between batches: {exc}"
            ) from None


@step("sample")
def sample(
    ctx: StepContext, n: Count | None = None, fraction: Share | None = None, seed: Seed = 0
) -> Report:
    """Keep `n` rows, or about `fraction` of them, chosen by a seeded hash; order is kept."""
    total = ctx.source.version.row_count
    if (n is None) == (fraction is None):
        raise InvalidInput("sample takes one of n (a row count) or fraction (0 to 1)")
    keys = hash_uint64(np.arange(total, dtype=np.uint64) ^ hash_uint64(np.array([seed], "u8")))
    if fraction is not None:
        keep = np.ones(total, bool) if fraction >= 1 else keys < np.uint64(int(fraction * 2**64))
    else:
        keep = np.zeros(total, dtype=bool)
        keep[np.argsort(keys, kind="stable")[: min(n or 0, total)]] = True
    del keys
    ctx.write_kept(keep)
    return {"rows_in": total, "rows_out": int(keep.sum())}


DEFAULT_FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}
Fraction = Annotated[float, Field(ge=0, le=1)]


def _with_fractions(params: dict[str, Any]) -> dict[str, Any]:
    params["fractions"] = ordered_pairs(params.get("fractions") or DEFAULT_FRACTIONS)
    return params


@step("split", pin=_with_fractions)
def split(
    ctx: StepContext,
    key: str,
    fractions: dict[str, Fraction] | list[tuple[str, Fraction]] | None = None,
    seed: Seed = 0,
    column: str = "split",
    check_column: str | None = None,
) -> Report:
    """Add a `column` naming each row's split, decided by a seeded hash of the `key` column.

    `fractions` defaults to {"train": 0.8, "validation": 0.1, "test": 0.1}; the recipe keeps
    it as [name, share] pairs, since the order decides which rows go where. Rows with the
    same key land in the same split. With `check_column` (a text column) the report also
    holds the leakage check between the splits (see lmops.data.dedup.leakage).
    """
    fractions = dict(fractions or DEFAULT_FRACTIONS)
    ctx.require(key)
    if check_column is not None and ctx.column_type(check_column) not in ("string", "large_string"):
        raise InvalidInput(f"the leakage check compares text: {check_column!r} is not a string")
    if not column or column in ctx.columns:
        raise InvalidInput(f"{ctx.source.version.uri} already has a column {column!r}")
    if not fractions or not all(fractions):
        raise InvalidInput(f"name each split and its share, e.g. train=0.8: {fractions}")
    if abs(sum(fractions.values()) - 1) > 1e-9:
        raise InvalidInput(f"fractions must add up to 1, not {sum(fractions.values())}")
    names = list(fractions)
    bounds = np.cumsum([fractions[n] for n in names])[:-1] * _TWO_64
    salt = hash_uint64(np.array([seed], dtype=np.uint64))
    counts = dict.fromkeys(names, 0)
    labels = pa.array(names, pa.string())

    def labelled() -> Iterator[pa.RecordBatch]:
        for batch in ctx.batches():
            keys = hash_uint64(hash_strings(pc.cast(batch.column(key), pa.string())) ^ salt)
            which = np.searchsorted(bounds, keys.astype(np.float64), side="right")
            for i, count in enumerate(np.bincount(which, minlength=len(names))):
                counts[names[i]] += int(count)
            yield batch.append_column(column, pc.take(labels, pa.array(which)))

    schema = ctx.schema().append(pa.field(column, pa.string()))
    ctx.write(schema, labelled())
    report: Report = {"counts": counts}
    if check_column is not None:
        from lmops.data.dedup import leakage

        report["leakage"] = leakage(ctx.dest, check_column, column, executor=ctx.executor)
    return report


@step("convert")
def convert(
    ctx: StepContext,
    to: Literal["chat", "prompt_completion", "preference"],
    prompt: str = "prompt",
    completion: str = "completion",
    messages: str = "messages",
    chosen: str = "chosen",
    rejected: str = "rejected",
    system: str | None = None,
    keep: list[str] | None = None,
) -> Report:
    """Convert to a training format, keeping the columns in `keep` as they are.

    - chat: a `messages` column of {role, content} from the `prompt` and `completion` text
      columns (with a first system message when `system` is given);
    - prompt_completion: `prompt` and `completion` text columns, from those columns or from
      a `messages` column (prompt: the messages before the last assistant message;
      completion: that message), as TRL's conversational prompt-completion format;
    - preference: `prompt`, `chosen` and `rejected` text columns for DPO-style training.
    """
    keep = list(keep or [])
    ctx.require(*keep)
    if to == "chat":
        ctx.require(prompt, completion)
        build = _to_chat(prompt, completion, system)
    elif to == "prompt_completion":
        if messages in ctx.columns and prompt not in ctx.columns:
            build = _chat_to_prompt_completion(messages)
        else:
            ctx.require(prompt, completion)
            build = _renamed({prompt: "prompt", completion: "completion"})
    else:  # preference; bind() refused any other format
        ctx.require(prompt, chosen, rejected)
        build = _renamed({prompt: "prompt", chosen: "chosen", rejected: "rejected"})
    taken = [k for k in keep if k in PRODUCES[to]]
    if taken:
        raise InvalidInput(f"keep={taken} would overwrite the {to} columns of the same name")
    # the output schema comes from converting no rows, so an empty input converts too
    schema = build(pa.RecordBatch.from_pylist([], schema=ctx.schema()), keep).schema
    out = (build(batch, keep) for batch in ctx.batches())
    first, rest = _peek(out)
    ctx.write(schema, _conformed(first, rest, schema, f"convert to {to}"))
    return {"format": to, "columns": schema.names}


def _renamed(mapping: dict[str, str]) -> Any:
    """Columns renamed; text stays text, and message lists (TRL's conversational form) stay
    message lists."""

    def build(batch: pa.RecordBatch, keep: list[str]) -> pa.Table:
        cols = {new: _as_text_or_messages(batch.column(old), old) for old, new in mapping.items()}
        return pa.table({**cols, **{k: batch.column(k) for k in keep if k not in cols}})

    return build


def _as_text_or_messages(column: pa.Array, name: str) -> pa.Array:
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind):
        return pc.cast(column, pa.string())
    if pa.types.is_list(kind) and pa.types.is_struct(kind.value_type):
        return column
    raise InvalidInput(f"column {name!r} is {kind}: convert takes text or lists of messages")


def _to_chat(prompt: str, completion: str, system: str | None) -> Any:
    def build(batch: pa.RecordBatch, keep: list[str]) -> pa.Table:
        n = batch.num_rows
        parts = [("user", batch.column(prompt)), ("assistant", batch.column(completion))]
        if system is not None:
            parts.insert(0, ("system", pa.array([system] * n, pa.string())))
        per_row = len(parts)
        roles = pa.array([role for _ in range(n) for role, _ in parts], pa.string())
        contents = pa.concat_arrays([pc.cast(col, pa.string()) for _, col in parts])
        order = (np.arange(per_row)[None, :] * n + np.arange(n)[:, None]).ravel()
        values = pa.StructArray.from_arrays(
            [roles, pc.take(contents, pa.array(order))], fields=list(MESSAGE)
        )
        offsets = pa.array(np.arange(0, (n + 1) * per_row, per_row, dtype=np.int32))
        msgs = pa.ListArray.from_arrays(offsets, values, type=pa.list_(MESSAGE))
        return pa.table({"messages": msgs, **{k: batch.column(k) for k in keep}})

    return build


def _chat_to_prompt_completion(messages: str) -> Any:
    def build(batch: pa.RecordBatch, keep: list[str]) -> pa.Table:
        prompts, completions = [], []
        for row in batch.column(messages).to_pylist():
            row = row or []
            last = max(
                (i for i, m in enumerate(row) if m and m.get("role") == "assistant"), default=None
            )
            if last is None:
                raise InvalidInput(
                    f"a row of {messages!r} has no assistant message to make the completion"
                )
            prompts.append(row[:last])
            completions.append([row[last]])
        typ = pa.list_(MESSAGE)
        cols = {"prompt": pa.array(prompts, typ), "completion": pa.array(completions, typ)}
        return pa.table({**cols, **{k: batch.column(k) for k in keep}})

    return build


@step("redact_pii")
def redact_pii(
    ctx: StepContext, columns: list[str] | None = None, kinds: list[str] | None = None
) -> Report:
    """Replace PII in the string `columns` (all string columns by default) by [KIND] markers."""
    from lmops.data.pii import KINDS, redact

    kinds = list(kinds or KINDS)
    targets = list(columns) if columns is not None else _string_columns(ctx)
    ctx.require(*targets)
    not_text = [c for c in targets if c not in _string_columns(ctx)]
    if not_text:
        raise InvalidInput(f"redact_pii works on string columns; {not_text} are not strings")
    found: dict[str, dict[str, int]] = {c: dict.fromkeys(kinds, 0) for c in targets}

    def redacted() -> Iterator[pa.RecordBatch]:
        for batch in ctx.batches():
            arrays = list(batch.columns)
            for name in targets:
                i = batch.schema.get_field_index(name)
                arrays[i], counts = redact(arrays[i], kinds)
                for kind, count in counts.items():
                    found[name][kind] += count
            yield pa.RecordBatch.from_arrays(arrays, schema=batch.schema)

    ctx.write(ctx.schema(), redacted())
    return {"replaced": found, "total": sum(sum(c.values()) for c in found.values())}


def _string_columns(ctx: StepContext) -> list[str]:
    return [c.name for c in ctx.source.version.columns if c.type in ("string", "large_string")]
