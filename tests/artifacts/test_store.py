"""The artifact store on a local directory and on an S3-compatible server (moto)."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmops.artifacts import ArtifactStore
from lmops.core.errors import InvalidInput, NotFound


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    from tests.conftest import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return ArtifactStore(str(tmp_path / "artifacts"))
    endpoint = request.getfixturevalue("s3_endpoint")
    options = {
        "key": "test",
        "secret": "test",
        "client_kwargs": {"endpoint_url": endpoint, "region_name": "eu-west-1"},
    }
    store = ArtifactStore(
        f"s3://lmops-{tmp_path.name.lower().replace('_', '-')[:40]}/art", **options
    )
    store.fs.mkdir(store.root.split("/")[2])
    return store


def test_files_are_named_by_sha256(store: ArtifactStore, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # spans several 1 MiB chunks
    src = tmp_path / "blob.bin"
    src.write_bytes(data)
    blob = store.put_file(src)
    assert blob.digest == hashlib.sha256(data).hexdigest()
    assert blob.size == len(data)
    assert store.exists(blob.digest)
    assert store.size(blob.digest) == len(data)
    assert store.put_bytes(data).digest == blob.digest  # same content, same name
    assert store.get_file(blob.digest, tmp_path / "out.bin").read_bytes() == data
    assert b"".join(store.iter_chunks(blob.digest)) == data


def test_directories_round_trip(store: ArtifactStore, tmp_path: Path) -> None:
    src = tmp_path / "model"
    (src / "nested").mkdir(parents=True)
    (src / "config.json").write_text("{}")
    (src / "nested" / "weights.bin").write_bytes(b"w" * 1000)
    blob = store.put_dir(src)
    assert blob.size == 1002
    assert store.read_manifest(blob.digest).keys() == {"config.json", "nested/weights.bin"}
    out = store.get_dir(blob.digest, tmp_path / "copy")
    assert (out / "nested" / "weights.bin").read_bytes() == b"w" * 1000


def test_missing_and_malformed_digests(store: ArtifactStore) -> None:
    with pytest.raises(NotFound):
        store.open("0" * 64)
    with pytest.raises(InvalidInput, match="sha256"):
        store.open("../../etc/passwd")
    with pytest.raises(InvalidInput, match="relative"):
        store.put_manifest({"../x": "0" * 64})


def test_a_large_file_streams_through_bounded_memory(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "artifacts"))
    src = tmp_path / "checkpoint.bin"
    with open(src, "wb") as f:
        for _ in range(64):
            f.write(os.urandom(1024 * 1024))
    tracemalloc.start()
    blob = store.put_file(src)
    store.get_file(blob.digest, tmp_path / "back.bin")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert blob.size == 64 * 1024 * 1024
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes: the file was read whole"


def test_settings_select_an_s3_compatible_endpoint(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from lmops.artifacts import open_artifact_store
    from lmops.core.settings import Settings

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    settings = Settings(
        home=tmp_path,
        artifacts_uri="s3://lmops-settings/artifacts",
        artifacts_endpoint_url=s3_endpoint,
    )
    store = open_artifact_store(settings)
    store.fs.mkdir("lmops-settings", region_name="eu-west-1")
    blob = store.put_bytes(b"hello")
    assert store.fs.exists(f"lmops-settings/artifacts/sha256/{blob.digest[:2]}")
    assert b"".join(store.iter_chunks(blob.digest)) == b"hello"
