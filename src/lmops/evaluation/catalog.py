"""Scorers by name: the built-ins register through the `register_scorers` plugin hook, like
any plugin's, and `get_scorer` turns a name, a Scorer or a plain function into a Scorer.

The built-ins join the plugin manager the first time a scorer is looked up (core cannot
import evaluation), marked to run first, so a plugin registering the same name replaces
the built-in whenever it was loaded.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, cast

from lmops.core.errors import InvalidInput, LmopsError
from lmops.core.hookspecs import Register, hookimpl
from lmops.core.plugins import plugin_manager, registry
from lmops.evaluation.judges import Judge, PairwiseJudge
from lmops.evaluation.overlap import Bleu, Chrf, Rouge
from lmops.evaluation.scoring import Example, FunctionScorer, ScoreFunction, Scorer
from lmops.evaluation.semantic import SemanticSimilarity
from lmops.evaluation.structured import JsonSchema, JsonValid
from lmops.evaluation.text import Contains, ExactMatch, Length, Regex, TokenF1, WordCount
from lmops.evaluation.usage import Cost, Latency

PLUGIN_NAME = "lmops.scorers"
ScorerSpec = str | Scorer | type[Scorer] | Callable[[Example], Any]

BUILTINS: dict[str, Callable[..., Scorer]] = {
    "exact_match": ExactMatch,
    "token_f1": TokenF1,
    "contains": Contains,
    "regex": Regex,
    "bleu": Bleu,
    "chrf": Chrf,
    "rouge1": partial(Rouge, "rouge1"),
    "rouge2": partial(Rouge, "rouge2"),
    "rougeL": partial(Rouge, "rougeL"),
    "rougeLsum": partial(Rouge, "rougeLsum"),
    "semantic_similarity": SemanticSimilarity,
    "json_valid": JsonValid,
    "json_schema": JsonSchema,
    "length": Length,
    "word_count": WordCount,
    "latency": Latency,
    "cost": Cost,
    "judge": Judge,
    "pairwise_judge": PairwiseJudge,
}

_joining = threading.Lock()


@hookimpl(tryfirst=True)
def register_scorers(register: Register) -> None:
    for name, factory in BUILTINS.items():
        register(name, factory)


def scorers() -> dict[str, Any]:
    """Every scorer factory by name: the built-ins and what plugins add or replace."""
    manager = plugin_manager()
    with _joining:
        if not manager.has_plugin(PLUGIN_NAME):
            manager.register(sys.modules[__name__], name=PLUGIN_NAME)
    return registry("scorers")


def scorer_names() -> list[str]:
    """The names `get_scorer` knows, sorted."""
    return sorted(scorers())


def get_scorer(spec: ScorerSpec, /, **options: Any) -> Scorer:
    """A Scorer from a registered name (built with `options`), a Scorer, a Scorer class,
    or a plain function of an Example (wrapped as with `@scorer`)."""
    if isinstance(spec, Scorer):
        if options:
            raise InvalidInput("options go with a scorer's name, not a Scorer", field="scorer")
        return spec
    if isinstance(spec, str):
        found = scorers()
        if spec not in found:
            known = ", ".join(sorted(found))
            raise InvalidInput(f"no scorer named {spec!r} (known: {known})", field="scorer")
        return _build(spec, found[spec], options)
    if isinstance(spec, type) and issubclass(spec, Scorer):
        return _build(spec.__name__, spec, options)
    if callable(spec):
        fn = cast(ScoreFunction, spec)
        return _build(getattr(fn, "__name__", "function"), partial(FunctionScorer, fn), options)
    raise InvalidInput(
        f"a scorer is a name, a Scorer or a function, got {type(spec).__name__}", field="scorer"
    )


def get_scorers(specs: Iterable[ScorerSpec]) -> list[Scorer]:
    """Scorers for each spec, refusing two with the same name (their results would clash)."""
    found = [get_scorer(spec) for spec in specs]
    names = [s.name for s in found]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidInput(
            f"two scorers named {', '.join(twice)}: give one of them another name",
            field="scorers",
        )
    return found


def _build(name: str, factory: Any, options: dict[str, Any]) -> Scorer:
    if isinstance(factory, Scorer) and not options:  # a plugin may register an instance
        return factory
    try:
        built = factory(**options)
    except LmopsError:
        raise
    except TypeError as exc:  # a missing or unknown option
        raise InvalidInput(f"cannot build scorer {name!r}: {exc}", field="scorer") from None
    if not isinstance(built, Scorer):
        raise InvalidInput(
            f"scorer {name!r} was registered with a factory that made a "
            f"{type(built).__name__}, not a Scorer",
            field="scorer",
        )
    return built
