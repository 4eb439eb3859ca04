"""The registry store: the only code that runs SQL for registered models and their versions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import ScalarSelect

from lmops.artifacts import ArtifactStore
from lmops.core.errors import Conflict, InvalidInput, NotFound
from lmops.core.ids import new_id, utcnow
from lmops.core.projects import DEFAULT_PROJECT, InProject
from lmops.core.text import check_text
from lmops.core.uris import VersionRef, check_name, parse_uri
from lmops.registry.entities import (
    CardRevision,
    ModelCard,
    ModelFormat,
    ModelSource,
    ModelVersion,
    RegisteredModel,
)
from lmops.registry.policies import refuse_if_protected
from lmops.registry.tables import (
    model_aliases,
    model_cards,
    model_secrets,
    model_versions,
    registered_models,
)
from lmops.store.audit import current_actor, record
from lmops.store.engine import writing
from lmops.store.lineage import add_edge

LATEST = "latest"  # an alias every model has: its highest version; it cannot be set
MAX_CARD_CHARS = 200_000
_ATTEMPTS = 5  # a concurrent writer may take the next version number first


class RegistryStore(InProject):
    """Registered models, their immutable versions and the aliases that point at them.

    Everything it reads and writes is in `self.project`: a model, version, alias, card or
    secret of another project is looked up as if it did not exist (NotFound, the same
    message), by name, by `models:/` URI and by id alike.
    """

    def __init__(
        self, engine: Engine, artifacts: ArtifactStore, project: str = DEFAULT_PROJECT
    ) -> None:
        self.engine = engine
        self.artifacts = artifacts
        self.project = project

    # -- models --------------------------------------------------------------------------

    def create_model(
        self, name: str, description: str = "", tags: Mapping[str, str] | None = None
    ) -> RegisteredModel:
        """Register a model name; a name taken in this project is a Conflict."""
        row = _model_row(self.project, name, description, tags)
        try:
            with writing(self.engine) as conn:
                conn.execute(registered_models.insert(), row)
                _record_model(conn, row)
        except IntegrityError as exc:
            raise Conflict(f"a model named {row['name']!r} is already registered") from exc
        return self.get_model(row["name"])

    def get_model(self, name: str) -> RegisteredModel:
        found = self._models(registered_models.c.name == check_text(name, "name"))
        if not found:
            raise NotFound(f"no registered model named {name!r}")
        return found[0]

    def list_models(self) -> list[RegisteredModel]:
        """Every registered model of the project, by name."""
        return self._models(None)

    def _models(self, where: ColumnElement[bool] | None) -> list[RegisteredModel]:
        v = model_versions
        counts = (
            select(
                v.c.model_id,
                func.count().label("version_count"),
                func.max(v.c.version).label("latest_version"),
            )
            .group_by(v.c.model_id)
            .subquery()
        )
        query = (
            select(
                registered_models,
                func.coalesce(counts.c.version_count, 0).label("version_count"),
                counts.c.latest_version,
            )
            .outerjoin(counts, counts.c.model_id == registered_models.c.id)
            .where(self._in_project())
            .order_by(registered_models.c.name)
        )
        if where is not None:
            query = query.where(where)
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
            aliases = self._aliases_by_model(conn, [r["id"] for r in rows])
        return [
            RegisteredModel.model_validate({**r, "aliases": aliases.get(r["id"], {})}) for r in rows
        ]

    def _aliases_by_model(self, conn: Connection, ids: list[str]) -> dict[str, dict[str, int]]:
        query = (
            select(model_aliases.c.model_id, model_aliases.c.alias, model_versions.c.version)
            .join(model_versions, model_versions.c.id == model_aliases.c.version_id)
            .where(model_aliases.c.model_id.in_(ids))
            .order_by(model_aliases.c.alias)
        )
        found: dict[str, dict[str, int]] = {}
        for model_id, alias, version in conn.execute(query):
            found.setdefault(model_id, {})[alias] = version
        return found

    # -- versions ------------------------------------------------------------------------

    def create_version(
        self,
        name: str,
        *,
        format: ModelFormat,
        source: ModelSource,
        digest: str | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        base_version_id: str | None = None,
        api_key: str | None = None,
    ) -> ModelVersion:
        """Add the next version of `name` (registered if new) in one transaction.

        `digest` names the version's files (a directory manifest in the artifact store);
        an external endpoint has none. A version made by a run gets a lineage edge from
        the run, an adapter one from its base version, which must be in this project.
        """
        base = _model_row(self.project, name, "", None)
        if digest is not None and not self.artifacts.exists(digest):
            raise NotFound(f"no artifact blob with digest {digest}; store the files first")
        if (digest is None) != (format.kind == "external"):
            raise InvalidInput("a version has files unless it is an external endpoint")
        row_tags = _tags(tags)
        for _ in range(_ATTEMPTS):
            try:
                with writing(self.engine) as conn:
                    model_id = self._ensure_model(conn, base)
                    if base_version_id is not None:
                        self._version_row(
                            conn,
                            model_versions.c.id == base_version_id,
                            missing=f"no model version with id {base_version_id!r}",
                        )
                    row: dict[str, Any] = {
                        "id": new_id(),
                        "model_id": model_id,
                        "version": self._next_version(conn, model_id),
                        "description": check_text(description, "description", max_length=10_000),
                        "tags": row_tags,
                        "digest": digest,
                        "format": format.model_dump(mode="json"),
                        "source": source.model_dump(mode="json", exclude_none=True),
                        "base_version_id": base_version_id,
                        "created_at": utcnow(),
                    }
                    conn.execute(model_versions.insert(), row)
                    if api_key:
                        conn.execute(
                            model_secrets.insert(), {"version_id": row["id"], "api_key": api_key}
                        )
                    self._link(conn, row["id"], source, base_version_id)
                    uri = f"models:/{base['name']}/{row['version']}"
                    after = {k: row[k] for k in ("digest", "format", "source", "tags")}
                    record(
                        conn,
                        "model_version.create",
                        "model_version",
                        row["id"],
                        uri,
                        project=self.project,
                        after=after,
                    )
            except IntegrityError:
                continue
            return self.get_version_by_id(row["id"])
        raise Conflict(f"could not add a version to {base['name']!r}: too many concurrent writers")

    def _ensure_model(self, conn: Connection, base: dict[str, Any]) -> str:
        query = select(registered_models.c.id).where(
            registered_models.c.name == base["name"], self._in_project()
        )
        found = conn.execute(query).scalar()
        if found is not None:
            return str(found)
        conn.execute(registered_models.insert(), base)
        _record_model(conn, base)
        return str(base["id"])

    def _next_version(self, conn: Connection, model_id: str) -> int:
        query = select(func.max(model_versions.c.version)).where(
            model_versions.c.model_id == model_id
        )
        return int(conn.execute(query).scalar() or 0) + 1

    def _link(
        self, conn: Connection, version_id: str, source: ModelSource, base_version_id: str | None
    ) -> None:
        if source.type == "run" and source.run_id:
            add_edge(conn, "run", source.run_id, "model_version", version_id, "produced")
        if base_version_id is not None:
            add_edge(
                conn, "model_version", base_version_id, "model_version", version_id, "adapter_of"
            )

    def get_version(self, uri: str | VersionRef) -> ModelVersion:
        """Resolve `models:/name/3`, `models:/name@alias` or `models:/name@latest`."""
        ref = parse_uri(uri) if isinstance(uri, str) else uri
        if not isinstance(ref, VersionRef) or ref.kind != "models":
            raise InvalidInput(
                f"{str(uri)!r} is not a model URI: use models:/<name>/<version> "
                "or models:/<name>@<alias>",
                field="uri",
            )
        model = self.get_model(ref.name)
        with self.engine.connect() as conn:
            if ref.version is not None:
                where = (model_versions.c.model_id == model.id) & (
                    model_versions.c.version == ref.version
                )
            elif ref.alias == LATEST:
                if model.latest_version is None:
                    raise NotFound(f"model {ref.name!r} has no versions yet")
                where = (model_versions.c.model_id == model.id) & (
                    model_versions.c.version == model.latest_version
                )
            else:
                target = conn.execute(
                    select(model_aliases.c.version_id).where(
                        (model_aliases.c.model_id == model.id)
                        & (model_aliases.c.alias == ref.alias)
                    )
                ).scalar()
                if target is None:
                    known = ", ".join(sorted(model.aliases)) or "none"
                    raise NotFound(
                        f"model {ref.name!r} has no alias {ref.alias!r} (aliases: {known})"
                    )
                where = model_versions.c.id == target
            return self._version_row(conn, where, missing=f"no model version {ref}")

    def get_version_by_id(self, version_id: str) -> ModelVersion:
        """A version of this project by id (lineage edges and base references name it so)."""
        with self.engine.connect() as conn:
            return self._version_row(conn, model_versions.c.id == version_id)

    def list_versions(self, name: str) -> list[ModelVersion]:
        """The versions of a model, oldest first."""
        model = self.get_model(name)
        with self.engine.connect() as conn:
            return self._versions(conn, model_versions.c.model_id == model.id)

    def _version_row(
        self, conn: Connection, where: ColumnElement[bool], missing: str = ""
    ) -> ModelVersion:
        found = self._versions(conn, where)
        if not found:
            raise NotFound(missing or "no such model version")
        return found[0]

    def _versions(self, conn: Connection, where: ColumnElement[bool]) -> list[ModelVersion]:
        v = model_versions
        secret = select(model_secrets.c.version_id).where(model_secrets.c.version_id == v.c.id)
        query = (
            select(
                v,
                registered_models.c.name.label("model_name"),
                secret.exists().label("has_api_key"),
            )
            .join(registered_models, registered_models.c.id == v.c.model_id)
            .where(where, self._in_project())
            .order_by(v.c.version)
        )
        rows = [dict(r) for r in conn.execute(query).mappings()]
        aliases: dict[str, list[str]] = {}
        ids = [r["id"] for r in rows]
        for alias, version_id in conn.execute(
            select(model_aliases.c.alias, model_aliases.c.version_id)
            .where(model_aliases.c.version_id.in_(ids))
            .order_by(model_aliases.c.alias)
        ):
            aliases.setdefault(version_id, []).append(alias)
        return [
            ModelVersion.model_validate({**r, "aliases": aliases.get(r["id"], [])}) for r in rows
        ]

    def update_version(
        self,
        uri: str,
        *,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        remove_tags: list[str] | None = None,
    ) -> ModelVersion:
        """Change a version's description or tags (its files and format never change)."""
        version = self.get_version(uri)
        values: dict[str, Any] = {}
        if description is not None:
            values["description"] = check_text(description, "description", max_length=10_000)
        if tags is not None or remove_tags:
            merged = {**version.tags, **_tags(tags)}
            for key in remove_tags or []:
                merged.pop(key, None)
            values["tags"] = merged
        if values:
            before = {k: getattr(version, k) for k in values}
            with writing(self.engine) as conn:
                conn.execute(
                    update(model_versions).where(model_versions.c.id == version.id).values(**values)
                )
                record(
                    conn,
                    "model_version.update",
                    "model_version",
                    version.id,
                    version.uri,
                    project=self.project,
                    before=before,
                    after=values,
                )
        return self.get_version_by_id(version.id)

    def api_key(self, version_id: str) -> str | None:
        """An external endpoint's key, for the code that calls it; never for a response."""
        query = select(model_secrets.c.api_key).where(
            model_secrets.c.version_id == self._own_version(version_id)
        )
        with self.engine.connect() as conn:
            found = conn.execute(query).scalar()
        return None if found is None else str(found)

    # -- cards ---------------------------------------------------------------------------

    def save_card(self, version_id: str, markdown: str, *, generated: bool) -> ModelCard:
        """Add the next revision of a version's card; earlier revisions stay as they were."""
        version = self.get_version_by_id(version_id)
        text = check_text(markdown, "markdown", max_length=MAX_CARD_CHARS)
        for _ in range(_ATTEMPTS):
            try:
                with writing(self.engine) as conn:
                    latest = conn.execute(
                        select(func.max(model_cards.c.revision)).where(
                            model_cards.c.version_id == version.id
                        )
                    ).scalar()
                    row = {
                        "version_id": version.id,
                        "revision": int(latest or 0) + 1,
                        "markdown": text,
                        "generated": generated,
                        "author": current_actor(),
                        "created_at": utcnow(),
                    }
                    conn.execute(model_cards.insert(), row)
                    record(
                        conn,
                        "model_card.save",
                        "model_version",
                        version.id,
                        f"{version.uri} card",
                        project=self.project,
                        before=None if latest is None else {"revision": latest},
                        after={"revision": row["revision"], "generated": generated},
                    )
            except IntegrityError:
                continue
            return ModelCard.model_validate(row)
        raise Conflict(f"could not save the card of {version.uri}: too many concurrent writers")

    def get_card(self, version_id: str, revision: int | None = None) -> ModelCard | None:
        """A revision of a version's card (the latest by default), or None if it has none (or
        the version is not in this project)."""
        query = (
            select(model_cards)
            .where(model_cards.c.version_id == self._own_version(version_id))
            .order_by(model_cards.c.revision.desc())
            .limit(1)
        )
        if revision is not None:
            query = query.where(model_cards.c.revision == revision)
        with self.engine.connect() as conn:
            found = conn.execute(query).mappings().first()
        return None if found is None else ModelCard.model_validate(dict(found))

    def list_cards(self, version_id: str) -> list[CardRevision]:
        """The revisions of a version's card, newest first, without their markdown."""
        c = model_cards.c
        query = (
            select(c.revision, c.generated, c.author, c.created_at)
            .where(c.version_id == self._own_version(version_id))
            .order_by(c.revision.desc())
        )
        with self.engine.connect() as conn:
            return [CardRevision.model_validate(dict(r)) for r in conn.execute(query).mappings()]

    # -- aliases -------------------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: int) -> ModelVersion:
        """Point `alias` of model `name` at `version` (moving it if it pointed elsewhere)."""
        check_name(alias, "alias", field="alias")
        if alias == LATEST:
            raise InvalidInput("@latest always means the highest version; it cannot be set")
        target = self.get_version(VersionRef("models", name, version=version))
        row = {
            "model_id": target.model_id,
            "alias": alias,
            "version_id": target.id,
            "updated_at": utcnow(),
        }
        with writing(self.engine) as conn:
            refuse_if_protected(conn, target.model_id, name, alias, version)
            where = (model_aliases.c.model_id == target.model_id) & (model_aliases.c.alias == alias)
            previous = conn.execute(
                select(model_versions.c.version)
                .join(model_aliases, model_aliases.c.version_id == model_versions.c.id)
                .where(where)
            ).scalar()
            conn.execute(delete(model_aliases).where(where))
            conn.execute(model_aliases.insert(), row)
            record(
                conn,
                "model_alias.set",
                "model",
                target.model_id,
                f"models:/{name}@{alias}",
                project=self.project,
                before=None if previous is None else {"version": previous},
                after={"version": version},
            )
        return self.get_version_by_id(target.id)

    def delete_alias(self, name: str, alias: str) -> None:
        model = self.get_model(name)
        if alias not in model.aliases:
            raise NotFound(f"model {name!r} has no alias {alias!r}")
        with writing(self.engine) as conn:
            refuse_if_protected(conn, model.id, name, alias)
            conn.execute(
                delete(model_aliases).where(
                    (model_aliases.c.model_id == model.id) & (model_aliases.c.alias == alias)
                )
            )
            record(
                conn,
                "model_alias.delete",
                "model",
                model.id,
                f"models:/{name}@{alias}",
                project=self.project,
                before={"version": model.aliases[alias]},
            )

    # -- the project -----------------------------------------------------------------------

    def _in_project(self) -> ColumnElement[bool]:
        """The filter every query of this store carries: models of this project only."""
        return registered_models.c.project == self.project

    def _own_version(self, version_id: str) -> ScalarSelect[Any]:
        """`version_id` if it is a version in this project, else NULL (matching nothing)."""
        v = model_versions
        return (
            select(v.c.id)
            .join(registered_models, registered_models.c.id == v.c.model_id)
            .where(v.c.id == version_id, self._in_project())
            .scalar_subquery()
        )


def _record_model(conn: Connection, row: dict[str, Any]) -> None:
    after = {"description": row["description"], "tags": row["tags"]}
    target = f"models:/{row['name']}"
    record(conn, "model.create", "model", row["id"], target, project=row["project"], after=after)


def _model_row(
    project: str, name: str, description: str, tags: Mapping[str, str] | None
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "project": project,
        "name": check_name(name, "model"),
        "description": check_text(description, "description", max_length=10_000),
        "tags": _tags(tags),
        "created_at": utcnow(),
    }


def _tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise InvalidInput("tags must be a mapping of names to text", field="tags")
    return {
        check_text(str(k), "tag", max_length=250): check_text(str(v), "tag", max_length=5000)
        for k, v in tags.items()
    }
