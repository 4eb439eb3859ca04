"""The prompt store: the only code that runs SQL for prompts, their versions and aliases."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from lmops.core.errors import Conflict, InvalidInput, NotFound
from lmops.core.ids import new_id, utcnow
from lmops.core.projects import DEFAULT_PROJECT, InProject
from lmops.core.text import check_text
from lmops.core.uris import VersionRef, check_name, parse_uri
from lmops.prompts.content import check_body, check_object, check_response_format
from lmops.prompts.entities import ChatMessage, Prompt, RegisteredPrompt
from lmops.prompts.tables import prompt_aliases, prompt_versions, prompts
from lmops.store.audit import current_actor, record
from lmops.store.engine import writing

LATEST = "latest"  # an alias every prompt has: its highest version; it cannot be set
MAX_TAGS = 1000
_ATTEMPTS = 5  # a concurrent writer may take the next version number first


class PromptStore(InProject):
    """Prompts, their immutable versions and the aliases that point at them.

    Everything it reads and writes is in `self.project`: a prompt of another project is
    looked up as if it did not exist (NotFound, the same message), by name and URI alike.
    """

    def __init__(self, engine: Engine, project: str = DEFAULT_PROJECT) -> None:
        self.engine = engine
        self.project = project

    # -- prompts -------------------------------------------------------------------------

    def get_prompt(self, name: str) -> RegisteredPrompt:
        found = self._prompts(prompts.c.name == check_text(name, "name"))
        if not found:
            raise NotFound(f"no prompt named {name!r}")
        return found[0]

    def list_prompts(self) -> list[RegisteredPrompt]:
        """Every prompt of the project, by name."""
        return self._prompts(None)

    def _prompts(self, where: ColumnElement[bool] | None) -> list[RegisteredPrompt]:
        v = prompt_versions
        counts = (
            select(
                v.c.prompt_id,
                func.count().label("version_count"),
                func.max(v.c.version).label("latest_version"),
            )
            .group_by(v.c.prompt_id)
            .subquery()
        )
        query = (
            select(
                prompts.c.id,
                prompts.c.name,
                prompts.c.created_at,
                func.coalesce(counts.c.version_count, 0).label("version_count"),
                counts.c.latest_version,
            )
            .outerjoin(counts, counts.c.prompt_id == prompts.c.id)
            .where(self._in_project())
            .order_by(prompts.c.name)
        )
        if where is not None:
            query = query.where(where)
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
            aliases = self._aliases_by_prompt(conn, [r["id"] for r in rows])
        return [
            RegisteredPrompt.model_validate({**r, "aliases": aliases.get(r["id"], {})})
            for r in rows
        ]

    def _aliases_by_prompt(self, conn: Connection, ids: list[str]) -> dict[str, dict[str, int]]:
        query = (
            select(prompt_aliases.c.prompt_id, prompt_aliases.c.alias, prompt_versions.c.version)
            .join(prompt_versions, prompt_versions.c.id == prompt_aliases.c.version_id)
            .where(prompt_aliases.c.prompt_id.in_(ids))
            .order_by(prompt_aliases.c.alias)
        )
        found: dict[str, dict[str, int]] = {}
        for prompt_id, alias, version in conn.execute(query):
            found.setdefault(prompt_id, {})[alias] = version
        return found

    # -- versions ------------------------------------------------------------------------

    def create_version(
        self,
        name: str,
        *,
        template: str | None = None,
        messages: Sequence[Mapping[str, Any] | ChatMessage] | None = None,
        model_params: Mapping[str, Any] | None = None,
        response_format: Mapping[str, Any] | None = None,
        commit_message: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> Prompt:
        """Add the next version of prompt `name` (registered if new) in one transaction.

        A template that cannot render (a syntax error, an unbalanced `{{` or `}}`) is
        refused with its position before anything is written.
        """
        check_name(name, "prompt")
        text, chat, variables = check_body(template, messages)
        content: dict[str, Any] = {
            "template": text,
            "messages": chat,
            "model_params": check_object(model_params or {}, "model_params"),
            "response_format": check_response_format(response_format),
            "commit_message": check_text(commit_message, "commit_message", max_length=10_000),
            "tags": _tags(tags),
            "variables": variables,
        }
        for _ in range(_ATTEMPTS):
            try:
                with writing(self.engine) as conn:
                    prompt_id = self._ensure_prompt(conn, name)
                    row: dict[str, Any] = {
                        **content,
                        "id": new_id(),
                        "prompt_id": prompt_id,
                        "version": self._next_version(conn, prompt_id),
                        "author": current_actor(),
                        "created_at": utcnow(),
                    }
                    conn.execute(prompt_versions.insert(), row)
                    record(
                        conn,
                        "prompt_version.create",
                        "prompt_version",
                        row["id"],
                        f"prompts:/{name}/{row['version']}",
                        project=self.project,
                        after={k: content[k] for k in ("commit_message", "tags", "variables")},
                    )
            except IntegrityError:
                continue
            return self._get(prompt_versions.c.id == row["id"], "")
        raise Conflict(f"could not add a version to {name!r}: too many concurrent writers")

    def _ensure_prompt(self, conn: Connection, name: str) -> str:
        query = select(prompts.c.id).where(prompts.c.name == name, self._in_project())
        found = conn.execute(query).scalar()
        if found is not None:
            return str(found)
        prompt_id = new_id()
        row = {"id": prompt_id, "project": self.project, "name": name, "created_at": utcnow()}
        conn.execute(prompts.insert(), row)
        record(conn, "prompt.create", "prompt", prompt_id, f"prompts:/{name}", project=self.project)
        return prompt_id

    def _next_version(self, conn: Connection, prompt_id: str) -> int:
        query = select(func.max(prompt_versions.c.version)).where(
            prompt_versions.c.prompt_id == prompt_id
        )
        return int(conn.execute(query).scalar() or 0) + 1

    def get_version(self, uri: str | VersionRef) -> Prompt:
        """Resolve `prompts:/name/3`, `prompts:/name@alias` or `prompts:/name@latest`."""
        ref = parse_uri(check_text(uri, "uri")) if isinstance(uri, str) else uri
        if not isinstance(ref, VersionRef) or ref.kind != "prompts":
            raise InvalidInput(
                f"{str(uri)[:200]!r} is not a prompt URI: use prompts:/<name>/<version> "
                "or prompts:/<name>@<alias>",
                field="uri",
            )
        prompt = self.get_prompt(ref.name)
        v = prompt_versions.c
        if ref.version is not None:
            where = (v.prompt_id == prompt.id) & (v.version == ref.version)
        elif ref.alias == LATEST:
            if prompt.latest_version is None:
                raise NotFound(f"prompt {ref.name!r} has no versions yet")
            where = (v.prompt_id == prompt.id) & (v.version == prompt.latest_version)
        elif ref.alias in prompt.aliases:
            where = (v.prompt_id == prompt.id) & (v.version == prompt.aliases[ref.alias])
        else:
            known = ", ".join(sorted(prompt.aliases)) or "none"
            raise NotFound(f"prompt {ref.name!r} has no alias {ref.alias!r} (aliases: {known})")
        return self._get(where, f"no prompt version {ref}")

    def list_versions(self, name: str) -> list[Prompt]:
        """The versions of a prompt, oldest first."""
        prompt = self.get_prompt(name)
        with self.engine.connect() as conn:
            return self._versions(conn, prompt_versions.c.prompt_id == prompt.id)

    def _get(self, where: ColumnElement[bool], missing: str) -> Prompt:
        with self.engine.connect() as conn:
            found = self._versions(conn, where)
        if not found:
            raise NotFound(missing or "no such prompt version")
        return found[0]

    def _versions(self, conn: Connection, where: ColumnElement[bool]) -> list[Prompt]:
        v = prompt_versions
        query = (
            select(v, prompts.c.name)
            .join(prompts, prompts.c.id == v.c.prompt_id)
            .where(where, self._in_project())
            .order_by(v.c.version)
        )
        rows = [dict(r) for r in conn.execute(query).mappings()]
        aliases: dict[str, list[str]] = {}
        for alias, version_id in conn.execute(
            select(prompt_aliases.c.alias, prompt_aliases.c.version_id)
            .where(prompt_aliases.c.version_id.in_([r["id"] for r in rows]))
            .order_by(prompt_aliases.c.alias)
        ):
            aliases.setdefault(version_id, []).append(alias)
        return [Prompt.model_validate({**r, "aliases": aliases.get(r["id"], [])}) for r in rows]

    # -- aliases -------------------------------------------------------------------------

    def set_alias(self, name: str, alias: str, version: int) -> Prompt:
        """Point `alias` of prompt `name` at `version` (moving it if it pointed elsewhere)."""
        check_name(alias, "alias", field="alias")
        if alias == LATEST:
            raise InvalidInput("@latest always means the highest version; it cannot be set")
        target = self.get_version(VersionRef("prompts", name, version=version))
        prompt_id = target.prompt_id
        with writing(self.engine) as conn:
            where = (prompt_aliases.c.prompt_id == prompt_id) & (prompt_aliases.c.alias == alias)
            previous = conn.execute(
                select(prompt_versions.c.version)
                .join(prompt_aliases, prompt_aliases.c.version_id == prompt_versions.c.id)
                .where(where)
            ).scalar()
            conn.execute(delete(prompt_aliases).where(where))
            conn.execute(
                prompt_aliases.insert(),
                {
                    "prompt_id": prompt_id,
                    "alias": alias,
                    "version_id": target.id,
                    "updated_at": utcnow(),
                },
            )
            record(
                conn,
                "prompt_alias.set",
                "prompt",
                prompt_id,
                f"prompts:/{name}@{alias}",
                project=self.project,
                before=None if previous is None else {"version": previous},
                after={"version": version},
            )
        return self._get(prompt_versions.c.id == target.id, "")

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove `alias` from prompt `name`; the version it pointed at stays."""
        check_name(alias, "alias", field="alias")
        if alias == LATEST:
            raise InvalidInput("@latest always means the highest version; it cannot be deleted")
        prompt = self.get_prompt(name)
        if alias not in prompt.aliases:
            raise NotFound(f"prompt {name!r} has no alias {alias!r}")
        with writing(self.engine) as conn:
            conn.execute(
                delete(prompt_aliases).where(
                    (prompt_aliases.c.prompt_id == prompt.id) & (prompt_aliases.c.alias == alias)
                )
            )
            record(
                conn,
                "prompt_alias.delete",
                "prompt",
                prompt.id,
                f"prompts:/{name}@{alias}",
                project=self.project,
                before={"version": prompt.aliases[alias]},
            )

    # -- the project -----------------------------------------------------------------------

    def _in_project(self) -> ColumnElement[bool]:
        """The filter every query of this store carries: prompts of this project only."""
        return prompts.c.project == self.project


def _tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise InvalidInput("tags must be a mapping of names to text", field="tags")
    if len(tags) > MAX_TAGS:
        raise InvalidInput(f"at most {MAX_TAGS} tags", field="tags")
    return {
        check_text(str(k), "tag", max_length=250): check_text(str(v), "tag", max_length=5000)
        for k, v in tags.items()
    }
