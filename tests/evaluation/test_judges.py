"""LLM-as-judge with `complete` functions standing in for the judge model's endpoint."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmops.core.errors import InvalidInput
from lmops.evaluation import (
    DEFAULT_RUBRIC,
    Example,
    Judge,
    PairwiseJudge,
    Score,
    get_scorer,
)
from lmops.evaluation.judges import parse_grade, parse_verdict
from lmops.prompts.store import PromptStore
from lmops.store import close_engine, open_engine

Messages = list[dict[str, str]]
ROW = Example({"question": "What is the capital of France?"}, "Paris", "Paris")


class Recorder:
    """A judge endpoint that answers from a list and keeps the messages it was sent."""

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.sent: list[Messages] = []

    def __call__(self, messages: Messages) -> str:
        self.sent.append(messages)
        return self.replies[(len(self.sent) - 1) % len(self.replies)]


def test_the_default_rubric_grades_1_to_5_scaled_to_0_1() -> None:
    endpoint = Recorder('{"score": 4, "rationale": "Right, but terse."}')
    judge = get_scorer("judge", complete=endpoint)
    assert isinstance(judge, Judge) and judge.rubric == DEFAULT_RUBRIC
    assert judge.score(ROW) == Score(0.75, rationale="[4/5] Right, but terse.")
    [messages] = endpoint.sent
    assert [m["role"] for m in messages] == ["user"]
    prompt = messages[0]["content"]
    assert "What is the capital of France?" in prompt and "Answer to grade:\nParis" in prompt
    assert "Reference answer (treat it as correct):\nParis" in prompt


def test_the_default_rubric_works_without_an_expected_answer() -> None:
    endpoint = Recorder('{"score": 5, "rationale": "ok"}')
    assert Judge(endpoint).score(Example({"q": "2+2?"}, "4")).value == 1.0
    assert "Reference answer" not in endpoint.sent[0][0]["content"]


@pytest.mark.parametrize(
    ("reply", "grade"),
    [
        ('{"score": 3, "rationale": "meh"}', 3.0),
        ('```json\n{"score": 5, "rationale": "fine"}\n```', 5.0),
        ('Here is my grade: {"score": "2", "rationale": "weak"} Hope it helps.', 2.0),
        ('{"score": 4.5}', 4.5),
        ("Score: 4/5. The answer is right.", 4.0),
        ("On a scale of 1 to 5 I would give it 3.", 1.0),  # the first number, as documented
        ("4", 4.0),
        ('{"verdict": "good"} score = 5', 5.0),
    ],
)
def test_a_reply_is_read_forgivingly(reply: str, grade: float) -> None:
    assert parse_grade(reply)[0] == grade


def test_unreadable_replies_and_failed_calls_are_row_errors_not_the_runs() -> None:
    def flaky(messages: Messages) -> str:
        text = messages[0]["content"]
        if "explode" in text:
            raise TimeoutError("judge endpoint timed out")
        if "garbage" in text:
            return "I cannot grade this, sorry!"
        if "too high" in text:
            return '{"score": 9, "rationale": "great"}'
        if "not text" in text:
            return None  # type: ignore[return-value]
        return '{"score": 1, "rationale": "wrong"}'

    judge = Judge(flaky, max_workers=3)
    outputs = ["fine", "explode", "garbage", "too high", "not text", "fine again"]
    scores = judge.score_many([Example({"q": "?"}, out) for out in outputs])
    assert [s.value for s in scores] == [0.0, None, None, None, None, 0.0]
    assert scores[1].error == "judge call failed: TimeoutError: judge endpoint timed out"
    assert scores[2].error == "judge reply has no score: 'I cannot grade this, sorry!'"
    assert scores[3].error is not None and scores[3].error.startswith(
        "judge gave 9, outside 1 to 5"
    )
    assert scores[4].error == "judge call returned NoneType, not text"


def test_a_custom_template_and_scale() -> None:
    endpoint = Recorder('{"score": 7, "rationale": "mostly polite"}')
    rubric = "Rate politeness 0-10.\nQ: {{ question }}\nA: {{ output }}\nContext: {{ input }}"
    judge = Judge(endpoint, rubric, min_score=0, max_score=10, name="politeness")
    assert judge.name == "politeness"
    assert judge.score(ROW) == Score(0.7, rationale="[7/10] mostly polite")
    assert endpoint.sent[0][0]["content"] == (
        "Rate politeness 0-10.\nQ: What is the capital of France?\nA: Paris\n"
        "Context: What is the capital of France?"
    )


def test_a_template_that_uses_what_the_row_lacks_fails_that_row() -> None:
    judge = Judge(Recorder('{"score": 3}'), "{{ output }} vs {{ expected }}")
    scores = judge.score_many([ROW, Example({"q": "?"}, "no reference")])
    assert scores[0].value == 0.5
    assert scores[1].value is None and "expected" in (scores[1].error or "")
    assert Judge(Recorder("1"), "{{ output }}", needs_expected=True).score(
        Example({}, "x")
    ) == Score(None, error="row has no expected value")


def test_bad_rubrics_and_options_are_refused_up_front() -> None:
    with pytest.raises(InvalidInput, match="syntax error"):
        Judge(Recorder("1"), "{{ output ")
    with pytest.raises(InvalidInput, match="rubric is a template string or a prompt version"):
        Judge(Recorder("1"), 42)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="min_score must be below max_score"):
        Judge(Recorder("1"), min_score=5, max_score=5)
    with pytest.raises(InvalidInput, match="complete must be a function"):
        Judge("http://judge")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="cannot build scorer 'judge'"):
        get_scorer("judge")  # no endpoint to ask


@pytest.fixture
def prompts(tmp_path: Path) -> Iterator[PromptStore]:
    uri = f"sqlite:///{tmp_path / 'lmops.db'}"
    yield PromptStore(open_engine(uri))
    close_engine(uri)


def test_a_registered_prompt_version_is_a_rubric(prompts: PromptStore) -> None:
    chat = prompts.create_version(
        "grader",
        messages=[
            {"role": "system", "content": "You grade answers. Reply with JSON."},
            {"role": "user", "content": "Question: {{ question }}\nAnswer: {{ output }}"},
        ],
    )
    endpoint = Recorder('{"score": 2, "rationale": "partly"}')
    judge = Judge(endpoint, chat)
    assert judge.score(ROW) == Score(0.25, rationale="[2/5] partly")
    assert endpoint.sent[0] == [
        {"role": "system", "content": "You grade answers. Reply with JSON."},
        {"role": "user", "content": "Question: What is the capital of France?\nAnswer: Paris"},
    ]
    text = prompts.create_version("grader-text", template="{{ output }} / {{ expected }}")
    endpoint = Recorder("Score: 5")
    assert Judge(endpoint, text).score(ROW).value == 1.0
    assert endpoint.sent[0] == [{"role": "user", "content": "Paris / Paris"}]
    lacking = Judge(endpoint, text).score(Example({}, "no reference"))
    assert lacking == Score(None, error="the rubric uses expected, which the row lacks")


def test_rows_are_judged_concurrently_and_come_back_in_order() -> None:
    barrier = threading.Barrier(4, timeout=10)  # only passes when 4 calls run at once

    def grade_by_length(messages: Messages) -> str:
        barrier.wait()
        answer = messages[0]["content"].split("Answer to grade:\n")[1].split("\n")[0]
        return f'{{"score": {len(answer)}}}'

    rows = [Example({"q": "?"}, "x" * n) for n in (1, 2, 3, 4, 5, 4, 3, 2)]
    scores = Judge(grade_by_length, max_workers=4).score_many(rows)
    assert [s.value for s in scores] == [0.0, 0.25, 0.5, 0.75, 1.0, 0.75, 0.5, 0.25]


# -- pairwise -------------------------------------------------------------------------------


def pairwise_row(output: str, baseline: str | None = "baseline answer") -> Example:
    inputs: dict[str, object] = {"question": "Explain LoRA briefly."}
    if baseline is not None:
        inputs["__baseline_output__"] = baseline
    return Example(inputs, output)


def shown(messages: Messages) -> tuple[str, str]:
    """The answers a pairwise prompt shows as A and as B."""
    text = messages[0]["content"]
    a = text.split("Answer A:\n")[1].split("\n\nAnswer B:")[0]
    b = text.split("Answer B:\n")[1].split("\n")[0]
    return a, b


def prefers(word: str) -> Recorder:
    """A fair judge: it picks the answer containing `word`, wherever it is shown."""

    class Fair(Recorder):
        def __call__(self, messages: Messages) -> str:
            self.sent.append(messages)
            a, b = shown(messages)
            if (word in a) == (word in b):
                return '{"winner": "tie", "rationale": "same"}'
            winner = "A" if word in a else "B"
            return f'{{"winner": "{winner}", "rationale": "has {word}"}}'

    return Fair()


def test_pairwise_asks_twice_with_the_order_swapped() -> None:
    endpoint = prefers("adapter")
    judge = get_scorer("pairwise_judge", complete=endpoint)
    assert isinstance(judge, PairwiseJudge)
    score = judge.score(pairwise_row("LoRA trains low-rank adapter matrices."))
    assert score.value == 1.0
    assert score.rationale == (
        "output shown first: output wins. has adapter\n"
        "baseline shown first: output wins. has adapter"
    )
    first, second = (shown(m) for m in endpoint.sent)
    assert first == ("LoRA trains low-rank adapter matrices.", "baseline answer")
    assert second == ("baseline answer", "LoRA trains low-rank adapter matrices.")
    # the baseline travels in the inputs but is not shown to the judge as one
    assert "__baseline_output__" not in endpoint.sent[0][0]["content"]
    assert "Request:\nExplain LoRA briefly.\n" in endpoint.sent[0][0]["content"]


def test_pairwise_scores_1_0_and_half() -> None:
    judge = PairwiseJudge(prefers("adapter"))
    rows = [
        pairwise_row("uses adapters", "no idea"),
        pairwise_row("no idea", "uses adapters"),
        pairwise_row("no idea", "also no idea"),
    ]
    assert [s.value for s in judge.score_many(rows)] == [1.0, 0.0, 0.5]


def test_a_judge_that_always_picks_the_first_shown_cancels_out() -> None:
    biased = Recorder('{"winner": "A", "rationale": "first is best"}')
    score = PairwiseJudge(biased).score(pairwise_row("anything"))
    assert score.value == 0.5
    assert score.rationale == (
        "output shown first: output wins. first is best\n"
        "baseline shown first: baseline wins. first is best"
    )


def test_pairwise_rows_without_a_baseline_or_with_a_bad_reply_fail_alone() -> None:
    judge = PairwiseJudge(Recorder("[[B]]", "I like both of them"), max_workers=1)
    scores = judge.score_many([pairwise_row("x", baseline=None), pairwise_row("y")])
    assert scores[0] == Score(
        None, error="row has no baseline output (inputs['__baseline_output__'])"
    )
    assert scores[1].value is None
    assert scores[1].error == "judge reply names no winner: 'I like both of them'"


def test_the_baseline_can_come_from_another_input() -> None:
    judge = PairwiseJudge(prefers("good"), baseline_key="previous")
    row = Example({"question": "?", "previous": "bad"}, "good")
    assert judge.score(row).value == 1.0


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ('{"winner": "B", "rationale": "clearer"}', "B"),
        ('{"winner": "tie"}', "tie"),
        ('{"winner": "a"}', "A"),
        ("After thinking it over: [[A]]", "A"),
        ("[[C]]", "tie"),
        ("Winner: B", "B"),
        ("tie", "tie"),
        ("B.", "B"),
    ],
)
def test_a_verdict_is_read_forgivingly(reply: str, verdict: str) -> None:
    assert parse_verdict(reply)[0] == verdict
