"""The server's online scoring worker: a thread that runs every enabled rule of every project
over the traces that settled since its last pass, every `LMOPS_ONLINE_SCORING_INTERVAL_S`
seconds (10 by default; 0 turns it off, and `POST /api/v1/online-rules/{name}/run` still
runs a rule on demand).

A rule's judge may be one of the project's gateway endpoints: it is asked through the
gateway in this process (on the app's event loop), as the rule's project, and its calls
carry the tag that keeps them out of scoring. A `models:/` URI or an http(s) URL is
opened as `lmops eval run --judge` would.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from lmops.evaluation.entities import OnlineRule
from lmops.evaluation.judging import JudgeModel, open_judge, service_complete
from lmops.evaluation.online import SKIP_TAG, JudgeOpener, OnlineScorer, RulePass
from lmops.server.deps import Services
from lmops.serving.routing import Caller
from lmops.serving.service import OpenAIService

log = logging.getLogger(__name__)


class OnlineWorker:
    """Runs online scoring passes on a daemon thread; `run_rule` runs one on demand."""

    def __init__(self, scorer: OnlineScorer, interval_s: float) -> None:
        self.scorer = scorer
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one pass at a time: judges are shared between them
        self._thread = threading.Thread(target=self._run, name="lmops-online", daemon=True)

    def start(self) -> None:
        if self.interval_s > 0:
            self._thread.start()

    def stop(self) -> None:
        """Stop after the rule being run (at most a judge call's timeout), close judges."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        if self._lock.acquire(timeout=30):
            try:
                self.scorer.close()
            finally:
                self._lock.release()

    def run_rule(self, rule: OnlineRule) -> RulePass:
        with self._lock:
            return self.scorer.run([rule])[0]

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._pass()
            except Exception:  # the store may be away a while: the next pass tries again
                log.exception("online scoring pass failed")

    def _pass(self) -> None:
        with self._lock:
            for rule in self.scorer.rules.enabled(every_project=True):
                if self._stop.is_set():
                    return
                (done,) = self.scorer.run([rule])
                if done.error is None and done.scored:
                    log.info(
                        "online rule %s/%s scored %d traces (%d failed)",
                        done.project,
                        done.rule,
                        done.scored,
                        done.failed,
                    )


def judges(
    services: Services, gateway: OpenAIService, loop: asyncio.AbstractEventLoop
) -> JudgeOpener:
    """Opens a rule's judge: a gateway endpoint of its project, or a model URI or URL."""

    def open_for(rule: OnlineRule) -> JudgeModel:
        spec = rule.judge or ""
        if spec.startswith(("models:/", "http://", "https://")):
            registry = services.registry.in_project(rule.project)
            return open_judge(spec, registry, services.settings, model=rule.judge_model)
        caller = Caller(project=rule.project, tags={SKIP_TAG: rule.name})
        complete = service_complete(gateway, spec, loop, caller)
        return JudgeModel(complete, lambda: None, f"endpoint {spec}")

    return open_for


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    services: Services = app.state.services
    scorer = OnlineScorer(
        services.rules,
        services.tracing,
        services.prompts,
        judges(services, app.state.openai, asyncio.get_running_loop()),
    )
    worker = app.state.online = OnlineWorker(scorer, services.settings.online_scoring_interval_s)
    worker.start()
    try:
        yield
    finally:
        await asyncio.to_thread(worker.stop)
