"""Profile a version: what is in each column, computed in chunks with bounded memory.

The version's row groups are cut into tasks of about TASK_ROWS rows. Each task (a
picklable top-level function, so an Executor can run it in another process or, later, on
a Ray cluster) returns mergeable partial states; merging them gives the profile. Per row
only a few numbers are kept (lengths, token counts, a 64-bit hash of the normalized
text), never the texts. Near-duplicates are counted by a separate MinHash LSH pass
(lmops.data.neardup). Language identification runs on a sample of `language_sample`
rows per text column and n-grams are counted on `ngram_sample` rows spread evenly over
the version; n-gram counts keep the heaviest hitters per task.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lmops.core.errors import InvalidInput
from lmops.core.ids import utcnow
from lmops.data.entities import (
    ChatProfile,
    ColumnProfile,
    DatasetVersion,
    Distribution,
    Profile,
    TextProfile,
    ValueCount,
)
from lmops.data.hashing import hash_strings, hash_uint64, normalize_text
from lmops.data.progress import Echo, Progress, job
from lmops.data.sketches import Distinct
from lmops.data.store import DataStore

TASK_ROWS = 100_000
CATEGORY_LIMIT = 50  # columns with at most this many distinct values get a distribution
BINS = 20
NGRAM_TOP = 20
OVERLONG_CHARS = 20_000


@dataclass(frozen=True)
class Options:
    tokenizer: str | None = None  # a tokenizer.json file, or a directory holding one
    near_duplicates: bool = True
    near_threshold: float = 0.8
    language_sample: int = 2000
    ngram_sample: int = 200_000
    overlong_chars: int = OVERLONG_CHARS
    overlong_tokens: int | None = None
    seed: int = 0


@dataclass
class TextState:
    rows: int = 0
    chars: list[np.ndarray] = field(default_factory=list)
    tokens: list[np.ndarray] = field(default_factory=list)
    hashes: list[np.ndarray] = field(default_factory=list)
    empty: int = 0
    control: int = 0
    pii: Counter[str] = field(default_factory=Counter)
    languages: Counter[str] = field(default_factory=Counter)
    sampled: int = 0
    ngrams: dict[int, Any] = field(default_factory=dict)

    def merge(self, other: TextState) -> None:
        self.rows += other.rows
        self.chars += other.chars
        self.tokens += other.tokens
        self.hashes += other.hashes
        self.empty += other.empty
        self.control += other.control
        self.pii.update(other.pii)
        self.languages.update(other.languages)
        self.sampled += other.sampled
        for n, counter in other.ngrams.items():
            if n in self.ngrams:
                self.ngrams[n].merge(counter)
            else:
                self.ngrams[n] = counter


@dataclass
class ColumnState:
    kind: str = "other"
    nulls: int = 0
    distinct: Distinct | None = None
    values: Counter[str] | None = field(default_factory=Counter)  # None once past the limit
    numbers: list[np.ndarray] = field(default_factory=list)
    text: TextState | None = None
    turns: list[np.ndarray] = field(default_factory=list)
    roles: Counter[str] = field(default_factory=Counter)

    def merge(self, other: ColumnState) -> None:
        self.nulls += other.nulls
        if self.distinct is not None and other.distinct is not None:
            self.distinct.merge(other.distinct)
        if self.values is not None and other.values is not None:
            self.values.update(other.values)
            if len(self.values) > CATEGORY_LIMIT:
                self.values = None
        else:
            self.values = None
        self.numbers += other.numbers
        if self.text is not None and other.text is not None:
            self.text.merge(other.text)
        self.turns += other.turns
        self.roles.update(other.roles)


def profile_version(
    store: DataStore,
    version: DatasetVersion,
    options: Options | None = None,
    *,
    executor: str | None = None,
    echo: Echo | None = None,
) -> Profile:
    """Profile `version` as a job (its progress shows in the UI and through `echo`), store
    the profile with the version, and return it."""
    options = options or Options()
    _check_tokenizer(options.tokenizer)
    with job(store, version.dataset_name, "profile", input_version_id=version.id, echo=echo) as p:
        return _profile(store, version, options, executor, p)


def _profile(
    store: DataStore,
    version: DatasetVersion,
    options: Options,
    executor: str | None,
    progress: Progress,
) -> Profile:
    from lmops.data.files import local_parquet

    started = time.monotonic()
    with local_parquet(store, version) as path:
        states = _run_tasks(path, version, options, executor, progress)
        near = _near_duplicates(path, version, states, options, executor, progress)
    columns = [
        _column_profile(c.name, c.type, states[c.name], near.get(c.name), options)
        for c in version.columns
    ]
    profile = Profile(
        version_id=version.id,
        row_count=version.row_count,
        columns=columns,
        options=dict(options.__dict__),
        duration_s=round(time.monotonic() - started, 3),
        created_at=utcnow(),
    )
    return store.save_profile(profile)


def _check_tokenizer(tokenizer: str | None) -> None:
    if tokenizer is not None and _tokenizer_file(tokenizer) is None:
        raise InvalidInput(
            f"no tokenizer at {tokenizer!r}: give a tokenizer.json file or a directory with one",
            field="tokenizer",
        )


def _tokenizer_file(tokenizer: str) -> Path | None:
    path = Path(tokenizer).expanduser()
    if path.is_dir():
        path = path / "tokenizer.json"
    return path if path.is_file() else None


def _run_tasks(
    path: Path,
    version: DatasetVersion,
    options: Options,
    executor: str | None,
    progress: Progress,
) -> dict[str, ColumnState]:
    tasks = _tasks(pq.ParquetFile(path))
    progress.start("profiling", version.row_count)
    merged: dict[str, ColumnState] | None = None
    samples = Samples.of(options, version.row_count)
    if executor is None or len(tasks) == 1:
        results = (profile_task(path, groups, options, samples) for groups in tasks)
        merged = _merge_all(results, progress)
    else:
        from lmops.core.executors import get_executor, map_bounded

        pool = get_executor(executor)
        try:
            items = ((path, groups, options, samples) for groups in tasks)
            merged = _merge_all(map_bounded(pool, profile_task, items), progress)
        finally:
            pool.shutdown()
    return merged


def _merge_all(results: Any, progress: Progress) -> dict[str, ColumnState]:
    merged: dict[str, ColumnState] = {}
    for rows, states in results:
        for name, state in states.items():
            if name in merged:
                merged[name].merge(state)
            else:
                merged[name] = state
        progress.advance(rows)
    return merged


def _tasks(file: pq.ParquetFile) -> list[list[int]]:
    tasks: list[list[int]] = [[]]
    rows = 0
    for i in range(file.num_row_groups):
        if rows >= TASK_ROWS:
            tasks.append([])
            rows = 0
        tasks[-1].append(i)
        rows += file.metadata.row_group(i).num_rows
    return tasks


@dataclass(frozen=True)
class Samples:
    """The share of each task's rows that language identification and n-grams look at."""

    languages: float
    ngrams: float

    @classmethod
    def of(cls, options: Options, rows: int) -> Samples:
        rows = max(rows, 1)
        return cls(min(1.0, options.language_sample / rows), min(1.0, options.ngram_sample / rows))


def profile_task(
    path: Path, groups: list[int], options: Options, samples: Samples
) -> tuple[int, dict[str, ColumnState]]:
    """Partial states of every column over some row groups of the file at `path`."""
    table = pq.ParquetFile(path).read_row_groups(groups)
    tokenizer = _load_tokenizer(options.tokenizer)
    states = {
        name: _column_state(table.column(name), options, tokenizer, samples)
        for name in table.column_names
    }
    return table.num_rows, states


def _load_tokenizer(tokenizer: str | None) -> Any:
    if tokenizer is None:
        return None
    from tokenizers import Tokenizer

    file = _tokenizer_file(tokenizer)
    assert file is not None
    return Tokenizer.from_file(str(file))


def kind_of(t: pa.DataType) -> str:
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "text"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    if _is_chat(t):
        return "chat"
    return "other"


def _is_chat(t: pa.DataType) -> bool:
    if not (pa.types.is_list(t) or pa.types.is_large_list(t)):
        return False
    item = t.value_type
    if not pa.types.is_struct(item) or not {"role", "content"} <= {f.name for f in item}:
        return False
    content = item.field("content").type
    return bool(pa.types.is_string(content) or pa.types.is_large_string(content))


def _column_state(
    column: pa.ChunkedArray, options: Options, tokenizer: Any, samples: Samples
) -> ColumnState:
    array = column.combine_chunks()
    kind = kind_of(array.type)
    state = ColumnState(kind=kind, nulls=array.null_count)
    valid = pc.drop_null(array)
    if kind in ("text", "number", "boolean"):
        state.distinct = Distinct()
        state.distinct.add(_value_hashes(valid, kind))
        counts = pc.value_counts(valid)
        if len(counts) <= CATEGORY_LIMIT:
            assert state.values is not None
            for item in counts.to_pylist():
                state.values[str(item["values"])] = int(item["counts"])
        else:
            state.values = None
    else:
        state.values = None
    if kind == "number":
        floats = pc.cast(valid, pa.float64(), safe=False)  # 2**53 + 1 may round; it is a summary
        state.numbers.append(floats.to_numpy(zero_copy_only=False))
    elif kind == "text":
        state.text = _text_state(array, options, tokenizer, samples)
    elif kind == "chat":
        state.turns.append(pc.fill_null(pc.list_value_length(array), 0).to_numpy())
        messages = pc.list_flatten(array)
        roles = pc.value_counts(pc.drop_null(pc.struct_field(messages, "role")))
        state.roles.update({str(r["values"]): int(r["counts"]) for r in roles.to_pylist()})
        contents = _joined_contents(array)
        state.text = _text_state(contents, options, tokenizer, samples)
    return state


def _joined_contents(array: pa.Array) -> pa.Array:
    """Each chat row's message contents joined by newlines."""
    flat = pc.list_flatten(array)
    contents = pc.fill_null(pc.struct_field(flat, "content"), "")
    offsets = pc.subtract(array.offsets, array.offsets[0])
    lists = pa.ListArray.from_arrays(offsets, contents, mask=array.is_null())
    return pc.binary_join(lists, "\n")


def _value_hashes(valid: pa.Array, kind: str) -> np.ndarray:
    """64-bit hashes of the values: integers by their own bits (a float64 cannot hold every
    int64), other numbers and booleans as float64."""
    if kind == "text":
        return hash_strings(valid)
    if pa.types.is_integer(valid.type):
        target = pa.uint64() if pa.types.is_unsigned_integer(valid.type) else pa.int64()
        bits = pc.cast(valid, target).to_numpy(zero_copy_only=False).view(np.uint64)
        return hash_uint64(np.ascontiguousarray(bits))
    values = pc.cast(valid, pa.float64(), safe=False).to_numpy(zero_copy_only=False)
    return hash_uint64(np.ascontiguousarray(values).view(np.uint64))


def _text_state(texts: pa.Array, options: Options, tokenizer: Any, samples: Samples) -> TextState:
    from lmops.data.language import language_mix
    from lmops.data.pii import count_pii
    from lmops.data.textstats import (
        NgramCounter,
        char_lengths,
        control_char_mask,
        empty_mask,
        tokens,
    )

    state = TextState(rows=len(texts))
    state.chars.append(char_lengths(texts).astype(np.int32))
    empty = empty_mask(texts)
    state.empty = int(empty.sum())
    state.control = int(control_char_mask(texts).sum())
    normalized = normalize_text(texts)
    hashes = hash_strings(normalized)
    state.hashes.append(hashes[~empty])
    state.pii.update(count_pii(texts))
    sample = max(1, round(len(texts) * samples.languages)) if len(texts) else 0
    if sample:
        languages, sampled = language_mix(texts, sample=sample, seed=options.seed)
        state.languages.update(languages)
        state.sampled = sampled
    words = tokens(_spread(texts, samples.ngrams))
    for n in (1, 2, 3):
        counter = NgramCounter(n)
        counter.add_tokens(words)
        state.ngrams[n] = counter
    if tokenizer is not None:
        state.tokens.append(_token_counts(texts, tokenizer))
    return state


def _spread(texts: pa.Array, fraction: float) -> pa.Array:
    """About `fraction` of the rows, evenly spaced (all of them when fraction is 1)."""
    if fraction >= 1 or not len(texts):
        return texts
    step = max(1, round(1 / fraction))
    return texts.take(pa.array(np.arange(0, len(texts), step)))


def _token_counts(texts: pa.Array, tokenizer: Any) -> np.ndarray:
    values = [t if t is not None else "" for t in texts.to_pylist()]
    encodings = tokenizer.encode_batch(values, add_special_tokens=False)
    counts = np.array([len(e.ids) for e in encodings], dtype=np.int32)
    counts[np.asarray(texts.is_null().to_numpy(zero_copy_only=False))] = -1
    return counts


def _near_duplicates(
    path: Path,
    version: DatasetVersion,
    states: dict[str, ColumnState],
    options: Options,
    executor: str | None,
    progress: Progress,
) -> dict[str, int]:
    """Rows per text column that are a near-duplicate of an earlier row."""
    if not options.near_duplicates:
        return {}
    from lmops.core.executors import get_executor
    from lmops.data.minhash import MinHashParams
    from lmops.data.neardup import find_near_duplicates

    found: dict[str, int] = {}
    for name in [name for name, state in states.items() if state.kind == "text"]:
        progress.start(f"near-duplicates in {name}", version.row_count)
        pool = get_executor(executor) if executor else None
        try:
            result = find_near_duplicates(
                path,
                name,
                MinHashParams(threshold=options.near_threshold),
                executor=pool,
                progress=progress,
            )
        finally:
            if pool is not None:
                pool.shutdown()
        found[name] = result.duplicate_rows
    return found


def _column_profile(
    name: str, type_: str, state: ColumnState, near: int | None, options: Options
) -> ColumnProfile:
    profile = ColumnProfile(
        name=name,
        type=type_,
        kind=state.kind,
        nulls=state.nulls,
        distinct=state.distinct.count() if state.distinct is not None else None,
        distinct_exact=state.distinct.is_exact if state.distinct is not None else True,
        top_values=_categories(state.values),
    )
    if state.numbers:
        profile.numbers = distribution(np.concatenate(state.numbers))
    if state.text is not None:
        profile.text = _text_profile(state.text, near, options)
    if state.turns:
        profile.chat = ChatProfile(
            turns=distribution(np.concatenate(state.turns)), roles=dict(state.roles.most_common())
        )
    return profile


def _categories(values: Counter[str] | None) -> list[ValueCount]:
    """The value distribution of a column whose values repeat: at most CATEGORY_LIMIT of
    them, and no more than half as many as there are (non-null) rows, so ids do not count."""
    if not values or len(values) > sum(values.values()) / 2:
        return []
    ordered = sorted(values.items(), key=lambda vc: (-vc[1], vc[0]))
    return [ValueCount(value=v, count=c) for v, c in ordered]


def _text_profile(state: TextState, near: int | None, options: Options) -> TextProfile:
    chars = np.concatenate(state.chars) if state.chars else np.zeros(0, np.int32)
    tokens = np.concatenate(state.tokens) if state.tokens else None
    hashes = np.concatenate(state.hashes) if state.hashes else np.zeros(0, np.uint64)
    overlong = chars > options.overlong_chars
    if tokens is not None and options.overlong_tokens is not None:
        overlong |= tokens > options.overlong_tokens
    return TextProfile(
        chars=distribution(chars[chars >= 0]),
        tokens=distribution(tokens[tokens >= 0]) if tokens is not None else None,
        tokenizer=options.tokenizer,
        empty=state.empty,
        overlong=int(overlong.sum()),
        overlong_limit=options.overlong_chars,
        control_chars=state.control,
        exact_duplicates=len(hashes) - len(np.unique(hashes)),
        near_duplicates=near,
        pii=dict(sorted(state.pii.items())),
        languages=dict(state.languages.most_common()),
        language_sample=state.sampled,
        ngrams={
            str(n): [ValueCount(value=g, count=c) for g, c in counter.top(NGRAM_TOP)]
            for n, counter in sorted(state.ngrams.items())
        },
    )


def distribution(values: np.ndarray) -> Distribution:
    """Summary and an equal-width histogram of `values` (an empty array gives zeros)."""
    values = values.astype(np.float64, copy=False)
    values = values[np.isfinite(values)]
    if not len(values):
        return Distribution(
            count=0, min=0, max=0, mean=0, p50=0, p90=0, p99=0, edges=[0, 0], counts=[0]
        )
    low, high = float(values.min()), float(values.max())
    bins = BINS if high > low else 1
    counts, edges = np.histogram(values, bins=bins, range=(low, high if high > low else low + 1))
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return Distribution(
        count=len(values),
        min=low,
        max=high,
        mean=_round(values.mean()),
        p50=_round(p50),
        p90=_round(p90),
        p99=_round(p99),
        edges=[_round(e) for e in edges],
        counts=counts.tolist(),
    )


def _round(x: float) -> float:
    return float(round(float(x), 4)) if math.isfinite(x) else 0.0
