"""Imports from every supported source, refused bad input, and a digest that depends on rows."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from lmops.artifacts import ArtifactStore
from lmops.core.errors import InvalidInput
from lmops.data import loading
from lmops.data.importing import import_source
from lmops.data.parquet import ROW_GROUP_ROWS
from lmops.data.store import DataStore
from lmops.data.tables import dataset_versions
from lmops.data.tables import datasets as datasets_table
from lmops.store import open_engine

ROWS = [{"prompt": f"question {i}", "answer": f"réponse {i}", "n": i} for i in range(50)]


@pytest.fixture(autouse=True)
def _quiet_datasets() -> None:
    datasets.disable_progress_bars()


@pytest.fixture
def store(tmp_path: Path, artifacts: ArtifactStore) -> DataStore:
    return DataStore(open_engine(f"sqlite:///{tmp_path / 'lmops.db'}"), artifacts)


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def nothing_registered(store: DataStore) -> bool:
    with store.engine.connect() as conn:
        count = select(func.count()).select_from
        return (
            conn.execute(count(datasets_table)).scalar() == 0
            and conn.execute(count(dataset_versions)).scalar() == 0
        )


def test_jsonl_import_round_trips(store: DataStore, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "chat.jsonl", ROWS)
    version = import_source(store, "chat", path)
    assert (version.uri, version.row_count) == ("datasets:/chat/1", 50)
    assert [(c.name, c.type) for c in version.columns] == [
        ("prompt", "string"),
        ("answer", "string"),
        ("n", "int64"),
    ]
    assert version.recipe == {"op": "import", "source": [str(path)], "format": "jsonl"}
    table = loading.read_table(store, version)
    assert table.to_pylist() == ROWS
    assert loading.convert(table, "pandas").equals(pd.DataFrame(ROWS))
    as_hf = loading.convert(table, "datasets")
    assert isinstance(as_hf, datasets.Dataset) and as_hf[3] == ROWS[3]
    assert loading.head(store, version, 2).to_pylist() == ROWS[:2]


def test_every_source_of_the_same_rows_gives_the_same_digest(
    store: DataStore, tmp_path: Path
) -> None:
    hf = datasets.Dataset.from_list(ROWS)
    hf.save_to_disk(str(tmp_path / "hf"))
    pd.DataFrame(ROWS).to_csv(tmp_path / "chat.csv", index=False)
    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "chat.parquet", row_group_size=7)
    sources: list[object] = [
        write_jsonl(tmp_path / "chat.jsonl", ROWS),
        tmp_path / "chat.csv",
        tmp_path / "chat.parquet",
        tmp_path / "hf",
        hf,
        pd.DataFrame(ROWS),
        pa.Table.from_pylist(ROWS),
        pa.Table.from_batches(pa.Table.from_pylist(ROWS).to_batches(max_chunksize=3)),
    ]
    versions = [import_source(store, "chat", s) for s in sources]
    assert [v.version for v in versions] == list(range(1, len(sources) + 1))
    assert len({v.digest for v in versions}) == 1
    assert [v.recipe["format"] for v in versions] == [
        "jsonl",
        "csv",
        "parquet",
        "hf",
        "hf",
        "pandas",
        "arrow",
        "arrow",
    ]


def test_digest_does_not_depend_on_how_rows_are_split_across_files(
    store: DataStore, tmp_path: Path
) -> None:
    rows = [{"text": f"row {i}", "label": i % 3} for i in range(ROW_GROUP_ROWS + 500)]
    whole = import_source(store, "big", write_jsonl(tmp_path / "all.jsonl", rows))
    parts = [
        write_jsonl(tmp_path / "a.jsonl", rows[:10]),
        write_jsonl(tmp_path / "b.jsonl", rows[10 : ROW_GROUP_ROWS + 7]),
        write_jsonl(tmp_path / "c.jsonl", rows[ROW_GROUP_ROWS + 7 :]),
    ]
    split = import_source(store, "big", parts)
    assert split.digest == whole.digest and split.row_count == len(rows)
    with store.artifacts.open(whole.digest) as f:
        groups = pq.ParquetFile(f).metadata
        assert [groups.row_group(i).num_rows for i in range(groups.num_row_groups)] == [
            ROW_GROUP_ROWS,
            500,
        ]
    other = import_source(store, "big", pd.DataFrame(rows[:-1]))
    assert other.digest != whole.digest


def test_files_with_columns_in_another_order_or_wider_types_are_merged(
    store: DataStore, tmp_path: Path
) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", [{"text": "x", "score": 1}])
    b = write_jsonl(tmp_path / "b.jsonl", [{"score": 2.5, "text": "y"}])
    version = import_source(store, "mixed", [a, b])
    assert [(c.name, c.type) for c in version.columns] == [("text", "string"), ("score", "double")]
    assert loading.read_table(store, version).to_pylist() == [
        {"text": "x", "score": 1.0},
        {"text": "y", "score": 2.5},
    ]


def test_split_datasets_and_other_objects_are_refused(store: DataStore) -> None:
    split = datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS)})
    with pytest.raises(InvalidInput, match=r"several splits \(train\)"):
        import_source(store, "x", split)
    with pytest.raises(InvalidInput, match="cannot import a dict"):
        import_source(store, "x", {"a": [1]})
    with pytest.raises(InvalidInput, match="has no rows"):
        import_source(store, "x", pd.DataFrame({"a": []}))
    assert nothing_registered(store)


def bad_file(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "broken.jsonl",
            b'{"a": 1}\n{"a": 2}\n{"a": 3,}\n',
            r"broken.jsonl, line 3, column 9: not valid JSON",
        ),
        ("list.jsonl", b'{"a": 1}\n[1, 2]\n', r"list.jsonl, line 2: expected one JSON object"),
        (
            # the type changes far past the first block pyarrow reads: the line is still named
            "drift.jsonl",
            b'{"id": 1, "t": "x"}\n' * 300_000 + b'{"id": "oops", "t": "y"}\n',
            r"drift.jsonl, line 300001: field 'id' changes type: string here, integer on line 1",
        ),
        ("empty.jsonl", b"", r"empty.jsonl is empty"),
        ("blank.csv", b"\n  \n", r"blank.csv is empty"),
        ("header.csv", b"a,b\n", r"header.csv has no rows"),
        ("latin1.jsonl", b'{"a": "ok"}\n{"a": "caf\xe9"}\n', r"latin1.jsonl, line 2: not UTF-8"),
        ("utf16.csv", "a,b\n1,2\n".encode("utf-16"), r"utf16.csv, line 1: not UTF-8"),
        ("ragged.csv", b"a,b\n1,2\n3,4,5\n", r"ragged.csv: cannot read as CSV"),
        ("fake.parquet", b"not parquet at all", r"fake.parquet: cannot read as a Parquet file"),
        ("notes.txt", b"hello", r"cannot tell the format of notes.txt"),
    ],
)
def test_bad_files_name_the_problem_and_register_nothing(
    store: DataStore, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = bad_file(tmp_path, name, content)
    with pytest.raises(InvalidInput, match=message):
        import_source(store, "bad", path)
    assert nothing_registered(store)


def test_a_bad_second_file_registers_nothing(store: DataStore, tmp_path: Path) -> None:
    good = write_jsonl(tmp_path / "good.jsonl", ROWS)
    broken = bad_file(tmp_path, "broken.jsonl", b'{"prompt": "x"}\n{oops\n')
    with pytest.raises(InvalidInput, match=r"broken\.jsonl, line 2"):
        import_source(store, "chat", [good, broken])
    assert nothing_registered(store)


def test_mismatched_files_are_refused(store: DataStore, tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", [{"text": "x", "n": 1}])
    b = write_jsonl(tmp_path / "b.jsonl", [{"text": "y", "label": 1}])
    c = write_jsonl(tmp_path / "c.jsonl", [{"text": "z", "n": "one"}])
    with pytest.raises(
        InvalidInput,
        match=r"b.jsonl does not match .*a.jsonl: "
        r"missing columns \['n'\], extra columns \['label'\]",
    ):
        import_source(store, "x", [a, b])
    with pytest.raises(InvalidInput, match=r"column types of .* do not agree"):
        import_source(store, "x", [a, c])
    pd.DataFrame(ROWS).to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(InvalidInput, match="different formats"):
        import_source(store, "x", [a, tmp_path / "d.csv"])
    assert nothing_registered(store)


def test_bad_arguments(store: DataStore, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", ROWS)
    with pytest.raises(InvalidInput, match="unknown format 'xml'"):
        import_source(store, "x", path, format="xml")
    with pytest.raises(InvalidInput, match="no such file"):
        import_source(store, "x", tmp_path / "missing.jsonl")
    with pytest.raises(InvalidInput, match="not a Hugging Face dataset"):
        import_source(store, "x", tmp_path)
    with pytest.raises(InvalidInput, match="invalid dataset name"):
        import_source(store, "no spaces", path)
    assert nothing_registered(store)
    version = import_source(store, "x", bad_file(tmp_path, "data.txt", b'{"a": 1}\n'), "jsonl")
    assert version.row_count == 1


def test_export_round_trips_in_each_format(store: DataStore, tmp_path: Path) -> None:
    version = import_source(store, "chat", write_jsonl(tmp_path / "chat.jsonl", ROWS))
    for fmt in ("jsonl", "csv", "parquet"):
        out = loading.export(store, version, tmp_path / "out" / f"chat.{fmt}", fmt)
        assert import_source(store, "again", out).digest == version.digest, fmt
    with pytest.raises(InvalidInput, match="unknown export format"):
        loading.export(store, version, tmp_path / "x", "xml")


def test_the_sdk_face(tmp_path: Path) -> None:
    import lmops
    import lmops.data

    lmops.configure(home=tmp_path / "home", uri="")
    version = lmops.data.create("chat", write_jsonl(tmp_path / "chat.jsonl", ROWS), description="d")
    assert lmops.data.get_version("datasets:/chat@latest") == version
    assert lmops.data.load("datasets:/chat/1").equals(pd.DataFrame(ROWS))
    assert lmops.data.load("datasets:/chat/1", as_="arrow").num_rows == 50
    assert lmops.data.load("datasets:/chat/1", as_="datasets")[0] == ROWS[0]
    with pytest.raises(InvalidInput, match="unknown as_='polars'"):
        lmops.data.load("datasets:/chat/1", as_="polars")
    (listed,) = lmops.data.list_datasets()
    assert (listed.name, listed.description, listed.latest_version) == ("chat", "d", 1)
    assert lmops.data.list_versions("chat") == [version]
    lmops.configure(home=tmp_path / "home", uri="http://127.0.0.1:9")
    try:
        with pytest.raises(InvalidInput, match="in-process only"):
            lmops.data.list_datasets()
    finally:
        lmops.configure(home=tmp_path / "home", uri="")
