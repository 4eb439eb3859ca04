"""Registry entities: what the SDK returns and the REST API answers, one model for both."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class ModelFormat(BaseModel):
    """What a version is, read from its files (or given, for an external endpoint).

    `task` is text-generation for causal LMs; `kind` says how the version is stored:
    a model directory, a PEFT adapter over `base_version_id`, or an external endpoint.
    """

    kind: str = "model"  # model | adapter | external
    task: str | None = None
    architecture: str | None = None
    base_model: str | None = None
    tokenizer: bool = False
    chat_template: bool = False
    parameter_count: int | None = None
    dtype: str | None = None
    size_bytes: int = 0
    license: str | None = None


class ModelSource(BaseModel):
    """Where a version came from: a run's artifact, an import, or an external endpoint."""

    type: str  # run | import | external
    run_id: str | None = None
    artifact_path: str | None = None
    path: str | None = None  # what was imported (a directory, a GGUF file, a hub id)
    endpoint_url: str | None = None
    endpoint_model: str | None = None


class RegisteredModel(BaseModel):
    id: str
    name: str
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    created_at: datetime
    version_count: int = 0
    latest_version: int | None = None
    aliases: dict[str, int] = Field(default_factory=dict)


class ModelVersion(BaseModel):
    """An immutable version: its files are a directory manifest in the artifact store
    (`digest`), except for external endpoints, which have no files. Tags and description
    may change; files and format never do. `has_api_key` says an external endpoint's key
    is kept (the key itself is never returned)."""

    id: str
    model_id: str
    model_name: str
    version: int
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    digest: str | None = None
    format: ModelFormat
    source: ModelSource
    base_version_id: str | None = None
    has_api_key: bool = False
    aliases: list[str] = Field(default_factory=list)
    created_at: datetime

    @property
    def uri(self) -> str:
        return f"models:/{self.model_name}/{self.version}"


class VersionFiles(BaseModel):
    """The files of a version as the artifact store holds them: {relative path: digest}."""

    version_id: str
    files: dict[str, str]
    extra: dict[str, Any] = Field(default_factory=dict)


class CardRevision(BaseModel):
    """What a list of a card's revisions tells about each: who saved it, when, and how."""

    revision: int
    generated: bool
    author: str
    created_at: datetime


class ModelCard(CardRevision):
    """One revision of a version's card (markdown); `generated` says lmops wrote it."""

    version_id: str
    markdown: str


class VersionResult(BaseModel):
    """A named number attached to a version (an evaluation's aggregate); policies read them."""

    version_id: str
    name: str
    value: float
    source: str = ""
    attached_by: str
    attached_at: datetime


class AliasPolicy(BaseModel):
    """What must hold before `alias` of a model may point at a version. An alias with a
    policy is protected: it moves only through an approved transition.

    `required_tags` holds tag names ("reviewed") or name=value pairs ("license=apache-2.0");
    `min_results` the least value of each named result the version must carry."""

    model_id: str
    model_name: str
    alias: str
    required_tags: list[str] = Field(default_factory=list)
    min_results: dict[str, float] = Field(default_factory=dict)
    require_card: bool = False
    updated_by: str
    updated_at: datetime

    def requirements(self) -> list[str]:
        """The policy in words, one requirement a line; empty when approval alone is asked."""
        found = [f"tag {t}" for t in self.required_tags]
        found += [f"result {k} >= {v:g}" for k, v in sorted(self.min_results.items())]
        return found + (["a model card"] if self.require_card else [])


class PolicyCheck(BaseModel):
    """One requirement of a policy judged against one version: what was found, and whether
    that is enough."""

    check: str
    passed: bool
    detail: str
