"""REST API for the audit log: read and export only. No route changes or deletes an entry.

A caller reads the entries of its own project only: the project is the caller's, never a
filter it chooses. Server admins may name another project, or `-` for server-wide changes
(users, projects, logins).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from lmops.core.errors import Forbidden
from lmops.core.uris import check_name
from lmops.governance.access import SERVER
from lmops.server.auth import Principal, authorize
from lmops.server.deps import project, services
from lmops.store.audit import MAX_PAGE, AuditEntry, AuditQuery, export_lines, search

router = APIRouter(prefix="/api/v1", tags=["audit"], dependencies=[Depends(authorize)])

Text = Annotated[str | None, Query(max_length=255)]


def _query(
    request: Request,
    project_: Annotated[str | None, Query(alias="project", max_length=255)] = None,
    actor: Text = None,
    action: Text = None,
    target_kind: Text = None,
    target_id: Text = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_id: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> AuditQuery:
    principal: Principal = request.state.principal
    if project_ is not None and project_ != SERVER:
        check_name(project_, "project", field="project")
    if project_ is not None and project_ != principal.project and not principal.superuser:
        raise Forbidden(f"you read the audit log of project {principal.project!r} only")
    return AuditQuery(
        project=project_ if project_ is not None else project(request),
        actor=actor,
        action=action,
        target_kind=target_kind,
        target_id=target_id,
        since=since,
        until=until,
        after_id=after_id,
        limit=limit,
    )


QueryDep = Annotated[AuditQuery, Depends(_query)]


@router.get("/audit")
def list_entries(request: Request, query: QueryDep) -> list[AuditEntry]:
    """Entries of the caller's project oldest first; pass the last `id` as `after_id` for the
    next page."""
    return search(services(request).engine, query)


@router.get("/audit/export", response_class=StreamingResponse)
def export(request: Request, query: QueryDep) -> StreamingResponse:
    """Every entry of the caller's project the filters select, as JSON lines (`limit` does not
    apply)."""
    lines: Iterator[str] = export_lines(services(request).engine, query)
    return StreamingResponse(
        lines,
        media_type="application/x-ndjson",
        headers={"content-disposition": 'attachment; filename="lmops-audit.jsonl"'},
    )
