"""The registry SDK: register a real small model, load it back as files and as transformers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import lmops
from lmops.core.errors import InvalidInput


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    lmops.configure(home=tmp_path / "home", uri="")
    yield tmp_path / "home"
    lmops.configure(home=tmp_path / "other", uri="")


def test_register_and_load_a_real_model(home: Path, tiny_llama: Path) -> None:
    version = lmops.register_model("tiny", tiny_llama, tags={"kind": "test"})
    assert version.uri == "models:/tiny/1" and version.format.parameter_count
    lmops.set_model_alias("tiny", "production", 1)
    assert lmops.get_model_version("models:/tiny@production").id == version.id

    path = lmops.load_model("models:/tiny@production")
    assert path == home / "models" / version.digest
    assert (path / "config.json").is_file() and (path / "model.safetensors").is_file()
    assert lmops.load_model("models:/tiny/1") == path  # fetched once, then reused

    model, tokenizer = lmops.load_model("models:/tiny/1", as_="transformers")
    ids = tokenizer("the cat", return_tensors="pt").input_ids
    out = model.generate(ids, max_new_tokens=3, do_sample=False)
    assert out.shape[1] == ids.shape[1] + 3
    assert sum(p.numel() for p in model.parameters()) == version.format.parameter_count


def test_endpoints_have_no_files_and_bad_requests_say_why(home: Path) -> None:
    lmops.register_endpoint("hosted", "http://127.0.0.1:9/v1", "m", api_key="k")
    with pytest.raises(InvalidInput, match="external endpoint"):
        lmops.load_model("models:/hosted/1")
    with pytest.raises(InvalidInput, match="unknown as_='onnx'"):
        lmops.load_model("models:/hosted/1", as_="onnx")
