"""The audit log page: who changed what, when, in this project; filterable, exportable."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from lmops.server.auth import authorize
from lmops.server.routers.audit import QueryDep
from lmops.server.ui.rendering import HtmlRoute, render
from lmops.store.audit import search

router = APIRouter(dependencies=[Depends(authorize)], route_class=HtmlRoute, tags=["ui"])


@router.get("/audit", include_in_schema=False)
def audit_page(request: Request, query: QueryDep) -> Response:
    """The newest entries last, as the log reads; the filters (and who may set which) are
    the API's."""
    entries = search(request.app.state.services.engine, query)
    context = {
        "section": "/audit",
        "entries": entries,
        "query": query,
        "export": "/api/v1/audit/export" + (f"?{request.url.query}" if request.url.query else ""),
        "next_after": entries[-1].id if len(entries) == query.limit else None,
    }
    return render(request, "audit.html", context)
