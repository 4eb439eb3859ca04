"""How fast the overlap scorers grade: BLEU and ROUGE-L pairs per second, next to the
libraries they wrap called directly, same run.

Run it from the repository root:

    .venv/bin/python benchmarks/eval_scorers.py               # 10,000 pairs
    .venv/bin/python benchmarks/eval_scorers.py --pairs 2000  # any count

The workload (seeded): `--pairs` (output, expected) pairs of 8-40 words drawn with
Zipf-like frequencies from 5,000 made-up words plus common English ones; each output is its
reference with about a third of the words replaced, dropped or inserted, and one row in
ten has two references.

What is measured, per scorer, median of `--repeats` trials:

- lmops: `score_many(examples)` then `aggregate(examples, scores)` (a sentence score per
  row, then corpus BLEU / mean ROUGE-L F), through `get_scorer("bleu")` /
  `get_scorer("rougeL")`.
- direct: the same figures from the libraries alone: `sacrebleu.sentence_bleu` per pair
  then `sacrebleu.corpus_bleu`; `RougeScorer(["rougeL"], use_stemmer=True).score_multi`
  per pair then the mean. The script checks that both sides give equal figures.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import sacrebleu
from rouge_score.rouge_scorer import RougeScorer

from lmops.evaluation import Example, get_scorer

COMMON = ["the", "a", "of", "to", "and", "in", "is", "it", "that", "for", "on", "with", "as"]


def make_pairs(n: int, seed: int = 7) -> list[Example]:
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = COMMON + ["".join(rng.choices(letters, k=rng.randint(3, 10))) for _ in range(5000)]
    weights = [1 / (rank + 1) for rank in range(len(vocab))]

    def sentence() -> list[str]:
        return rng.choices(vocab, weights, k=rng.randint(8, 40))

    def edit(words: list[str]) -> list[str]:
        out: list[str] = []
        for word in words:
            roll = rng.random()
            if roll < 0.12:
                continue  # dropped
            out.append(rng.choice(vocab) if roll < 0.24 else word)
            if roll > 0.9:
                out.append(rng.choice(vocab))  # inserted
        return out or words[:1]

    rows = []
    for _ in range(n):
        ref = sentence()
        refs = [" ".join(ref)] + ([" ".join(edit(ref))] if rng.random() < 0.1 else [])
        output = " ".join(edit(ref)).capitalize() + "."
        rows.append(Example(inputs={}, output=output, expected=refs if len(refs) > 1 else refs[0]))
    return rows


def refs_of(example: Example) -> list[str]:
    expected = example.expected
    return list(expected) if isinstance(expected, list) else [expected]


def lmops_figure(name: str, rows: list[Example]) -> float | None:
    scorer = get_scorer(name)
    scores = scorer.score_many(rows)
    return scorer.aggregate(rows, scores)


def direct_bleu(rows: list[Example]) -> float:
    for row in rows:
        sacrebleu.sentence_bleu(row.output, refs_of(row))
    refs = [refs_of(row) for row in rows]
    width = max(len(r) for r in refs)
    streams = [[r[i] if i < len(r) else None for r in refs] for i in range(width)]
    return float(sacrebleu.corpus_bleu([row.output for row in rows], streams).score)  # type: ignore[arg-type]


def direct_rouge(rows: list[Example]) -> float:
    rouge = RougeScorer(["rougeL"], use_stemmer=True)
    values = [rouge.score_multi(refs_of(row), row.output)["rougeL"].fmeasure for row in rows]
    return math.fsum(values) / len(values)


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = make_pairs(args.pairs)
    print(f"{args.pairs:,} pairs, median of {args.repeats} trials (score_many + aggregate)")
    cases = [
        ("BLEU", "bleu", direct_bleu),
        ("ROUGE-L", "rougeL", direct_rouge),
    ]
    for label, name, direct in cases:
        ours, figure = timed(partial(lmops_figure, name, rows), args.repeats)
        theirs, peer = timed(partial(direct, rows), args.repeats)
        same = "equal" if figure == peer else f"DIFFERENT (direct {peer})"
        rate, peer_rate = args.pairs / ours, args.pairs / theirs
        print(
            f"{label:8} lmops {rate:9,.0f} pairs/s   direct {peer_rate:9,.0f} pairs/s   "
            f"ratio {theirs / ours:4.2f}x   figure {figure:.4f} ({same})"
        )
    print("(shared machine: expect run-to-run noise)")


if __name__ == "__main__":
    main()
