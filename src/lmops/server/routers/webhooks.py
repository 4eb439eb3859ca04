"""REST API for webhooks: subscribe a URL to registry events, list, remove, see deliveries.

The signing secret is in the answer to the POST that makes a webhook and nowhere else.
Every route works in the caller's project (another project's webhook is a 404) and needs
an admin of it: a webhook sends the project's events to any URL.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from lmops.governance.entities import CreatedWebhook, Delivery, DeliveryStatus, Webhook
from lmops.governance.roles import Role
from lmops.governance.webhooks import MAX_EVENTS, MAX_PAGE, MAX_URL_CHARS, WebhookStore
from lmops.server.auth import authorize, needs
from lmops.server.deps import project, services

router = APIRouter(prefix="/api/v1", tags=["webhooks"], dependencies=[Depends(authorize)])


class NewWebhook(BaseModel):
    """A POST: where to send which events; a secret of your own, or one is made for you."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=MAX_URL_CHARS)
    events: list[str] = Field(min_length=1, max_length=MAX_EVENTS)
    description: str = Field(default="", max_length=10_000)
    secret: str | None = Field(default=None, max_length=256)
    active: bool = True


def webhook_store(request: Request) -> WebhookStore:
    return WebhookStore(services(request).engine, project(request))


StoreDep = Annotated[WebhookStore, Depends(webhook_store)]


@router.post("/webhooks", status_code=201)
@needs(Role.ADMIN)
def create_webhook(body: NewWebhook, store: StoreDep) -> CreatedWebhook:
    """Subscribe; the answer's `secret` signs every delivery and is never shown again."""
    return store.create(
        body.url,
        body.events,
        description=body.description,
        secret=body.secret,
        active=body.active,
    )


@router.get("/webhooks")
@needs(Role.ADMIN)
def list_webhooks(store: StoreDep) -> list[Webhook]:
    return store.list()


@router.get("/webhooks/{webhook_id}")
@needs(Role.ADMIN)
def get_webhook(webhook_id: str, store: StoreDep) -> Webhook:
    return store.get(webhook_id)


@router.delete("/webhooks/{webhook_id}", status_code=204)
@needs(Role.ADMIN)
def delete_webhook(webhook_id: str, store: StoreDep) -> Response:
    """Unsubscribe; pending deliveries are dropped."""
    store.delete(webhook_id)
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries")
@needs(Role.ADMIN)
def list_deliveries(
    webhook_id: str,
    store: StoreDep,
    status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> list[Delivery]:
    """The webhook's deliveries, newest first: status, attempts and the last error."""
    return store.deliveries(webhook_id, status=status, limit=limit)
