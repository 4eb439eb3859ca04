"""Governance entities: what the SDK returns and the REST API answers, one model for both."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from lmops.registry.entities import PolicyCheck

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


TransitionStatus = Literal["pending", "approved", "rejected", "cancelled"]


class Transition(BaseModel):
    """A request to point `alias` of a model at `version`, and its decision.

    `checks` are the alias policy's checks as they stood when it was requested,
    `decision_checks` as they stood when it was decided (None while pending).
    `from_version` is where the alias pointed when requested, or, once approved, what the
    approval moved it from (None: the alias did not exist)."""

    id: str
    model_id: str
    model_name: str
    alias: str
    version_id: str
    version: int
    from_version: int | None = None
    status: TransitionStatus
    requested_by: str
    requested_at: datetime
    comment: str = ""
    checks: list[PolicyCheck]
    decision_checks: list[PolicyCheck] | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_comment: str | None = None

    @property
    def uri(self) -> str:
        return f"models:/{self.model_name}/{self.version}"

    @property
    def failed(self) -> list[PolicyCheck]:
        return [c for c in self.checks if not c.passed]
