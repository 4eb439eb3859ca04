"""The evaluation part of `make demo`: two versions of a QA prompt, each evaluated with
SmolLM2 on a small dataset version of capital-city questions with ROUGE-L, BLEU and token
F1, then compared with bootstrap intervals, the way a team checks a prompt change."""

from __future__ import annotations

import pyarrow as pa

from lmops.core.settings import Settings
from lmops.evaluation.compare import Comparison, compare
from lmops.evaluation.evaluate import Result
from lmops.tuning.register import DEMO_NAME

PROMPT = "demo-qa"
DATASET = "demo-capitals"
CAPITALS = [
    ("France", "Paris"),
    ("Germany", "Berlin"),
    ("Italy", "Rome"),
    ("Spain", "Madrid"),
    ("Japan", "Tokyo"),
    ("Canada", "Ottawa"),
    ("Egypt", "Cairo"),
    ("Norway", "Oslo"),
]
TERSE = "{{ question }}"
GUIDED = (
    "Answer in one short sentence of the form 'The capital of X is Y.'\nQuestion: {{ question }}"
)
SCORERS = ["rougeL", "bleu", "token_f1"]


def populate_evaluations(settings: Settings) -> tuple[Result, Result, Comparison] | None:
    """Register the prompt twice and the dataset once, evaluate both prompt versions with
    SmolLM2@production, and compare them; None when the prompt exists already."""
    import lmops
    from lmops.data.importing import import_source
    from lmops.evaluation.sdk import open_stores
    from lmops.prompts.sdk import open_prompts

    prompts = open_prompts(settings)
    if any(p.name == PROMPT for p in prompts.list_prompts()):
        return None
    stores = open_stores(settings)
    rows = [
        {"question": f"What is the capital of {country}?",
         "expected": f"The capital of {country} is {city}."}
        for country, city in CAPITALS
    ]  # fmt: skip
    data = import_source(stores.data, DATASET, pa.Table.from_pylist(rows)).uri
    first = lmops.register_prompt(PROMPT, template=TERSE, commit_message="the bare question")
    second = lmops.register_prompt(
        PROMPT,
        template=GUIDED,
        model_params={"temperature": 0, "max_tokens": 24},
        commit_message="ask for one sentence in the expected form",
    )
    model = f"models:/{DEMO_NAME}@production"
    results = [
        lmops.evaluate(
            prompt.uri,
            data,
            SCORERS,
            model=model,
            params={"max_tokens": 24},
            name=f"{prompt.uri} with {DEMO_NAME}",
        )
        for prompt in (first, second)
    ]
    before, after = results
    return before, after, compare(stores.evaluations, before.evaluation.id, after.evaluation.id)
