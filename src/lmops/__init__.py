"""lmops: a self-hosted LLMOps platform. The fluent SDK lives here, imported lazily.

import lmops

with lmops.start_run(experiment="sft", params={"lr": 3e-4}) as run:
    for step in range(100):
        lmops.log_metric("loss", loss, step=step)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lmops._version import __version__

# name -> module that defines it; nothing heavy is imported until a name is used.
_LAZY = {
    "configure": "lmops.fluent.backends",
    "evaluate": "lmops.fluent.evaluation",
    "scorer": "lmops.evaluation.scoring",
    "instrument": "lmops.fluent.instrument",
    "uninstrument": "lmops.fluent.instrument",
    "span": "lmops.fluent.tracing",
    "trace": "lmops.fluent.tracing",
    "update_current_trace": "lmops.fluent.tracing",
    "get_current_trace_id": "lmops.fluent.tracing",
    "log_feedback": "lmops.fluent.tracing",
    "get_trace": "lmops.fluent.tracing",
    "search_traces": "lmops.fluent.tracing",
    "flush_traces": "lmops.fluent.tracing",
    "tracing_stats": "lmops.fluent.tracing",
    "with_current_context": "lmops.fluent.tracing",
    "ActiveRun": "lmops.fluent.tracking",
    "active_run": "lmops.fluent.tracking",
    "end_run": "lmops.fluent.tracking",
    "flush": "lmops.fluent.tracking",
    "get_metric_history": "lmops.fluent.tracking",
    "get_run": "lmops.fluent.tracking",
    "list_experiments": "lmops.fluent.tracking",
    "log_artifact": "lmops.fluent.tracking",
    "log_metric": "lmops.fluent.tracking",
    "log_metrics": "lmops.fluent.tracking",
    "log_param": "lmops.fluent.tracking",
    "log_params": "lmops.fluent.tracking",
    "search_runs": "lmops.fluent.tracking",
    "set_experiment": "lmops.fluent.tracking",
    "set_tag": "lmops.fluent.tracking",
    "set_tags": "lmops.fluent.tracking",
    "start_run": "lmops.fluent.tracking",
    "load_model": "lmops.registry.sdk",
    "register_model": "lmops.registry.sdk",
    "register_endpoint": "lmops.registry.sdk",
    "get_model_version": "lmops.registry.sdk",
    "set_model_alias": "lmops.registry.sdk",
    "load_prompt": "lmops.prompts.sdk",
    "register_prompt": "lmops.prompts.sdk",
    "set_prompt_alias": "lmops.prompts.sdk",
    "Settings": "lmops.core.settings",
    "parse_uri": "lmops.core.uris",
}

__all__ = [
    "ActiveRun",
    "Settings",
    "__version__",
    "active_run",
    "configure",
    "end_run",
    "evaluate",
    "flush",
    "flush_traces",
    "get_current_trace_id",
    "get_metric_history",
    "get_model_version",
    "get_run",
    "get_trace",
    "instrument",
    "list_experiments",
    "load_model",
    "load_prompt",
    "log_artifact",
    "log_feedback",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "parse_uri",
    "register_endpoint",
    "register_model",
    "register_prompt",
    "scorer",
    "search_runs",
    "search_traces",
    "set_experiment",
    "set_model_alias",
    "set_prompt_alias",
    "set_tag",
    "set_tags",
    "span",
    "start_run",
    "trace",
    "tracing_stats",
    "uninstrument",
    "update_current_trace",
    "with_current_context",
]

if TYPE_CHECKING:
    from lmops.core.settings import (
        Settings,
    )
    from lmops.core.uris import (
        parse_uri,
    )
    from lmops.evaluation.scoring import scorer
    from lmops.fluent.backends import (
        configure,
    )
    from lmops.fluent.evaluation import evaluate
    from lmops.fluent.instrument import (
        instrument,
        uninstrument,
    )
    from lmops.fluent.tracing import (
        flush_traces,
        get_current_trace_id,
        get_trace,
        log_feedback,
        search_traces,
        span,
        trace,
        tracing_stats,
        update_current_trace,
        with_current_context,
    )
    from lmops.fluent.tracking import (
        ActiveRun,
        active_run,
        end_run,
        flush,
        get_metric_history,
        get_run,
        list_experiments,
        log_artifact,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        search_runs,
        set_experiment,
        set_tag,
        set_tags,
        start_run,
    )
    from lmops.prompts.sdk import (
        load_prompt,
        register_prompt,
        set_prompt_alias,
    )
    from lmops.registry.sdk import (
        get_model_version,
        load_model,
        register_endpoint,
        register_model,
        set_model_alias,
    )


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lmops' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return __all__
