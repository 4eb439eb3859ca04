"""`lmops data reproduce`: re-run a version's recipe from its roots and compare content hashes.

Roots are imported versions: their stored Parquet is the starting point (the source
files may be gone or changed). Every derived version on the way is rebuilt from its
rebuilt inputs in a temporary directory, nothing is registered, and each step's digest
is compared with the stored one, so a mismatch names the first step that drifted.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from lmops.core.errors import InvalidInput
from lmops.data.entities import DatasetVersion
from lmops.data.progress import Echo, Progress, silent
from lmops.data.steps import StepInput, lookup, run
from lmops.data.store import DataStore


@dataclass(frozen=True)
class Rebuilt:
    uri: str
    op: str
    expected: str
    digest: str

    @property
    def ok(self) -> bool:
        return self.expected == self.digest


@dataclass
class Reproduction:
    """Every version rebuilt on the way to the target (roots first, the target last)."""

    uri: str
    expected: str
    steps: list[Rebuilt] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)

    @property
    def digest(self) -> str:
        """The rebuilt digest (the stored one for a root version: nothing was rebuilt)."""
        return self.steps[-1].digest if self.steps else self.expected


def reproduce(store: DataStore, uri: str, echo: Echo | None = None) -> Reproduction:
    """Rebuild version `uri` from its roots and report each step's digest against the stored."""
    target = store.get_version(uri)
    result = Reproduction(target.uri, target.digest)
    with tempfile.TemporaryDirectory(prefix="lmops-reproduce-") as tmp:
        _Rebuilder(store, Path(tmp), result, Progress(None, None, echo) if echo else silent()).file(
            target
        )
    return result


class _Rebuilder:
    def __init__(self, store: DataStore, root: Path, result: Reproduction, progress: Progress):
        self.store, self.root, self.result, self.progress = store, root, result, progress
        self.files: dict[str, Path] = {}

    def file(self, version: DatasetVersion) -> Path:
        """The rebuilt Parquet file of `version` (rebuilt once, however often it is read)."""
        if version.id in self.files:
            return self.files[version.id]
        op = str(version.recipe.get("op", ""))
        workdir = self.root / version.id
        workdir.mkdir()
        if op == "import" or (version.parent_version_id is None and op != "sql"):
            path = self.store.artifacts.get_file(version.digest, workdir / "data.parquet")
        elif op == "sql":
            path = self._sql(version, workdir)
        else:
            path = self._step(version, op, workdir)
        self.files[version.id] = path
        if op != "import":
            self.result.steps.append(Rebuilt(version.uri, op, version.digest, _sha256(path)))
        return path

    def _sql(self, version: DatasetVersion, workdir: Path) -> Path:
        from lmops.data.querying import resolve, write_result

        pinned, inputs = resolve(self.store, str(version.recipe["params"]["query"]))
        write_result(pinned, {v.uri: self.file(v) for v in inputs}, workdir / "data.parquet")
        return workdir / "data.parquet"

    def _step(self, version: DatasetVersion, op: str, workdir: Path) -> Path:
        spec = lookup(op)
        params = dict(version.recipe.get("params", {}))
        if version.parent_version_id is None:
            raise InvalidInput(f"{version.uri} was made by {op!r} but has no parent version")
        parent = self.store.get_version_by_id(version.parent_version_id)
        source = StepInput(parent, self.file(parent))
        others = {}
        for key in spec.version_params:
            other = self.store.get_version(str(params[key]))
            others[key] = StepInput(other, self.file(other))
        ctx, _ = run(spec, source, others, params, workdir, self.progress)
        return ctx.dest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
