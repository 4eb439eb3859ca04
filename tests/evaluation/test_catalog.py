"""Scorers by name, through the same plugin hook a third party uses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import lmops.evaluation
from lmops.core.errors import InvalidInput
from lmops.core.hookspecs import Register, hookimpl
from lmops.core.plugins import lookup, plugin_manager
from lmops.evaluation import (
    Bleu,
    ExactMatch,
    Example,
    FunctionScorer,
    Regex,
    Rouge,
    Score,
    Scorer,
    get_scorer,
    get_scorers,
    scorer_names,
)
from lmops.evaluation.catalog import PLUGIN_NAME

BUILT_IN = {
    "bleu",
    "chrf",
    "contains",
    "cost",
    "exact_match",
    "json_schema",
    "json_valid",
    "judge",
    "latency",
    "length",
    "pairwise_judge",
    "regex",
    "rouge1",
    "rouge2",
    "rougeL",
    "rougeLsum",
    "semantic_similarity",
    "token_f1",
    "word_count",
}


def test_all_is_honest() -> None:
    for name in lmops.evaluation.__all__:
        assert getattr(lmops.evaluation, name) is not None, name


def test_the_built_ins_register_through_the_plugin_hook() -> None:
    assert set(scorer_names()) >= BUILT_IN
    assert plugin_manager().has_plugin(PLUGIN_NAME)
    assert lookup("scorers", "bleu") is Bleu  # core's own lookup sees them too


def test_names_build_scorers_and_options_go_to_the_factory() -> None:
    assert isinstance(get_scorer("exact_match"), ExactMatch)
    rouge = get_scorer("rougeLsum", use_stemmer=False)
    assert isinstance(rouge, Rouge) and (rouge.name, rouge.use_stemmer) == ("rougeLsum", False)
    regex = get_scorer("regex", pattern=r"^\d+$", name="digits")
    assert isinstance(regex, Regex) and regex.name == "digits"
    assert regex.score(Example({}, "123")) == Score(1.0, rationale="matched '123'")


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(InvalidInput) as caught:
        get_scorer("rouge_l")
    message = str(caught.value)
    assert message.startswith("no scorer named 'rouge_l' (known: bleu, chrf, contains,")
    assert all(name in message for name in BUILT_IN)
    assert caught.value.field == "scorer"


def test_bad_options_are_invalid_input() -> None:
    with pytest.raises(InvalidInput, match=r"cannot build scorer 'regex'.*pattern"):
        get_scorer("regex")
    with pytest.raises(InvalidInput, match=r"cannot build scorer 'bleu'.*colour"):
        get_scorer("bleu", colour="red")


def test_scorers_functions_and_classes_are_accepted_as_they_are() -> None:
    made = ExactMatch()
    assert get_scorer(made) is made
    assert isinstance(get_scorer(ExactMatch), ExactMatch)

    def starts_with_yes(example: Example) -> bool:
        return str(example.output).lower().startswith("yes")

    wrapped = get_scorer(starts_with_yes, higher_is_better=False)
    assert isinstance(wrapped, FunctionScorer)
    assert (wrapped.name, wrapped.higher_is_better) == ("starts_with_yes", False)
    assert wrapped.score(Example({}, "Yes, sure")) == Score(1.0)
    with pytest.raises(InvalidInput, match="options go with a scorer's name"):
        get_scorer(made, name="other")
    with pytest.raises(InvalidInput, match="a scorer is a name, a Scorer or a function"):
        get_scorer(42)  # type: ignore[arg-type]


def test_two_scorers_with_one_name_are_refused() -> None:
    assert [s.name for s in get_scorers(["bleu", "rougeL", ExactMatch()])] == [
        "bleu",
        "rougeL",
        "exact_match",
    ]
    with pytest.raises(InvalidInput, match="two scorers named bleu"):
        get_scorers(["bleu", Bleu()])


class Shouting(Scorer):
    """A third-party scorer, as a plugin would bring one."""

    name = "shouting"

    def compute(self, example: Example) -> Score:
        return Score(float(str(example.output).isupper()))


class LenientMatch(Scorer):
    name = "exact_match"
    needs_expected = True

    def compute(self, example: Example) -> Score:
        return Score(float(str(example.expected) in str(example.output)))


class ScorerPlugin:
    @hookimpl
    def register_scorers(self, register: Register) -> None:
        register("shouting", Shouting)
        register("exact_match", LenientMatch)  # replaces the built-in
        register("not_a_scorer", dict)


@pytest.fixture
def scorer_plugin() -> Iterator[None]:
    get_scorer("bleu")  # the built-ins join first: the plugin must win even so
    manager = plugin_manager()
    manager.register(ScorerPlugin(), name="scorer-plugin")
    yield
    manager.unregister(name="scorer-plugin")


@pytest.mark.usefixtures("scorer_plugin")
def test_a_plugin_adds_scorers_and_replaces_built_ins_by_name() -> None:
    assert isinstance(get_scorer("shouting"), Shouting)
    lenient = get_scorer("exact_match")
    assert isinstance(lenient, LenientMatch)
    assert lenient.score(Example({}, "It is Paris.", "Paris")) == Score(1.0)
    with pytest.raises(InvalidInput, match="made a dict, not a Scorer"):
        get_scorer("not_a_scorer")


def test_without_the_plugin_the_built_in_is_back() -> None:
    assert isinstance(get_scorer("exact_match"), ExactMatch)
    assert "shouting" not in scorer_names()
