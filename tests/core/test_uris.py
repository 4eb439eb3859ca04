from __future__ import annotations

import pytest

from lmops.core.errors import InvalidInput
from lmops.core.uris import RunRef, VersionRef, parse_uri

RUN = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("models:/llama/3", VersionRef("models", "llama", version=3)),
        ("models:/llama@production", VersionRef("models", "llama", alias="production")),
        ("prompts:/qa-system@staging", VersionRef("prompts", "qa-system", alias="staging")),
        ("datasets:/chat.v2/12", VersionRef("datasets", "chat.v2", version=12)),
        ("datasets:/x@latest", VersionRef("datasets", "x", alias="latest")),
        (f"runs:/{RUN}", RunRef(RUN)),
        (f"runs:/{RUN}/model/weights.bin", RunRef(RUN, "model/weights.bin")),
    ],
)
def test_parse_and_print(uri: str, expected: VersionRef | RunRef) -> None:
    parsed = parse_uri(uri)
    assert parsed == expected
    assert str(parsed) == uri


@pytest.mark.parametrize(
    "uri",
    [
        "models:/",
        "models:/x",
        "models:/x/abc",
        "models:/x@",
        "runs:/short",
        "s3://bucket/x",
        "tables:/x/1",
    ],
)
def test_rejects_malformed(uri: str) -> None:
    with pytest.raises(InvalidInput, match="cannot parse URI"):
        parse_uri(uri)
