"""The tracking store: the only code that runs SQL for experiments, runs and metrics.

A store works in one project (`in_project`): experiments are made in it and every read or
write names only its experiments, and the runs of those. Runs have no project of their
own: they belong to their experiment's. An id from another project is NotFound, exactly
like an id that does not exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Select, and_, exists, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from lmops.artifacts import ArtifactStore
from lmops.core.errors import Conflict, InvalidInput, NotFound
from lmops.core.ids import new_id, utcnow
from lmops.core.projects import DEFAULT_PROJECT, InProject
from lmops.core.text import check_text
from lmops.store.engine import writing
from lmops.tracking import search
from lmops.tracking.downsample import downsample
from lmops.tracking.entities import (
    Experiment,
    Metric,
    MetricRow,
    Run,
    RunArtifact,
    RunPage,
    RunStatus,
    check_key,
    metric_value,
)
from lmops.tracking.search_sql import (
    apply_order,
    compile_filter,
    decode_page_token,
    page_token_at,
)
from lmops.tracking.tables import (
    experiments,
    latest_metrics,
    metrics,
    params,
    run_artifacts,
    run_tags,
    runs,
)
from lmops.tracking.validation import (
    check_artifact_path,
    check_name,
    check_status,
    check_tags,
    check_time,
    known_id,
    run_name,
    stringify_params,
)

MAX_RESULTS = 1000
__all__ = ["MAX_RESULTS", "TrackingStore", "page_token_at"]


class TrackingStore(InProject):
    """Experiments, runs, params, tags, metrics and run artifacts in the metadata store."""

    def __init__(
        self, engine: Engine, artifacts: ArtifactStore, project: str = DEFAULT_PROJECT
    ) -> None:
        self.engine = engine
        self.artifacts = artifacts
        self.project = project
        self._upsert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        mark = "?" if engine.dialect.paramstyle == "qmark" else "%s"
        self._insert_metrics_sql = (
            "INSERT INTO metrics (run_id, key, value, step, timestamp) "
            f"VALUES ({', '.join([mark] * 5)})"
        )

    def close(self) -> None:
        """Nothing to release: the engine is shared by every store on the same URI."""

    # -- experiments ---------------------------------------------------------------------

    def create_experiment(
        self, name: str, description: str = "", tags: Mapping[str, str] | None = None
    ) -> Experiment:
        """Create an experiment; a taken name is a Conflict."""
        name = check_name(name, "name")
        row = {
            "id": new_id(),
            "project": self.project,
            "name": name,
            "description": check_text(description, "description", max_length=10_000),
            "tags": check_tags(tags),
            "created_at": utcnow(),
        }
        try:
            with writing(self.engine) as conn:
                conn.execute(experiments.insert(), row)
        except IntegrityError as exc:
            raise Conflict(
                f"an experiment named {name!r} already exists in project {self.project!r}"
            ) from exc
        return Experiment.model_validate(row)

    def get_experiment(self, experiment_id: str) -> Experiment:
        known_id(experiment_id, "experiment")
        found = self._experiments(experiments.c.id == experiment_id)
        if not found:
            raise NotFound(f"no experiment with id {experiment_id!r}")
        return found[0]

    def get_experiment_by_name(self, name: str) -> Experiment:
        found = self._experiments(experiments.c.name == check_text(name, "name"))
        if not found:
            raise NotFound(f"no experiment named {name!r}")
        return found[0]

    def get_or_create_experiment(self, name: str) -> Experiment:
        try:
            return self.get_experiment_by_name(name)
        except NotFound:
            try:
                return self.create_experiment(name)
            except Conflict:  # another process created it in between
                return self.get_experiment_by_name(name)

    def list_experiments(self) -> list[Experiment]:
        return self._experiments(None)

    def _experiments(self, where: ColumnElement[bool] | None) -> list[Experiment]:
        # Counted per experiment over the runs (experiment_id, start_time) index: never a
        # count of every run of every project.
        run_count = (
            select(func.count())
            .where(runs.c.experiment_id == experiments.c.id)
            .scalar_subquery()
            .label("run_count")
        )
        query = (
            select(experiments, run_count)
            .where(experiments.c.project == self.project)
            .order_by(experiments.c.created_at.desc())
        )
        if where is not None:
            query = query.where(where)
        with self.engine.connect() as conn:
            return [Experiment.model_validate(dict(r)) for r in conn.execute(query).mappings()]

    # -- runs ----------------------------------------------------------------------------

    def create_run(
        self,
        experiment_id: str,
        name: str | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        parent_run_id: str | None = None,
        start_time: datetime | None = None,
    ) -> Run:
        """Start a run in RUNNING state, with its first params and tags."""
        self.get_experiment(experiment_id)
        if parent_run_id is not None:
            self.get_run(parent_run_id)
        run_id = new_id()
        row = {
            "id": run_id,
            "experiment_id": experiment_id,
            "name": check_name(name, "name") if name else run_name(),
            "status": RunStatus.RUNNING.value,
            "start_time": check_time(start_time, "start_time") or utcnow(),
            "end_time": None,
            "parent_run_id": parent_run_id,
        }
        with writing(self.engine) as conn:
            conn.execute(runs.insert(), row)
            self._write_params(conn, run_id, stringify_params(params))
            self._write_tags(conn, run_id, check_tags(tags))
        return self.get_run(run_id)

    def get_run(self, run_id: str) -> Run:
        known_id(run_id, "run")
        with self.engine.connect() as conn:
            found = self._load_runs(conn, select(runs).where(self._run(run_id)))
        if not found:
            raise NotFound(f"no run with id {run_id!r}")
        return found[0]

    def end_run(
        self,
        run_id: str,
        status: RunStatus | str = RunStatus.FINISHED,
        end_time: datetime | None = None,
    ) -> Run:
        """Mark a run finished, failed or killed."""
        status = check_status(status)
        known_id(run_id, "run")
        end_time = check_time(end_time, "end_time") or utcnow()
        with writing(self.engine) as conn:
            done = conn.execute(
                runs.update()
                .where(self._run(run_id))
                .values(status=status.value, end_time=end_time)
            )
            if done.rowcount == 0:
                raise NotFound(f"no run with id {run_id!r}")
        return self.get_run(run_id)

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 100,
        page_token: str | None = None,
    ) -> RunPage:
        """Find runs by a filter string, ordered and paginated on the server side."""
        if not 1 <= max_results <= MAX_RESULTS:
            raise InvalidInput(
                f"max_results must be between 1 and {MAX_RESULTS}", field="max_results"
            )
        own = self._own_experiments(experiment_ids)
        offset = decode_page_token(page_token)
        where: ColumnElement[bool] = runs.c.experiment_id.in_(own)
        if (node := search.parse_filter(check_text(filter or "", "filter"))) is not None:
            where = and_(where, compile_filter(node))
        query = select(runs).where(where)
        for key in search.parse_order_by(list(order_by or [])):
            query = apply_order(query, key)
        query = query.order_by(runs.c.start_time.desc(), runs.c.id)
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(runs).where(where)).scalar_one()
            page = self._load_runs(conn, query.offset(offset).limit(max_results))
        more = offset + len(page) < total
        return RunPage(
            runs=page,
            total=total,
            next_page_token=page_token_at(offset + len(page)) if more else None,
        )

    def _own_experiments(self, experiment_ids: Sequence[str]) -> list[str]:
        """The ids given, checked in one query to be experiments of this project."""
        wanted = list(dict.fromkeys(experiment_ids))
        for experiment_id in wanted:
            known_id(experiment_id, "experiment")
        with self.engine.connect() as conn:
            found = set(
                conn.execute(
                    select(experiments.c.id).where(
                        experiments.c.id.in_(wanted), experiments.c.project == self.project
                    )
                ).scalars()
            )
        for experiment_id in wanted:
            if experiment_id not in found:
                raise NotFound(f"no experiment with id {experiment_id!r}")
        return wanted

    def _run(self, run_id: str) -> ColumnElement[bool]:
        """The WHERE clause naming run `run_id` if its experiment is in this project."""
        return and_(
            runs.c.id == run_id,
            exists().where(
                experiments.c.id == runs.c.experiment_id,
                experiments.c.project == self.project,
            ),
        )

    def _load_runs(self, conn: Connection, query: Select[Any]) -> list[Run]:
        rows = list(conn.execute(query).mappings())
        ids = [r["id"] for r in rows]
        if not ids:
            return []
        extra: dict[str, dict[str, dict[str, Any]]] = {
            i: {"params": {}, "tags": {}, "metrics": {}} for i in ids
        }
        for table, field in ((params, "params"), (run_tags, "tags")):
            for run_id, key, value in conn.execute(
                select(table.c.run_id, table.c.key, table.c.value).where(table.c.run_id.in_(ids))
            ):
                extra[run_id][field][key] = value
        for run_id, key, value in conn.execute(
            select(latest_metrics.c.run_id, latest_metrics.c.key, latest_metrics.c.value).where(
                latest_metrics.c.run_id.in_(ids)
            )
        ):
            extra[run_id]["metrics"][key] = metric_value(value)
        return [Run.model_validate({**r, **extra[r["id"]]}) for r in rows]

    # -- params, tags, metrics -----------------------------------------------------------

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Write metrics, params and tags in one transaction: all of them or none."""
        rows = [(m.key, m.value, m.step, m.timestamp) for m in metrics]
        self._log(run_id, rows, stringify_params(params), check_tags(tags))

    def log_metric_rows(
        self,
        run_id: str,
        rows: Sequence[MetricRow],
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Like log_batch, for (key, value, step, timestamp) tuples already validated: the
        SDK's queue and the server hand batches over this way, with no object per point."""
        self._log(run_id, rows, stringify_params(params), check_tags(tags))

    def _log(
        self,
        run_id: str,
        rows: Sequence[MetricRow],
        clean_params: dict[str, str],
        clean_tags: dict[str, str],
    ) -> None:
        known_id(run_id, "run")
        with writing(self.engine) as conn:
            if conn.execute(select(runs.c.id).where(self._run(run_id))).first() is None:
                raise NotFound(f"no run with id {run_id!r}")
            self._write_params(conn, run_id, clean_params)
            self._write_tags(conn, run_id, clean_tags)
            if rows:
                self._write_metrics(conn, run_id, rows)

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        self.log_batch(run_id, params=params)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        self.log_batch(run_id, tags=tags)

    def log_metrics(self, run_id: str, points: Sequence[Metric]) -> None:
        self.log_batch(run_id, metrics=points)

    def _write_params(self, conn: Connection, run_id: str, new: dict[str, str]) -> None:
        if not new:
            return
        existing = dict(
            conn.execute(
                select(params.c.key, params.c.value).where(
                    params.c.run_id == run_id, params.c.key.in_(list(new))
                )
            ).all()
        )
        for key, value in new.items():
            if key in existing and existing[key] != value:
                raise Conflict(
                    f"param {key!r} of run {run_id} is already {existing[key]!r}; "
                    f"params are write-once, cannot change it to {value!r}"
                )
        rows = [
            {"run_id": run_id, "key": k, "value": v} for k, v in new.items() if k not in existing
        ]
        if rows:
            try:
                with conn.begin_nested():
                    conn.execute(params.insert(), rows)
            except IntegrityError as exc:  # a concurrent writer logged the same key
                raise Conflict(f"params of run {run_id} changed while writing; retry") from exc

    def _write_tags(self, conn: Connection, run_id: str, new: dict[str, str]) -> None:
        if not new:
            return
        stmt = self._upsert(run_tags)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[run_tags.c.run_id, run_tags.c.key],
                set_={"value": stmt.excluded.value},
            ),
            [{"run_id": run_id, "key": k, "value": v} for k, v in new.items()],
        )

    def _write_metrics(self, conn: Connection, run_id: str, rows: Sequence[MetricRow]) -> None:
        # The hot path of every training loop: plain DB-API executemany over tuples costs
        # about half of building one dict per point for SQLAlchemy.
        # NaN is stored as NULL on both dialects (SQLite cannot keep it), so search and
        # ordering treat it alike everywhere.
        conn.exec_driver_sql(
            self._insert_metrics_sql,
            [(run_id, k, None if v != v else v, st, ts) for k, v, st, ts in rows],
        )
        latest: dict[str, MetricRow] = {}
        for row in rows:
            best = latest.get(row[0])
            if best is None or (row[2], row[3]) >= (best[2], best[3]):
                latest[row[0]] = row
        stmt = self._upsert(latest_metrics)
        newer = tuple_(stmt.excluded.step, stmt.excluded.timestamp) >= tuple_(
            latest_metrics.c.step, latest_metrics.c.timestamp
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[latest_metrics.c.run_id, latest_metrics.c.key],
                set_={c: stmt.excluded[c] for c in ("value", "step", "timestamp")},
                where=newer,
            ),
            # Sorted keys: two writers to one run lock rows in the same order, no deadlock.
            [
                {
                    "run_id": run_id,
                    "key": k,
                    "value": None if v != v else v,
                    "step": st,
                    "timestamp": ts,
                }
                for k, v, st, ts in (latest[key] for key in sorted(latest))
            ],
        )

    def get_metric_history(
        self, run_id: str, key: str, max_points: int | None = None
    ) -> list[Metric]:
        """Every point of one metric in step order; thinned to `max_points` for charts."""
        check_key(key, "key")
        self.get_run(run_id)
        query = (
            select(metrics.c.value, metrics.c.step, metrics.c.timestamp)
            .where(metrics.c.run_id == run_id, metrics.c.key == key)
            .order_by(metrics.c.step, metrics.c.timestamp, metrics.c.id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        if not rows and key not in self.get_run(run_id).metrics:
            raise NotFound(f"run {run_id} has no metric {key!r}")
        # Thin plain rows first: one object per kept point, not per stored point.
        values = [metric_value(r[0]) for r in rows]
        kept = downsample(values, max_points) if max_points else range(len(rows))
        return [
            Metric.model_construct(key=key, value=values[i], step=rows[i][1], timestamp=rows[i][2])
            for i in kept
        ]

    # -- artifacts -----------------------------------------------------------------------

    def log_artifact(
        self, run_id: str, local_path: str | Path, artifact_path: str | None = None
    ) -> RunArtifact:
        """Store a file or directory in the artifact store and attach it to the run."""
        source = Path(local_path)
        if not source.exists():
            raise InvalidInput(f"no such file or directory: {source}", field="local_path")
        self.get_run(run_id)
        blob = (
            self.artifacts.put_dir(source) if source.is_dir() else self.artifacts.put_file(source)
        )
        return self._record_artifact(
            run_id, artifact_path or source.name, blob.digest, blob.size, is_dir=source.is_dir()
        )

    def record_file(self, run_id: str, path: str, digest: str) -> RunArtifact:
        """Attach an uploaded blob to a run as the file `path`."""
        if not self.artifacts.exists(digest):
            raise NotFound(f"no artifact blob with digest {digest}; upload it first")
        return self._record_artifact(run_id, path, digest, self.artifacts.size(digest), False)

    def record_directory(self, run_id: str, path: str, files: Mapping[str, str]) -> RunArtifact:
        """Attach uploaded blobs to a run as the directory `path` ({relpath: digest})."""
        manifest = self.artifacts.put_manifest(dict(files))
        size = sum(self.artifacts.size(d) for d in files.values())
        return self._record_artifact(run_id, path, manifest.digest, size, True)

    def _record_artifact(
        self, run_id: str, path: str, digest: str, size: int, is_dir: bool
    ) -> RunArtifact:
        path = check_artifact_path(path)
        known_id(run_id, "run")
        row = {
            "run_id": run_id,
            "path": path,
            "digest": digest,
            "size": size,
            "is_dir": is_dir,
            "created_at": utcnow(),
        }
        stmt = self._upsert(run_artifacts)
        with writing(self.engine) as conn:
            if conn.execute(select(runs.c.id).where(self._run(run_id))).first() is None:
                raise NotFound(f"no run with id {run_id!r}")
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[run_artifacts.c.run_id, run_artifacts.c.path],
                    set_={c: stmt.excluded[c] for c in ("digest", "size", "is_dir", "created_at")},
                ),
                row,
            )
        return RunArtifact.model_validate(row)

    def list_artifacts(self, run_id: str) -> list[RunArtifact]:
        self.get_run(run_id)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(run_artifacts)
                .where(run_artifacts.c.run_id == run_id)
                .order_by(run_artifacts.c.path)
            ).mappings()
            return [RunArtifact.model_validate(dict(r)) for r in rows]

    def resolve_artifact(self, run_id: str, path: str) -> tuple[str, bool]:
        """Return (digest, is_dir) of an artifact path, or of a file inside a logged directory."""
        path = path.strip("/")
        for artifact in self.list_artifacts(run_id):
            if artifact.path == path:
                return artifact.digest, artifact.is_dir
            if artifact.is_dir and path.startswith(artifact.path + "/"):
                inner = path[len(artifact.path) + 1 :]
                manifest = self.artifacts.read_manifest(artifact.digest)
                if inner in manifest:
                    return manifest[inner], False
        raise NotFound(f"run {run_id} has no artifact {path!r}")

    def artifact_files(self, run_id: str, path: str) -> list[str]:
        """Files under an artifact path, relative to it ("" when the path is a file)."""
        digest, is_dir = self.resolve_artifact(run_id, path)
        return sorted(self.artifacts.read_manifest(digest)) if is_dir else [""]

    def download_artifact(self, run_id: str, path: str, dest: str | Path) -> Path:
        digest, is_dir = self.resolve_artifact(run_id, path)
        target = Path(dest) / Path(path).name
        if is_dir:
            return self.artifacts.get_dir(digest, target)
        return self.artifacts.get_file(digest, target)
