"""Gateway objects: endpoints (a name that routes to model versions) and per-key limits."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from lmops.core.errors import InvalidInput
from lmops.core.uris import VersionRef, check_name, parse_uri

MAX_ROUTES = 16
MAX_FALLBACKS = 8


def _model_uri(value: str) -> str:
    try:
        ref = parse_uri(value)
    except InvalidInput as exc:
        raise ValueError(exc.message) from None
    if not isinstance(ref, VersionRef) or ref.kind != "models":
        raise ValueError(f"{value!r} is not a model URI: use models:/name@alias or /N")
    return value


# A registry URI of a model version; an alias (`models:/x@production`) is followed as it moves.
ModelUri = Annotated[str, AfterValidator(_model_uri)]


class Route(BaseModel):
    """One model version an endpoint sends a share of its traffic to."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: ModelUri
    weight: int = Field(default=100, ge=0, le=100)


class EndpointSpec(BaseModel):
    """What a caller sets on an endpoint."""

    model_config = ConfigDict(extra="forbid")

    routes: list[Route] = Field(min_length=1, max_length=MAX_ROUTES)
    # tried in order when the chosen route's model fails before it answered
    fallbacks: list[ModelUri] = Field(default_factory=list, max_length=MAX_FALLBACKS)
    description: str = Field(default="", max_length=10_000)
    sticky: bool = True  # a user keeps the route the split gave them
    cache: bool = False  # answer repeated identical requests from an exact-match cache

    @field_validator("fallbacks")
    @classmethod
    def _distinct(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each model may appear once in the fallbacks")
        routed = {r.model for r in info.data.get("routes", [])}
        if taken := [m for m in value if m in routed]:
            raise ValueError(f"{taken[0]} is a route already: a fallback is another model")
        return value

    @model_validator(mode="after")
    def _some_weight(self) -> EndpointSpec:
        if sum(r.weight for r in self.routes) == 0:
            raise ValueError("at least one route needs a weight above 0")
        uris = [r.model for r in self.routes]
        if len(set(uris)) != len(uris):
            raise ValueError("each model may appear once in the routes")
        return self


class Endpoint(EndpointSpec):
    id: str
    name: str
    created_at: datetime
    updated_at: datetime

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value, "endpoint")


class KeyLimits(BaseModel):
    """Limits on one API key's use of the gateway; None means unlimited."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    requests_per_minute: int | None = Field(default=None, ge=1)
    tokens_per_minute: int | None = Field(default=None, ge=1)
    monthly_budget: float | None = Field(default=None, ge=0, description="USD per calendar month")


class KeyUsage(BaseModel):
    key_id: str
    period: str  # YYYY-MM (UTC)
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
