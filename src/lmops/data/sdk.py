"""The data SDK: create, load, list, profile, prepare (apply), query (sql) and reproduce.

In-process only for now: the SDK talks to the store the current settings name
(`LMOPS_URI`, or `lmops.configure(...)`). A server URI (http://...) is refused until the
REST routes for datasets exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lmops.core.errors import InvalidInput
from lmops.core.settings import Settings, current
from lmops.data.entities import Dataset, DatasetVersion, Profile
from lmops.data.store import DataStore

if TYPE_CHECKING:
    from lmops.data.reproducing import Reproduction


def open_data_store(settings: Settings) -> DataStore:
    """The data store the settings name (in-process only)."""
    if settings.is_remote:
        raise InvalidInput(
            f"datasets work in-process only for now: LMOPS_URI={settings.uri} is a server; "
            "point LMOPS_URI at the store (sqlite:/// or postgresql+psycopg://)",
            field="uri",
        )
    from lmops.artifacts import open_artifact_store
    from lmops.store import open_engine

    return DataStore(open_engine(settings.uri), open_artifact_store(settings), settings.project)


def _store() -> DataStore:
    return open_data_store(current())


def create(
    name: str, source: Any, format: str | None = None, description: str = ""
) -> DatasetVersion:
    """Import `source` as the next version of dataset `name` (created if new).

    `source`: a path or a list of paths (JSONL, CSV, Parquet, or a directory saved by
    `datasets.Dataset.save_to_disk`), a pandas DataFrame, a pyarrow Table or a
    `datasets.Dataset`. `format` (jsonl, csv, parquet, hf) overrides the file extension.
    """
    from lmops.data.importing import import_source

    return import_source(_store(), name, source, format, description)


def get_version(uri: str) -> DatasetVersion:
    """Resolve `datasets:/name/3` or `datasets:/name@latest`."""
    return _store().get_version(uri)


def load(uri: str, as_: str = "pandas", split: str | None = None) -> Any:
    """Load a version as a pandas DataFrame, a pyarrow Table or a `datasets.Dataset`;
    with `split`, only the rows whose `split` column (see the split step) equals it."""
    from lmops.data.loading import AS, convert, read_table

    if as_ not in AS:
        raise InvalidInput(f"unknown as_={as_!r}: use one of {', '.join(AS)}", field="as_")
    store = _store()
    version = store.get_version(uri)
    table = read_table(store, version)
    if split is not None:
        if "split" not in table.column_names:
            raise InvalidInput(
                f"{version.uri} has no split column: run the split step first", field="split"
            )
        import pyarrow.compute as pc

        table = table.filter(pc.equal(table.column("split"), split))
    return convert(table, as_)


def list_datasets() -> list[Dataset]:
    """Every dataset, by name, with its version count and latest version."""
    return _store().list_datasets()


def list_versions(name: str) -> list[DatasetVersion]:
    """The versions of dataset `name`, oldest first."""
    return _store().list_versions(name)


def apply(
    uri: str, op: str, *, into: str | None = None, executor: str | None = None, **params: Any
) -> DatasetVersion:
    """Run preparation step `op` on version `uri`; the result is the next version of `into`
    (default: the same dataset). The steps: filter, select, aggregate, join, map, sample,
    split, convert, dedup_exact, dedup_near, redact_pii (`lmops data steps` lists them)."""
    from lmops.data.steps import apply as run_step

    return run_step(_store(), uri, op, params, into=into, executor=executor)


def profile(
    uri: str,
    *,
    tokenizer: str | None = None,
    near_duplicates: bool = True,
    language_sample: int = 2000,
    executor: str | None = None,
) -> Profile:
    """Profile version `uri` and store the profile with it."""
    from lmops.data.profiling import Options, profile_version

    store = _store()
    options = Options(
        tokenizer=tokenizer, near_duplicates=near_duplicates, language_sample=language_sample
    )
    return profile_version(store, store.get_version(uri), options, executor=executor)


def get_profile(uri: str) -> Profile | None:
    """The stored profile of version `uri`, or None when it was never profiled."""
    store = _store()
    return store.get_profile(store.get_version(uri).id)


def sql(query: str, *, save_as: str | None = None, limit: int = 1000) -> Any:
    """Run DuckDB SQL over versions named as 'datasets:/name/2' literals.

    Returns the first `limit` rows as a pyarrow Table, or, with `save_as`, stores the
    whole result as the next version of that dataset and returns the version.
    """
    from lmops.data import querying

    if save_as is not None:
        return querying.save(_store(), query, save_as)
    return querying.query(_store(), query, limit=limit)


def reproduce(uri: str) -> Reproduction:
    """Re-run the recipe of `uri` from its roots; `.ok` says the content hashes match."""
    from lmops.data.reproducing import reproduce as rerun

    return rerun(_store(), uri)


def from_traces(
    name: str,
    query: dict[str, Any] | None = None,
    *,
    max_traces: int = 100_000,
    description: str = "",
) -> DatasetVersion:
    """A version made of the traces `query` selects (TraceQuery fields: name, tags, user_id,
    session_id, model, start_after, has_feedback, feedback_name, feedback_min, text...)."""
    from lmops.data.traces import import_traces
    from lmops.tracing.store import TracingStore

    store = _store()
    return import_traces(
        store,
        TracingStore(store.engine, store.project),
        name,
        query,
        max_traces=max_traces,
        description=description,
    )
