"""The lifecycle stages the navigation shows, in the order a model lives through them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    name: str
    path: str
    built: bool
    summary: str


STAGES: tuple[Stage, ...] = (
    Stage("Experiments", "/experiments", True, "runs, params, metrics and artifacts"),
    Stage("Datasets", "/datasets", True, "versioned datasets, profiles and transforms"),
    Stage("Prompts", "/prompts", True, "prompt templates, versions and aliases"),
    Stage("Fine-tuning", "/fine-tuning", False, "fine-tuning jobs and hyperparameter search"),
    Stage("Evaluation", "/evaluations", True, "scorers, evaluations and comparisons"),
    Stage("Models", "/models", True, "the model registry: versions, aliases, approvals"),
    Stage("Endpoints", "/endpoints", True, "the gateway's endpoints, their traffic, a playground"),
    Stage("Traces", "/traces", True, "traces and spans of served requests"),
    Stage("Monitoring", "/monitoring", False, "time series, drift, alerts and feedback"),
)
