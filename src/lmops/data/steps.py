"""Preparation steps: each reads a version, writes a new one and records itself in the recipe.

A step is a function `fn(ctx, **params) -> report` registered with `@step("name")`. The
recipe of the version it makes is `{"op": name, "params": {...}}` with every default
filled in and every dataset URI pinned to a version number, so the same recipe run on
the same input gives the same rows, and the same Parquet bytes (see lmops.data.parquet).
The report (what the step found: rows removed, clusters, PII replaced) is stored with
the version.
"""

from __future__ import annotations

import inspect
import json
import tempfile
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from lmops.core.errors import InvalidInput
from lmops.data.entities import Column, DatasetVersion
from lmops.data.files import local_parquet
from lmops.data.parquet import ROW_GROUP_ROWS, ParquetOut, columns_of
from lmops.data.progress import Echo, Progress, job
from lmops.data.store import DataStore, check_dataset_name

Report = dict[str, Any]
StepFn = Callable[..., Report]

# Constrained parameter types: bind() checks every parameter against its annotation.
Seed = Annotated[int, Field(ge=0, lt=2**63)]
Share = Annotated[float, Field(gt=0, le=1)]
Count = Annotated[int, Field(ge=0)]


@dataclass(frozen=True)
class StepSpec:
    name: str
    fn: StepFn
    version_params: tuple[str, ...]  # parameters that name another dataset version
    pin: Callable[[dict[str, Any]], dict[str, Any]] | None  # fills the recipe's params


_STEPS: dict[str, StepSpec] = {}


def step(
    name: str,
    *,
    version_params: tuple[str, ...] = (),
    pin: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Callable[[StepFn], StepFn]:
    """Register a step function under `name`.

    `version_params` name parameters that are dataset URIs (pinned to a version number in
    the recipe); `pin` completes the parameters before they go into the recipe.
    """

    def register(fn: StepFn) -> StepFn:
        _STEPS[name] = StepSpec(name, fn, version_params, pin)
        return fn

    return register


def steps() -> dict[str, StepSpec]:
    """Every registered step, by name (the built-in ones load on first use)."""
    from lmops.data import dedup, rows, transforms  # noqa: F401  (they register themselves)

    return dict(sorted(_STEPS.items()))


def lookup(op: str) -> StepSpec:
    found = steps()
    if op not in found:
        raise InvalidInput(f"unknown step {op!r}: use one of {', '.join(found)}", field="op")
    return found[op]


@dataclass
class StepInput:
    version: DatasetVersion
    path: Path


@dataclass
class StepContext:
    """What a step works with: its input file(s), where to write, and progress to report."""

    source: StepInput
    others: dict[str, StepInput]
    dest: Path
    progress: Progress
    executor: str | None = None
    written: list[Column] = field(default_factory=list)
    rows_written: int = -1

    @property
    def columns(self) -> list[str]:
        return [c.name for c in self.source.version.columns]

    def column_type(self, name: str) -> str:
        self.require(name)
        return next(c.type for c in self.source.version.columns if c.name == name)

    def require(self, *names: str, of: StepInput | None = None) -> None:
        """Each name must be a column of the input (or of `of`), else one clear error."""
        target = of or self.source
        have = [c.name for c in target.version.columns]
        missing = [n for n in names if n not in have]
        if missing:
            raise InvalidInput(
                f"{target.version.uri} has no column {', '.join(map(repr, missing))}; "
                f"its columns are {', '.join(have)}",
                field="params",
            )

    def batches(self, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
        """The input's rows in Arrow batches, advancing the progress as they are read."""
        self.progress.start("reading", self.source.version.row_count)
        file = pq.ParquetFile(self.source.path)
        for batch in file.iter_batches(batch_size=ROW_GROUP_ROWS, columns=columns):
            yield batch
            self.progress.advance(batch.num_rows)

    def schema(self) -> pa.Schema:
        """The input's Arrow schema, as stored in its Parquet file."""
        return pq.read_schema(self.source.path)

    def write_kept(self, keep: Any) -> None:
        """Write the input rows where the boolean array `keep` (one item per row) is true."""

        def kept() -> Iterator[pa.RecordBatch]:
            start = 0
            for batch in self.batches():
                yield batch.filter(pa.array(keep[start : start + batch.num_rows]))
                start += batch.num_rows

        self.write(self.schema(), kept())

    def write(self, schema: pa.Schema, batches: Iterable[pa.RecordBatch | pa.Table]) -> None:
        """Write the step's output; call once."""
        with ParquetOut(self.dest, schema) as out:
            for batch in batches:
                out.add(batch)
            self.rows_written = out.close()
        self.written = columns_of(out.schema)


def apply(
    store: DataStore,
    uri: str,
    op: str,
    params: Mapping[str, Any] | None = None,
    *,
    into: str | None = None,
    description: str = "",
    echo: Echo | None = None,
    executor: str | None = None,
) -> DatasetVersion:
    """Run step `op` on version `uri`; register the result as the next version of `into`.

    `into` defaults to the input's dataset. On any error nothing is registered.
    """
    spec = lookup(op)
    source = store.get_version(uri)
    bound = bind(spec, dict(params or {}))
    pinned, others = _pin_versions(store, spec, bound)
    name = check_dataset_name(into) if into is not None else source.dataset_name
    recipe = {"op": op, "params": pinned}
    with (
        job(store, name, op, input_version_id=source.id, echo=echo) as progress,
        tempfile.TemporaryDirectory(prefix="lmops-step-") as tmp,
        ExitStack() as files,
    ):
        inputs = {
            key: StepInput(v, files.enter_context(local_parquet(store, v)))
            for key, v in {"": source, **others}.items()
        }
        source_in = inputs.pop("")
        ctx, report = run(spec, source_in, inputs, pinned, Path(tmp), progress, executor)
        version = store.add_version(
            name,
            ctx.dest,
            columns=ctx.written,
            row_count=ctx.rows_written,
            recipe=recipe,
            parent_version_id=source.id,
            description=description,
            report=report,
            extra_parents=[o.id for o in others.values()],
        )
        progress.output_version_id = version.id
    return version


def run(
    spec: StepSpec,
    source: StepInput,
    others: Mapping[str, StepInput],
    params: Mapping[str, Any],
    workdir: Path,
    progress: Progress,
    executor: str | None = None,
) -> tuple[StepContext, Report]:
    """Run one step into `workdir/data.parquet` without registering anything."""
    ctx = StepContext(
        source=source,
        others=dict(others),
        dest=workdir / "data.parquet",
        progress=progress,
        executor=executor,
    )
    report = spec.fn(ctx, **params)
    if ctx.rows_written < 0:
        raise RuntimeError(f"step {spec.name!r} wrote no output")
    return ctx, report


def bind(spec: StepSpec, params: dict[str, Any]) -> dict[str, Any]:
    """Check the parameter names and fill in defaults; the result goes into the recipe."""
    signature = inspect.signature(spec.fn)
    accepted = list(signature.parameters)[1:]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise InvalidInput(
            f"step {spec.name!r} has no parameter {', '.join(unknown)}; "
            f"it takes {', '.join(accepted) or 'none'}",
            field="params",
        )
    missing = [
        name
        for name in accepted
        if name not in params and signature.parameters[name].default is inspect.Parameter.empty
    ]
    if missing:
        raise InvalidInput(f"step {spec.name!r} needs {', '.join(missing)}", field="params")
    filled = {name: params.get(name, signature.parameters[name].default) for name in accepted}
    typed = {name: _typed(spec, name, value) for name, value in filled.items()}
    try:
        json.dumps(typed, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"the parameters of step {spec.name!r} must be JSON values: {exc}", field="params"
        ) from None
    return typed


def ordered_pairs(mapping: Mapping[str, Any] | list[Any]) -> list[list[Any]]:
    """A mapping whose order matters as [key, value] pairs: a recipe stored as PostgreSQL
    JSONB would otherwise come back with its keys reordered."""
    items = mapping.items() if isinstance(mapping, Mapping) else mapping
    return [[key, value] for key, value in items]


def param_types(spec: StepSpec) -> dict[str, Any]:
    """The annotated type of each parameter of a step."""
    hints = typing.get_type_hints(spec.fn, include_extras=True)
    return {name: hints[name] for name in list(inspect.signature(spec.fn).parameters)[1:]}


def _typed(spec: StepSpec, name: str, value: Any) -> Any:
    """`value` checked against the parameter's annotation (numbers in strings are read)."""
    from pydantic import TypeAdapter, ValidationError

    kind = param_types(spec)[name]
    try:
        return TypeAdapter(kind).validate_python(value)
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"]
        raise InvalidInput(
            f"step {spec.name!r}, parameter {name}: {problem} (got {value!r})", field=name
        ) from None


def _pin_versions(
    store: DataStore, spec: StepSpec, params: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, DatasetVersion]]:
    """Resolve dataset URIs among the parameters to fixed versions (no @latest in a recipe)."""
    pinned, others = dict(params), {}
    if spec.pin is not None:
        pinned = spec.pin(pinned)
    for key in spec.version_params:
        version = store.get_version(str(params[key]))
        pinned[key] = version.uri
        others[key] = version
    return pinned, others
