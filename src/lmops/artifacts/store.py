"""The artifact store: sha256-named blobs on a local directory or S3-compatible storage.

Files stream through in 1 MiB chunks, so a multi-GB checkpoint never sits in memory. A
directory is stored as one blob per file plus a JSON manifest blob ({relpath: digest}),
and the manifest's digest names the directory.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from lmops.core.errors import InvalidInput, MissingExtra, NotFound
from lmops.core.settings import Settings

CHUNK = 1 << 20
_DIGEST_CHARS = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int


class ArtifactStore:
    """Blobs under `root` through fsspec: a local path, `file://...` or `s3://bucket/prefix`."""

    def __init__(self, root: str, **storage_options: Any) -> None:
        import fsspec

        protocol = root.split("://", 1)[0] if "://" in root else "file"
        if protocol == "s3":
            try:
                import s3fs  # noqa: F401
            except ImportError as exc:
                raise MissingExtra("An S3 artifact store", "s3") from exc
        self.root = root.rstrip("/")
        self.is_local = protocol == "file"
        self.fs = fsspec.filesystem(protocol, **storage_options)
        if self.is_local:
            self.root = str(Path(self.root.removeprefix("file://")).expanduser())
            Path(self.root).mkdir(parents=True, exist_ok=True)

    def path_of(self, digest: str) -> str:
        _check_digest(digest)
        return f"{self.root}/sha256/{digest[:2]}/{digest[2:4]}/{digest}"

    def exists(self, digest: str) -> bool:
        return bool(self.fs.exists(self.path_of(digest)))

    def size(self, digest: str) -> int:
        """Bytes in one blob (for a directory, the manifest's own size, not its files')."""
        if not self.exists(digest):
            raise NotFound(f"no artifact blob with digest {digest}")
        return int(self.fs.size(self.path_of(digest)))

    def put_stream(self, stream: IO[bytes]) -> Blob:
        """Store what `stream` yields; hash and spool it chunk by chunk."""
        return self.put_chunks(iter(functools.partial(stream.read, CHUNK), b""))

    def put_chunks(self, chunks: Iterator[bytes]) -> Blob:
        """Store a sequence of byte chunks as one blob."""
        with self.writer() as writer:
            for chunk in chunks:
                writer.write(chunk)
            return writer.commit()

    def writer(self) -> BlobWriter:
        """An incremental writer, for bytes that arrive piece by piece (an upload)."""
        return BlobWriter(self)

    def put_file(self, path: str | os.PathLike[str]) -> Blob:
        with open(path, "rb") as f:
            return self.put_stream(f)

    def put_bytes(self, data: bytes) -> Blob:
        return self.put_chunks(iter([data]))

    def put_dir(self, path: str | os.PathLike[str]) -> Blob:
        """Store every file under `path`; return the manifest blob that names the directory."""
        root = Path(path)
        manifest: dict[str, str] = {}
        total = 0
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            blob = self.put_file(file)
            manifest[file.relative_to(root).as_posix()] = blob.digest
            total += blob.size
        return Blob(self.put_manifest(manifest).digest, total)

    def put_manifest(self, manifest: dict[str, str]) -> Blob:
        for rel, digest in manifest.items():
            _check_relpath(rel)
            if not self.exists(digest):
                raise NotFound(f"directory entry {rel!r} names blob {digest} that is not stored")
        return self.put_bytes(json.dumps(manifest, sort_keys=True).encode())

    def read_manifest(self, digest: str) -> dict[str, str]:
        with self.open(digest) as f:
            manifest: dict[str, str] = json.load(f)
        return manifest

    def open(self, digest: str) -> IO[bytes]:
        """Open a blob for reading (stream it; do not read a checkpoint whole)."""
        if not self.exists(digest):
            raise NotFound(f"no artifact blob with digest {digest}")
        handle: IO[bytes] = self.fs.open(self.path_of(digest), "rb")
        return handle

    def iter_chunks(self, digest: str) -> Iterator[bytes]:
        with self.open(digest) as f:
            yield from iter(functools.partial(f.read, CHUNK), b"")

    def get_file(self, digest: str, dest: str | os.PathLike[str]) -> Path:
        out = Path(dest)
        out.parent.mkdir(parents=True, exist_ok=True)
        with self.open(digest) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK)
        return out

    def get_dir(self, digest: str, dest: str | os.PathLike[str]) -> Path:
        out = Path(dest)
        for rel, file_digest in self.read_manifest(digest).items():
            self.get_file(file_digest, out / rel)
        return out

    def _commit(self, tmp: str, digest: str) -> None:
        target = self.path_of(digest)
        if self.exists(digest):
            return
        if self.is_local:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)  # atomic: readers never see half a blob
        else:
            self.fs.put_file(tmp, target)


class BlobWriter:
    """Hashes and spools bytes to a temporary file; `commit` names and stores them."""

    def __init__(self, store: ArtifactStore) -> None:
        self.store = store
        fd, self.tmp = tempfile.mkstemp(
            prefix=".incoming-", dir=store.root if store.is_local else None
        )
        self._out = os.fdopen(fd, "wb")
        self._sha = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self._sha.update(chunk)
        self._out.write(chunk)
        self.size += len(chunk)

    def commit(self) -> Blob:
        self._out.close()
        blob = Blob(self._sha.hexdigest(), self.size)
        self.store._commit(self.tmp, blob.digest)
        return blob

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove the spool file (after commit it has already been moved into place)."""
        self._out.close()
        if os.path.exists(self.tmp):
            os.unlink(self.tmp)


def _check_digest(digest: str) -> None:
    if len(digest) != 64 or not set(digest) <= _DIGEST_CHARS:
        raise InvalidInput(f"not a sha256 hex digest: {digest!r}", field="digest")


def _check_relpath(rel: str) -> None:
    parts = rel.split("/")
    if not rel or rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise InvalidInput(f"artifact path {rel!r} must be relative, without '..'", field="path")


@functools.cache
def _open(root: str, endpoint_url: str) -> ArtifactStore:
    options: dict[str, Any] = (
        {"client_kwargs": {"endpoint_url": endpoint_url}} if endpoint_url else {}
    )
    return ArtifactStore(root, **options)


def open_artifact_store(settings: Settings) -> ArtifactStore:
    """Return the artifact store the settings name, created once per process.

    S3 credentials come from the usual AWS variables or files; `LMOPS_ARTIFACTS_ENDPOINT_URL`
    points at an S3-compatible server (MinIO, Ceph, R2...).
    """
    return _open(settings.artifacts_uri, settings.artifacts_endpoint_url)
