"""The one settings class. Every face reads it from the environment (LMOPS_*)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lmops.core.projects import DEFAULT_PROJECT
from lmops.core.uris import check_name


class Settings(BaseSettings):
    """Where lmops keeps its state and how it reaches it.

    `uri` picks the face: `sqlite:///...` or `postgresql+psycopg://...` works in-process
    against the store; `http://host:port` sends every call to an lmops server.
    """

    model_config = SettingsConfigDict(env_prefix="LMOPS_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".lmops")
    uri: str = Field(default="", description="Store or server URI; default sqlite in home")
    artifacts_uri: str = Field(default="", description="Local dir or s3://bucket/prefix")
    artifacts_endpoint_url: str = Field(default="", description="S3-compatible endpoint")
    metric_batch_size: int = Field(default=5000, ge=1)
    metric_flush_interval: float = Field(default=0.5, gt=0)
    http_timeout: float = Field(default=30.0, gt=0)
    trace_retention_days: int | None = Field(default=None, ge=1, le=36_500)
    webhook_interval_s: float = Field(
        default=1.0, gt=0, le=3600, description="How often the server delivers webhooks"
    )
    online_scoring_interval_s: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        description="How often the server runs online scoring rules (0: never)",
    )
    project: str = Field(
        default=DEFAULT_PROJECT, description="The project this client works in (LMOPS_PROJECT)"
    )
    api_key: str = Field(
        default="", repr=False, description="Key sent to an lmops server (LMOPS_API_KEY)"
    )
    auth: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="Server auth: auto turns it on when the server binds beyond loopback",
    )

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        self.home = self.home.expanduser()
        if not self.uri:
            self.uri = f"sqlite:///{self.home / 'lmops.db'}"
        if not self.artifacts_uri:
            self.artifacts_uri = str(self.home / "artifacts")
        check_name(self.project, "project", field="project")
        return self

    @property
    def is_remote(self) -> bool:
        return self.uri.startswith(("http://", "https://"))


_current: Settings | None = None
_current_lock = threading.Lock()


def current() -> Settings:
    """The settings the SDK works with: LMOPS_* read once, until `use` replaces them."""
    global _current
    with _current_lock:
        if _current is None:
            _current = Settings()
        return _current


def reset() -> None:
    """Forget the current settings: the next `current()` reads LMOPS_* again."""
    global _current
    with _current_lock:
        _current = None


def use(settings: Settings) -> Settings:
    """Make `settings` the current ones (`lmops.configure` calls this)."""
    global _current
    with _current_lock:
        _current = settings
    return settings
