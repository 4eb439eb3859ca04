"""`lmops.evaluation.sdk.evaluate`: evaluation over the stores the settings name.

The target is any of:
- a Python callable (sync or async), called per row;
- a model URI (`models:/name/3`, `models:/name@production`): loaded in this process (an
  external version is called upstream), asked each row's messages;
- a prompt URI (`prompts:/qa/2`) with `model=`: the prompt filled from each row's columns,
  sent to that model;
- an endpoint: a base URL of any OpenAI-compatible server (`http://host:8000/v1`) with
  `model=`, or the name of a gateway endpoint on the server `LMOPS_URI` points at.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from lmops.core.errors import InvalidInput
from lmops.core.settings import Settings, current
from lmops.data.store import DataStore
from lmops.evaluation.catalog import ScorerSpec
from lmops.evaluation.evaluate import Result, RowSpan, Stores, evaluate, load_data
from lmops.evaluation.judging import open_judge, with_judge
from lmops.evaluation.store import EvaluationStore
from lmops.evaluation.targets import ChatTarget, FunctionTarget, Target, http_sender, service_sender
from lmops.prompts.entities import Prompt
from lmops.prompts.store import PromptStore
from lmops.registry.store import RegistryStore
from lmops.serving.service import OpenAIService, SpanSink


def open_stores(settings: Settings) -> Stores:
    if settings.is_remote:
        raise InvalidInput(
            f"evaluations run in-process for now: LMOPS_URI={settings.uri} is a server; point "
            "LMOPS_URI at the store (sqlite:/// or postgresql+psycopg://). A gateway endpoint "
            "can still be the target: pass its URL, http://host:port/v1",
            field="uri",
        )
    from lmops.artifacts import open_artifact_store
    from lmops.store import open_engine
    from lmops.tracking.store import TrackingStore

    engine = open_engine(settings.uri)
    artifacts = open_artifact_store(settings)
    project = settings.project
    return Stores(
        evaluations=EvaluationStore(engine, project),
        tracking=TrackingStore(engine, artifacts).in_project(project),
        data=DataStore(engine, artifacts).in_project(project),
        registry=RegistryStore(engine, artifacts).in_project(project),
    )


def resolve_target(
    target: str | Callable[..., Any],
    stores: Stores,
    settings: Settings,
    *,
    model: str | None = None,
    api_key: str | None = None,
    params: dict[str, Any] | None = None,
    record: SpanSink | None = None,
) -> Target:
    if callable(target):
        return FunctionTarget(target)
    if not isinstance(target, str) or not target:
        raise InvalidInput("the target is a callable, a models:/ or prompts:/ URI, or an endpoint")
    prompt: Prompt | None = None
    if target.startswith("prompts:/"):
        if model is None:
            raise InvalidInput(f"{target} needs a model to answer it: pass model=", field="model")
        engine = stores.evaluations.engine
        prompt = PromptStore(engine, settings.project).get_version(target)
        target, model = model, None
    if target.startswith("models:/"):
        if model is not None:
            raise InvalidInput("model= goes with a prompts:/ target or an endpoint URL")
        return _model_target(target, stores, settings, prompt, params, record)
    if target.startswith(("http://", "https://")):
        if model is None:
            raise InvalidInput(f"name the model {target} serves: pass model=", field="model")
        send, close = http_sender(target, model, api_key)
        return ChatTarget(
            send, description=f"{model} at {target}", prompt=prompt, params=params, close=close
        )
    # the name of a gateway endpoint on the server LMOPS_URI names
    if not settings.is_remote:
        raise InvalidInput(
            f"{target!r} is not a models:/ or prompts:/ URI or an http(s) URL; to call a "
            "gateway endpoint by name, set LMOPS_URI to its server",
            field="target",
        )
    send, close = http_sender(
        settings.uri.rstrip("/") + "/v1", target, api_key or settings.api_key or None
    )
    return ChatTarget(
        send, description=f"endpoint {target}", prompt=prompt, params=params, close=close
    )


def _model_target(
    uri: str,
    stores: Stores,
    settings: Settings,
    prompt: Prompt | None,
    params: dict[str, Any] | None,
    record: SpanSink | None,
) -> Target:
    from lmops.serving.loading import load_backend

    version = stores.registry.get_version(uri)
    backend = load_backend(stores.registry, version, settings.home / "models")
    service = OpenAIService([backend], record=record)
    served = backend.models()[0].id
    if version.format.kind == "adapter":
        served = version.model_name

    async def close() -> None:
        service.close()

    return ChatTarget(
        service_sender(service, served),
        description=version.uri,
        prompt=prompt,
        params=params,
        model_version=version.uri,
        close=close,
    )


def run_evaluation(
    target: str | Callable[..., Any],
    data: str | Sequence[dict[str, Any]],
    scorers: Sequence[ScorerSpec] = ("exact_match",),
    *,
    model: str | None = None,
    api_key: str | None = None,
    params: dict[str, Any] | None = None,
    name: str | None = None,
    expected_column: str = "expected",
    concurrency: int = 8,
    retries: int = 2,
    experiment: str = "evaluations",
    row_span: RowSpan | None = None,
    record: SpanSink | None = None,
    progress: Callable[[int, int], None] | None = None,
    judge: str | None = None,
    judge_model: str | None = None,
    judge_rubric: str | None = None,
    settings: Settings | None = None,
) -> Result:
    """`judge` is the model the `judge` and `pairwise_judge` scorers ask (a models:/ URI,
    an endpoint URL with `judge_model`, or a gateway endpoint's name); `judge_rubric` a
    prompts:/ version to grade with instead of the default rubric."""
    settings = settings or current()
    stores = open_stores(settings)
    rows = load_data(data, stores.data)
    rubric = None
    if judge_rubric is not None:
        rubric = PromptStore(stores.evaluations.engine, settings.project).get_version(judge_rubric)
    judging = None
    if judge is not None:
        judging = open_judge(judge, stores.registry, settings, model=judge_model, api_key=api_key)
    try:
        scorers = with_judge(scorers, judging, rubric)
        chosen = resolve_target(
            target, stores, settings, model=model, api_key=api_key, params=params, record=record
        )
        return evaluate(
            chosen,
            rows,
            scorers,
            stores,
            name=name,
            expected_column=expected_column,
            concurrency=concurrency,
            retries=retries,
            experiment=experiment,
            row_span=row_span,
            progress=progress,
        )
    finally:
        if judging is not None:
            judging.close()
