"""The data store on SQLite and PostgreSQL: versions, URIs, listing, lineage, atomicity."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from lmops.core.errors import Conflict, InvalidInput, NotFound
from lmops.data.entities import Column
from lmops.data.store import DataStore
from lmops.data.tables import dataset_versions, datasets
from lmops.store.lineage import edges


def parquet(tmp_path: Path, rows: list[dict[str, object]], name: str = "x.parquet") -> Path:
    path = tmp_path / name
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


COLUMNS = [Column(name="text", type="string")]
RECIPE = {"op": "import", "source": ["x.parquet"], "format": "parquet"}


def test_versions_number_up_and_resolve_by_uri(store: DataStore, tmp_path: Path) -> None:
    first = store.add_version(
        "chat", parquet(tmp_path, [{"text": "a"}]), columns=COLUMNS, row_count=1, recipe=RECIPE
    )
    second = store.add_version(
        "chat",
        parquet(tmp_path, [{"text": "b"}], "y.parquet"),
        columns=COLUMNS,
        row_count=1,
        recipe=RECIPE,
    )
    assert (first.version, second.version) == (1, 2)
    assert first.uri == "datasets:/chat/1"
    assert store.get_version("datasets:/chat/1") == first
    assert store.get_version("datasets:/chat@latest") == second
    assert store.get_version_by_id(first.id) == first
    assert store.artifacts.exists(first.digest) and first.digest != second.digest
    assert first.size_bytes == store.artifacts.size(first.digest)
    assert first.recipe == RECIPE and first.columns == COLUMNS
    assert [v.version for v in store.list_versions("chat")] == [1, 2]


def test_same_content_twice_is_a_new_version_with_the_same_digest(
    store: DataStore, tmp_path: Path
) -> None:
    path = parquet(tmp_path, [{"text": "a"}])
    one = store.add_version("chat", path, columns=COLUMNS, row_count=1, recipe=RECIPE)
    two = store.add_version("chat", path, columns=COLUMNS, row_count=1, recipe=RECIPE)
    assert (one.version, two.version) == (1, 2) and one.digest == two.digest


def test_list_datasets_counts_versions(store: DataStore, tmp_path: Path) -> None:
    path = parquet(tmp_path, [{"text": "a"}])
    store.create_dataset("empty", description="nothing yet")
    for name in ("b-set", "b-set", "a.set"):
        store.add_version(name, path, columns=COLUMNS, row_count=1, recipe=RECIPE)
    listed = [(d.name, d.version_count, d.latest_version) for d in store.list_datasets()]
    assert listed == [("a.set", 1, 1), ("b-set", 2, 2), ("empty", 0, None)]
    assert store.get_dataset("empty").description == "nothing yet"
    with pytest.raises(Conflict):
        store.create_dataset("empty")


def test_parent_is_recorded_as_a_lineage_edge(store: DataStore, tmp_path: Path) -> None:
    path = parquet(tmp_path, [{"text": "a"}])
    root = store.add_version("chat", path, columns=COLUMNS, row_count=1, recipe=RECIPE)
    child = store.add_version(
        "chat",
        path,
        columns=COLUMNS,
        row_count=1,
        recipe={"op": "filter"},
        parent_version_id=root.id,
    )
    assert child.parent_version_id == root.id
    (edge,) = edges(store.engine, "dataset_version", child.id, direction="upstream")
    assert (edge.from_id, edge.relation) == (root.id, "derived_from")
    with pytest.raises(NotFound):
        store.add_version(
            "chat", path, columns=COLUMNS, row_count=1, recipe=RECIPE, parent_version_id="0" * 32
        )
    assert [v.version for v in store.list_versions("chat")] == [1, 2]


@pytest.mark.parametrize(
    "uri",
    ["datasets:/chat/9", "datasets:/missing@latest", "datasets:/missing/1"],
)
def test_unknown_versions_are_not_found(store: DataStore, tmp_path: Path, uri: str) -> None:
    store.add_version(
        "chat", parquet(tmp_path, [{"text": "a"}]), columns=COLUMNS, row_count=1, recipe=RECIPE
    )
    with pytest.raises(NotFound, match="no dataset version"):
        store.get_version(uri)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("models:/chat/1", "not a dataset URI"),
        ("datasets:/chat@production", "only @latest"),
        ("datasets:chat", "cannot parse URI"),
    ],
)
def test_bad_uris_say_what_to_use(store: DataStore, uri: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        store.get_version(uri)


@pytest.mark.parametrize("name", ["", "has space", "-dash-first", "x" * 256, "a/b"])
def test_bad_names_are_refused_before_anything_is_stored(
    store: DataStore, tmp_path: Path, name: str
) -> None:
    with pytest.raises(InvalidInput, match="invalid dataset name"):
        store.add_version(
            name, parquet(tmp_path, [{"text": "a"}]), columns=COLUMNS, row_count=1, recipe=RECIPE
        )
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(datasets)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(dataset_versions)).scalar() == 0


def test_configure_reaches_the_data_sdk(tmp_path: Path) -> None:
    import pyarrow as pa

    import lmops
    import lmops.data

    lmops.configure(home=tmp_path / "configured", uri="")
    try:
        version = lmops.data.create("cfg", pa.table({"x": [1, 2]}))
        assert (tmp_path / "configured" / "lmops.db").exists()
        assert version.version == 1
    finally:
        lmops.configure(home=tmp_path / "after", uri="")
