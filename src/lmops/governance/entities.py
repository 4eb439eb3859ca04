"""Governance entities: what the SDK returns and the REST API answers, one model for both."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

DeliveryStatus = Literal["pending", "delivered", "failed"]


class Webhook(BaseModel):
    """A subscription: audit actions (`events`) POSTed, signed, to `url`. No secret here."""

    id: str
    project: str
    url: str
    events: list[str]
    active: bool
    description: str = ""
    created_at: datetime


class CreatedWebhook(Webhook):
    """The answer to creating a webhook: the only time its signing secret is shown."""

    secret: str


class Delivery(BaseModel):
    """One audit entry on its way to one webhook, with what the last attempt got."""

    id: str
    webhook_id: str
    audit_id: int
    event: str
    target: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: datetime
    updated_at: datetime
