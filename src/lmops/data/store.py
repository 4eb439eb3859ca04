"""The data store: the only code that runs SQL for datasets and their versions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from lmops.artifacts import ArtifactStore
from lmops.core.errors import Conflict, InvalidInput, NotFound
from lmops.core.ids import new_id, utcnow
from lmops.core.projects import DEFAULT_PROJECT, InProject
from lmops.core.text import check_text
from lmops.core.uris import VersionRef, check_name, parse_uri
from lmops.data.entities import Column, Dataset, DatasetVersion, Job, Profile
from lmops.data.tables import dataset_jobs, dataset_profiles, dataset_versions, datasets
from lmops.store.audit import record
from lmops.store.engine import writing
from lmops.store.lineage import add_edge

LATEST = "latest"
ABANDONED_AFTER = timedelta(minutes=2)  # a running job's heartbeat comes every 15 s
_ATTEMPTS = 5  # a concurrent writer may take the next version number first


class DataStore(InProject):
    """Datasets and their immutable versions: rows here, Parquet bytes in the artifact store.

    Everything it reads and writes is in `self.project`: a dataset, version, profile or job
    of another project is looked up as if it did not exist (NotFound, the same message).
    """

    def __init__(
        self, engine: Engine, artifacts: ArtifactStore, project: str = DEFAULT_PROJECT
    ) -> None:
        self.engine = engine
        self.artifacts = artifacts
        self.project = project

    # -- datasets ------------------------------------------------------------------------

    def create_dataset(self, name: str, description: str = "") -> Dataset:
        """Create an empty dataset; a name taken in this project is a Conflict."""
        row = _dataset_row(self.project, name, description)
        try:
            with writing(self.engine) as conn:
                conn.execute(datasets.insert(), row)
        except IntegrityError as exc:
            raise Conflict(f"a dataset named {row['name']!r} already exists") from exc
        return Dataset.model_validate(row)

    def get_dataset(self, name: str) -> Dataset:
        found = self._datasets(datasets.c.name == check_text(name, "name"))
        if not found:
            raise NotFound(f"no dataset named {name!r}")
        return found[0]

    def list_datasets(self) -> list[Dataset]:
        """Every dataset of the project, by name."""
        return self._datasets(None)

    def _datasets(self, where: ColumnElement[bool] | None) -> list[Dataset]:
        v = dataset_versions
        counts = (
            select(
                v.c.dataset_id,
                func.count().label("version_count"),
                func.max(v.c.version).label("latest_version"),
            )
            .group_by(v.c.dataset_id)
            .subquery()
        )
        query = (
            select(
                datasets,
                func.coalesce(counts.c.version_count, 0).label("version_count"),
                counts.c.latest_version,
            )
            .outerjoin(counts, counts.c.dataset_id == datasets.c.id)
            .where(self._in_project())
            .order_by(datasets.c.name)
        )
        if where is not None:
            query = query.where(where)
        with self.engine.connect() as conn:
            return [Dataset.model_validate(dict(r)) for r in conn.execute(query).mappings()]

    # -- versions ------------------------------------------------------------------------

    def add_version(
        self,
        name: str,
        parquet: str | Path,
        *,
        columns: list[Column],
        row_count: int,
        recipe: Mapping[str, Any],
        parent_version_id: str | None = None,
        description: str = "",
        report: Mapping[str, Any] | None = None,
        extra_parents: Sequence[str] = (),
    ) -> DatasetVersion:
        """Store a Parquet file as the next version of `name`, creating the dataset if new.

        The blob is stored first and the rows after it in one transaction, so a failure
        leaves no version behind (at worst an unreferenced blob). Registering the same
        content again makes a new version number with the same digest, as MLflow does.
        `extra_parents` are other versions the step read (the right side of a join): they
        get lineage edges too.
        """
        base = _dataset_row(self.project, name, description)
        blob = self.artifacts.put_file(parquet)
        for _ in range(_ATTEMPTS):
            try:
                with writing(self.engine) as conn:
                    dataset_id = self._ensure_dataset(conn, base)
                    parents = [parent_version_id, *extra_parents] if parent_version_id else []
                    for parent in parents:
                        self._check_version(conn, parent)
                    number = self._next_version(conn, dataset_id)
                    row: dict[str, Any] = {
                        "id": new_id(),
                        "dataset_id": dataset_id,
                        "version": number,
                        "digest": blob.digest,
                        "columns": [c.model_dump() for c in columns],
                        "row_count": row_count,
                        "size_bytes": blob.size,
                        "parent_version_id": parent_version_id,
                        "recipe": dict(recipe),
                        "report": dict(report) if report is not None else None,
                        "created_at": utcnow(),
                    }
                    conn.execute(dataset_versions.insert(), row)
                    after = {k: row[k] for k in ("digest", "row_count", "recipe")}
                    uri = f"datasets:/{base['name']}/{number}"
                    record(
                        conn,
                        "dataset_version.create",
                        "dataset_version",
                        row["id"],
                        uri,
                        project=self.project,
                        after=after,
                    )
                    for parent in parents:
                        add_edge(
                            conn,
                            "dataset_version",
                            parent,
                            "dataset_version",
                            row["id"],
                            "derived_from",
                        )
            except IntegrityError:
                continue
            return DatasetVersion.model_validate({**row, "dataset_name": base["name"]})
        raise Conflict(f"could not add a version to {base['name']!r}: too many concurrent writers")

    def _ensure_dataset(self, conn: Connection, base: dict[str, Any]) -> str:
        query = select(datasets.c.id).where(datasets.c.name == base["name"], self._in_project())
        found = conn.execute(query).scalar()
        if found is not None:
            return str(found)
        conn.execute(datasets.insert(), base)
        return str(base["id"])

    def _check_version(self, conn: Connection, version_id: str) -> None:
        """NotFound unless `version_id` is a version of a dataset in this project."""
        v = dataset_versions
        query = (
            select(v.c.id)
            .join(datasets, datasets.c.id == v.c.dataset_id)
            .where(v.c.id == version_id, self._in_project())
        )
        if conn.execute(query).scalar() is None:
            raise NotFound(f"no dataset version with id {version_id!r}")

    def _next_version(self, conn: Connection, dataset_id: str) -> int:
        query = select(func.max(dataset_versions.c.version)).where(
            dataset_versions.c.dataset_id == dataset_id
        )
        return int(conn.execute(query).scalar() or 0) + 1

    def get_version(self, uri: str | VersionRef) -> DatasetVersion:
        """Resolve `datasets:/name/3` or `datasets:/name@latest`."""
        ref = parse_uri(uri) if isinstance(uri, str) else uri
        if not isinstance(ref, VersionRef) or ref.kind != "datasets":
            raise InvalidInput(
                f"{str(uri)!r} is not a dataset URI: use datasets:/<name>/<version> "
                "or datasets:/<name>@latest",
                field="uri",
            )
        if ref.alias is not None and ref.alias != LATEST:
            raise InvalidInput(
                f"unknown dataset alias {ref.alias!r}: only @latest is supported", field="uri"
            )
        where = datasets.c.name == ref.name
        if ref.version is not None:
            where = where & (dataset_versions.c.version == ref.version)
        found = self._versions(where, newest_first=True, limit=1)
        if not found:
            raise NotFound(f"no dataset version {ref}")
        return found[0]

    def get_version_by_id(self, version_id: str) -> DatasetVersion:
        """A version of this project by id (lineage edges name versions so)."""
        found = self._versions(dataset_versions.c.id == version_id, newest_first=True, limit=1)
        if not found:
            raise NotFound(f"no dataset version with id {version_id!r}")
        return found[0]

    def list_versions(self, name: str) -> list[DatasetVersion]:
        """The versions of a dataset, oldest first."""
        dataset = self.get_dataset(name)
        return self._versions(dataset_versions.c.dataset_id == dataset.id, newest_first=False)

    def _versions(
        self, where: ColumnElement[bool], *, newest_first: bool, limit: int | None = None
    ) -> list[DatasetVersion]:
        v = dataset_versions
        order = v.c.version.desc() if newest_first else v.c.version
        query = (
            select(v, datasets.c.name.label("dataset_name"))
            .join(datasets, datasets.c.id == v.c.dataset_id)
            .where(where, self._in_project())
            .order_by(order)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [DatasetVersion.model_validate(dict(r)) for r in conn.execute(query).mappings()]

    def lineage(self, name: str) -> list[tuple[str, str]]:
        """(parent version id, child version id) for every derived_from edge into `name`."""
        from lmops.store.lineage import edges

        pairs: list[tuple[str, str]] = []
        for version in self.list_versions(name):
            for edge in edges(self.engine, "dataset_version", version.id, direction="upstream"):
                pairs.append((edge.from_id, edge.to_id))
        return pairs

    # -- profiles ------------------------------------------------------------------------

    def save_profile(self, profile: Profile) -> Profile:
        """Store `profile` with its version, replacing an earlier one."""
        row = {
            "version_id": profile.version_id,
            "profile": profile.model_dump(mode="json"),
            "created_at": profile.created_at,
        }
        with writing(self.engine) as conn:
            self._check_version(conn, profile.version_id)
            conn.execute(
                delete(dataset_profiles).where(dataset_profiles.c.version_id == profile.version_id)
            )
            conn.execute(dataset_profiles.insert(), row)
        return profile

    def get_profile(self, version_id: str) -> Profile | None:
        """The stored profile of a version, or None when it was never profiled (or the version
        is not in this project)."""
        p, v = dataset_profiles, dataset_versions
        query = (
            select(p.c.profile)
            .join(v, v.c.id == p.c.version_id)
            .join(datasets, datasets.c.id == v.c.dataset_id)
            .where(p.c.version_id == version_id, self._in_project())
        )
        with self.engine.connect() as conn:
            found = conn.execute(query).scalar()
        return None if found is None else Profile.model_validate(found)

    # -- jobs ----------------------------------------------------------------------------

    def start_job(
        self, dataset_name: str, op: str, total: int, input_version_id: str | None = None
    ) -> Job:
        now = utcnow()
        row = {
            "id": new_id(),
            "project": self.project,
            "dataset_name": dataset_name,
            "op": op,
            "status": "running",
            "done": 0,
            "total": total,
            "message": "",
            "input_version_id": input_version_id,
            "output_version_id": None,
            "started_at": now,
            "updated_at": now,
        }
        with writing(self.engine) as conn:
            conn.execute(dataset_jobs.insert(), row)
        return Job.model_validate(row)

    def update_job(self, job_id: str, **values: Any) -> None:
        """Set progress (done), status, message or output_version_id of a job."""
        values["updated_at"] = utcnow()
        with writing(self.engine) as conn:
            conn.execute(
                update(dataset_jobs)
                .where(dataset_jobs.c.id == job_id, dataset_jobs.c.project == self.project)
                .values(**values)
            )

    def list_jobs(self, dataset_name: str | None = None, limit: int = 50) -> list[Job]:
        """The latest jobs of the project, newest first, for one dataset or all."""
        query = (
            select(dataset_jobs)
            .where(dataset_jobs.c.project == self.project)
            .order_by(dataset_jobs.c.started_at.desc())
            .limit(limit)
        )
        if dataset_name is not None:
            query = query.where(dataset_jobs.c.dataset_name == dataset_name)
        with self.engine.connect() as conn:
            found = [Job.model_validate(dict(r)) for r in conn.execute(query).mappings()]
        silent_since = utcnow() - ABANDONED_AFTER
        for j in found:
            if j.status == "running" and j.updated_at < silent_since:
                j.status = "abandoned"  # its heartbeat stopped: the process running it died
        return found

    def _in_project(self) -> ColumnElement[bool]:
        """The filter every query of this store carries: datasets of this project only."""
        return datasets.c.project == self.project


def _dataset_row(project: str, name: str, description: str) -> dict[str, Any]:
    return {
        "id": new_id(),
        "project": project,
        "name": check_dataset_name(name),
        "description": check_text(description, "description", max_length=10_000),
        "created_at": utcnow(),
    }


def check_dataset_name(name: str) -> str:
    """A name that fits in a `datasets:/name/3` URI, or InvalidInput."""
    return check_name(name, "dataset")
