"""The data SDK's preparation face: profile, apply, load a split, sql, reproduce."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

import lmops
import lmops.data
from lmops.core.errors import InvalidInput


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    lmops.configure(home=tmp_path / "home", uri="")
    yield tmp_path
    lmops.configure(home=tmp_path / "other", uri="")


def test_prepare_through_the_sdk(home: Path) -> None:
    rows = [{"id": i, "text": f"row {i} of the set", "label": i % 2} for i in range(200)]
    first = lmops.data.create("set", pa.Table.from_pylist(rows))
    assert lmops.data.get_profile(first.uri) is None
    profile = lmops.data.profile(first.uri, near_duplicates=False)
    assert lmops.data.get_profile(first.uri) == profile and profile.row_count == 200

    split = lmops.data.apply(first.uri, "split", key="id", seed=1)
    train = lmops.data.load(split.uri, as_="arrow", split="train")
    test = lmops.data.load(split.uri, split="test")
    assert set(train.column("split").to_pylist()) == {"train"}
    counts = split.report["counts"]  # type: ignore[index]
    assert train.num_rows == counts["train"] and len(test) == counts["test"]
    with pytest.raises(InvalidInput, match="no split column"):
        lmops.data.load(first.uri, split="train")

    table = lmops.data.sql(f"select label, count(*) n from '{split.uri}' group by 1 order by 1")
    assert table.to_pylist() == [{"label": 0, "n": 100}, {"label": 1, "n": 100}]
    saved = lmops.data.sql(f"select * from '{split.uri}' where label = 1", save_as="odd")
    assert saved.uri == "datasets:/odd/1" and saved.row_count == 100
    assert lmops.data.reproduce(saved.uri).ok
