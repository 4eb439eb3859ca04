"""The judge model an evaluation's `judge` and `pairwise_judge` scorers ask: any model URI
(loaded here, or its upstream), an OpenAI-compatible URL with a model name, or a gateway
endpoint by name. The scorers call `complete(messages) -> text` from their threads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from lmops.core.errors import InvalidInput
from lmops.core.settings import Settings
from lmops.evaluation.catalog import ScorerSpec
from lmops.evaluation.judges import Judge, PairwiseJudge
from lmops.registry.store import RegistryStore
from lmops.serving.protocol import ChatRequest
from lmops.serving.routing import Caller
from lmops.serving.service import OpenAIService

JUDGES = ("judge", "pairwise_judge")
Complete = Callable[[list[dict[str, Any]]], str]
PARAMS = {"temperature": 0.0, "max_tokens": 256}
JUDGE_TIMEOUT_S = 300.0


class JudgeModel:
    """`complete` for a judge; `close` when the evaluation is done."""

    def __init__(self, complete: Complete, close: Callable[[], None], description: str) -> None:
        self.complete = complete
        self.close = close
        self.description = description


def open_judge(
    spec: str,
    registry: RegistryStore,
    settings: Settings,
    *,
    model: str | None = None,
    api_key: str | None = None,
) -> JudgeModel:
    if spec.startswith("models:/"):
        return _local_judge(spec, registry, settings)
    if spec.startswith(("http://", "https://")):
        if model is None:
            raise InvalidInput(f"name the judge model {spec} serves: judge_model=", field="judge")
        return _http_judge(spec, model, api_key)
    if settings.is_remote:  # a gateway endpoint's name on the server LMOPS_URI names
        return _http_judge(settings.uri.rstrip("/") + "/v1", spec, api_key or settings.api_key)
    raise InvalidInput(
        f"judge {spec!r} is not a models:/ URI or an http(s) URL (a gateway endpoint's name "
        "needs LMOPS_URI set to its server)",
        field="judge",
    )


def with_judge(
    scorers: Sequence[ScorerSpec], judge: JudgeModel | None, rubric: Any = None
) -> list[ScorerSpec]:
    """The scorers, with `judge` and `pairwise_judge` named by string built to ask `judge`."""
    named = [s for s in scorers if isinstance(s, str) and s in JUDGES]
    if named and judge is None:
        raise InvalidInput(
            f"the {named[0]} scorer needs a judge model: pass judge= (a models:/ URI, an "
            "endpoint URL with judge_model=, or a gateway endpoint name)",
            field="judge",
        )
    if judge is None:
        return list(scorers)
    built: list[ScorerSpec] = []
    for spec in scorers:
        if spec == "judge":
            options = {"rubric": rubric} if rubric is not None else {}
            built.append(Judge(judge.complete, **options))
        elif spec == "pairwise_judge":
            built.append(PairwiseJudge(judge.complete))
        else:
            built.append(spec)
    return built


def _http_judge(base_url: str, model: str, api_key: str | None) -> JudgeModel:
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    client = httpx.Client(headers=headers, timeout=JUDGE_TIMEOUT_S)  # thread-safe

    def complete(messages: list[dict[str, Any]]) -> str:
        response = client.post(
            base_url.rstrip("/") + "/chat/completions",
            json={**PARAMS, "model": model, "messages": messages},
        )
        if response.status_code >= 400:
            raise RuntimeError(f"the judge answered {response.status_code}: {response.text[:300]}")
        return str(response.json()["choices"][0]["message"]["content"] or "")

    return JudgeModel(complete, client.close, f"{model} at {base_url}")


def _local_judge(uri: str, registry: RegistryStore, settings: Settings) -> JudgeModel:
    """A judge model loaded here, answering on an event loop of its own (the scorers call
    from plain threads)."""
    from lmops.serving.loading import load_backend

    version = registry.get_version(uri)
    backend = load_backend(registry, version, settings.home / "models")
    service = OpenAIService([backend])
    served = version.model_name if version.format.kind == "adapter" else backend.models()[0].id
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="lmops-judge", daemon=True)
    thread.start()
    complete = service_complete(service, served, loop, Caller())

    def close() -> None:
        service.close()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()

    return JudgeModel(complete, close, version.uri)


def service_complete(
    service: OpenAIService, model: str, loop: asyncio.AbstractEventLoop, caller: Caller
) -> Complete:
    """`complete` through an in-process OpenAIService whose event loop is `loop` (another
    thread's): a model loaded for the judge, or the server's gateway."""

    async def ask(messages: list[dict[str, Any]]) -> str:
        request = ChatRequest.model_validate({**PARAMS, "model": model, "messages": messages})
        answer = await service.generate(request, caller)
        if not isinstance(answer, dict):
            raise RuntimeError("the judge streamed an answer to a request that did not stream")
        return str(answer["choices"][0]["message"]["content"] or "")

    def complete(messages: list[dict[str, Any]]) -> str:
        future: Future[str] = asyncio.run_coroutine_threadsafe(ask(messages), loop)
        return future.result(timeout=JUDGE_TIMEOUT_S)

    return complete
