"""The gateway store: the only code that runs SQL for endpoints, key limits and key usage."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import IntegrityError

from lmops.core.errors import Conflict, NotFound
from lmops.core.ids import new_id, utcnow
from lmops.core.projects import DEFAULT_PROJECT, InProject
from lmops.core.uris import check_name
from lmops.serving.entities import Endpoint, EndpointSpec, KeyLimits, KeyUsage
from lmops.serving.tables import endpoints, key_limits, key_usage
from lmops.store.audit import record
from lmops.store.engine import writing


class EndpointStore(InProject):
    """Endpoints of `self.project`; another project's endpoint is looked up as unknown."""

    def __init__(self, engine: Engine, project: str = DEFAULT_PROJECT) -> None:
        self.engine = engine
        self.project = project

    def create(self, name: str, spec: EndpointSpec) -> Endpoint:
        check_name(name, "endpoint")
        now = utcnow()
        row = {
            "id": new_id(),
            "project": self.project,
            "name": name,
            "created_at": now,
            "updated_at": now,
            **_spec_row(spec),
        }
        try:
            with writing(self.engine) as conn:
                conn.execute(endpoints.insert(), row)
                record(
                    conn,
                    "endpoint.create",
                    "endpoint",
                    row["id"],
                    f"endpoints:/{name}",
                    project=self.project,
                    after=spec.model_dump(mode="json"),
                )
        except IntegrityError as exc:
            raise Conflict(f"an endpoint named {name!r} already exists") from exc
        return _endpoint(row)

    def get(self, name: str) -> Endpoint:
        check_name(name, "endpoint")
        query = select(endpoints).where(
            endpoints.c.project == self.project, endpoints.c.name == name
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFound(f"no endpoint named {name!r}")
        return _endpoint(dict(row))

    def list(self) -> list[Endpoint]:
        query = (
            select(endpoints).where(endpoints.c.project == self.project).order_by(endpoints.c.name)
        )
        with self.engine.connect() as conn:
            return [_endpoint(dict(r)) for r in conn.execute(query).mappings()]

    def update(self, name: str, spec: EndpointSpec) -> Endpoint:
        before = self.get(name)
        with writing(self.engine) as conn:
            conn.execute(
                update(endpoints)
                .where(endpoints.c.id == before.id)
                .values(updated_at=utcnow(), **_spec_row(spec))
            )
            record(
                conn,
                "endpoint.update",
                "endpoint",
                before.id,
                f"endpoints:/{name}",
                project=self.project,
                before=EndpointSpec.model_validate(before, from_attributes=True).model_dump(
                    mode="json"
                ),
                after=spec.model_dump(mode="json"),
            )
        return self.get(name)

    def delete(self, name: str) -> None:
        before = self.get(name)
        with writing(self.engine) as conn:
            conn.execute(delete(endpoints).where(endpoints.c.id == before.id))
            record(
                conn,
                "endpoint.delete",
                "endpoint",
                before.id,
                f"endpoints:/{name}",
                project=self.project,
            )


class LimitStore:
    """Per-key gateway limits and what each key spent per month."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get_limits(self, key_id: str) -> KeyLimits:
        query = select(key_limits).where(key_limits.c.key_id == key_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return KeyLimits()
        return KeyLimits.model_validate({k: row[k] for k in KeyLimits.model_fields})

    def set_limits(self, key_id: str, limits: KeyLimits, *, project: str) -> KeyLimits:
        """Replace the key's limits (`project` is the key's, for the audit entry)."""
        before = self.get_limits(key_id)
        values = {**limits.model_dump(), "updated_at": utcnow()}
        with writing(self.engine) as conn:
            conn.execute(delete(key_limits).where(key_limits.c.key_id == key_id))
            conn.execute(key_limits.insert(), {"key_id": key_id, **values})
            record(
                conn,
                "key.limits",
                "api_key",
                key_id,
                f"keys:/{key_id}",
                project=project,
                before=before.model_dump(),
                after=limits.model_dump(),
            )
        return limits

    def add_usage(self, usage: KeyUsage) -> None:
        """Add a batch of requests' counts to the key's month (created on first use)."""
        where = (key_usage.c.key_id == usage.key_id) & (key_usage.c.period == usage.period)
        with writing(self.engine) as conn:
            changed = conn.execute(
                update(key_usage)
                .where(where)
                .values(
                    requests=key_usage.c.requests + usage.requests,
                    input_tokens=key_usage.c.input_tokens + usage.input_tokens,
                    output_tokens=key_usage.c.output_tokens + usage.output_tokens,
                    cost=key_usage.c.cost + usage.cost,
                )
            ).rowcount
            if not changed:
                conn.execute(key_usage.insert(), usage.model_dump())

    def get_usage(self, key_id: str, period: str) -> KeyUsage:
        query = select(key_usage).where(key_usage.c.key_id == key_id, key_usage.c.period == period)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return KeyUsage.model_validate(dict(row)) if row else KeyUsage(key_id=key_id, period=period)


def _spec_row(spec: EndpointSpec) -> dict[str, Any]:
    return {
        "description": spec.description,
        "routes": [r.model_dump() for r in spec.routes],
        "fallbacks": list(spec.fallbacks),
        "sticky": spec.sticky,
        "cache": spec.cache,
    }


def _endpoint(row: dict[str, Any]) -> Endpoint:
    return Endpoint.model_validate({k: v for k, v in row.items() if k != "project"})
