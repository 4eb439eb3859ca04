"""The main job behind `make demo`: populate a demo experiment with real runs and a traced
demo app with feedback, then serve it.

The runs really train: a logistic-regression classifier fitted by mini-batch SGD on a
synthetic two-class data set, one run per learning rate, as children of a sweep run. The
traced app is a small question-answering chain over a few documents: a keyword retriever
and a toy "model" that answers with the best sentence (no LLM: its token counts are word
counts). Later stages extend this walk until it covers the whole lifecycle.
"""

from __future__ import annotations

import json
import math
import random
import tempfile
from pathlib import Path

import lmops
from lmops.core.errors import NotFound

EXPERIMENT = "demo-classifier"
LEARNING_RATES = (0.003, 0.01, 0.03, 0.1, 0.3)
EPOCHS = 40


def make_data(n: int, dims: int, seed: int) -> list[tuple[list[float], int]]:
    """Two Gaussian blobs that overlap a little, so accuracy stays below 100%."""
    rng = random.Random(seed)
    centre = [rng.uniform(-1, 1) for _ in range(dims)]
    rows = []
    for i in range(n):
        label = i % 2
        sign = 1.0 if label else -1.0
        rows.append(([sign * c * 0.6 + rng.gauss(0, 1) for c in centre], label))
    return rows


def _predict(w: list[float], b: float, x: list[float]) -> float:
    z = sum(wi * xi for wi, xi in zip(w, x, strict=True)) + b
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def _evaluate(w: list[float], b: float, rows: list[tuple[list[float], int]]) -> tuple[float, float]:
    loss = correct = 0.0
    for x, y in rows:
        p = min(max(_predict(w, b, x), 1e-9), 1 - 1e-9)
        loss -= y * math.log(p) + (1 - y) * math.log(1 - p)
        correct += (p >= 0.5) == bool(y)
    return loss / len(rows), correct / len(rows)


def train(
    lr: float,
    train_rows: list[tuple[list[float], int]],
    val_rows: list[tuple[list[float], int]],
    batch: int = 32,
) -> dict[str, float]:
    """Fit one model with SGD, logging train/val loss and accuracy to the active run."""
    rng = random.Random(0)
    dims = len(train_rows[0][0])
    w, b = [0.0] * dims, 0.0
    step = 0
    for epoch in range(EPOCHS):
        rng.shuffle(train_rows)
        for start in range(0, len(train_rows), batch):
            chunk = train_rows[start : start + batch]
            grad_w, grad_b, batch_loss = [0.0] * dims, 0.0, 0.0
            for x, y in chunk:
                p = _predict(w, b, x)
                batch_loss -= y * math.log(max(p, 1e-9)) + (1 - y) * math.log(max(1 - p, 1e-9))
                for j in range(dims):
                    grad_w[j] += (p - y) * x[j]
                grad_b += p - y
            w = [wi - lr * g / len(chunk) for wi, g in zip(w, grad_w, strict=True)]
            b -= lr * grad_b / len(chunk)
            lmops.log_metric("train/batch_loss", batch_loss / len(chunk), step=step)
            step += 1
        val_loss, val_acc = _evaluate(w, b, val_rows)
        train_loss, train_acc = _evaluate(w, b, train_rows)
        lmops.log_metrics(
            {
                "train/loss": train_loss,
                "train/accuracy": train_acc,
                "val/loss": val_loss,
                "val/accuracy": val_acc,
            },
            step=epoch,
        )
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "model.json"
        weights.write_text(json.dumps({"weights": w, "bias": b}))
        lmops.log_artifact(weights)
    return {"val/loss": val_loss, "val/accuracy": val_acc}


def populate() -> str:
    """Create the demo experiment (once) and return its id."""
    from lmops.fluent.backends import tracking_backend

    backend = tracking_backend()
    try:
        return backend.get_experiment_by_name(EXPERIMENT).id
    except NotFound:
        pass
    rows = make_data(1200, 8, seed=7)
    train_rows, val_rows = rows[:1000], rows[1000:]
    val_loss: dict[float, float] = {}
    with lmops.start_run(EXPERIMENT, name="lr-sweep", tags={"kind": "sweep"}) as sweep:
        for lr in LEARNING_RATES:
            with lmops.start_run(
                EXPERIMENT,
                name=f"sgd-lr-{lr}",
                nested=True,
                params={
                    "lr": lr,
                    "epochs": EPOCHS,
                    "batch_size": 32,
                    "model": "logistic-regression",
                },
                tags={"dataset": "synthetic-blobs"},
            ):
                result = train(lr, list(train_rows), val_rows)
            val_loss[lr] = result["val/loss"]
            print(
                f"  trained lr={lr:<6} val/loss={result['val/loss']:.4f} "
                f"val/accuracy={result['val/accuracy']:.3f}"
            )
        best = min(val_loss, key=val_loss.__getitem__)
        lmops.set_tags({"best_lr": str(best)}, run_id=sweep.id)
        lmops.log_metric("best/val_loss", val_loss[best], run_id=sweep.id)
    return backend.get_experiment_by_name(EXPERIMENT).id


DOCS = {
    "tracking": "lmops tracks experiments and runs. Metrics are logged through a queue and "
    "written in batches, so logging never slows a training loop.",
    "tracing": "Every LLM call becomes a span in a trace. Traces keep totals of tokens, cost "
    "and latency, and people attach feedback to them.",
    "storage": "The store is SQLite on a laptop and PostgreSQL for teams. Artifacts are "
    "content-addressed files on disk or on S3-compatible storage.",
}
QUESTIONS = [
    ("How does lmops log metrics without slowing training?", True),
    ("What does a trace keep?", True),
    ("Which databases does lmops use?", True),
    ("Can lmops make coffee?", False),
    ("Where are artifacts stored?", True),
    ("What is attached to traces?", True),
]
DEMO_MODEL = "demo-extractive-1"


def _words(text: str) -> list[str]:
    return [w.strip(".,?!").lower() for w in text.split() if w.strip(".,?!")]


@lmops.trace(span_type="RETRIEVER")
def retrieve(question: str, k: int = 2) -> list[dict[str, object]]:
    asked = set(_words(question))
    scored = sorted(
        ((len(asked & set(_words(text))), name) for name, text in DOCS.items()), reverse=True
    )
    return [{"doc": name, "score": score} for score, name in scored[:k] if score > 0]


@lmops.trace(span_type="CHAT_MODEL")
def generate(question: str, context: list[str]) -> str:
    from lmops.tracing.live import current_span

    asked = set(_words(question))
    sentences = [s.strip() + "." for text in context for s in text.split(".") if s.strip()]
    best = max(sentences, key=lambda s: len(asked & set(_words(s))), default="")
    answer = best if best and asked & set(_words(best)) else "I do not know."
    span = current_span()
    if span is not None:
        span.set_model(DEMO_MODEL, "lmops-demo")
        span.set_usage(
            input=len(_words(question)) + sum(len(_words(c)) for c in context),
            output=len(_words(answer)),
        )
    return answer


@lmops.trace(span_type="CHAIN", name="answer_question")
def answer_question(question: str, user: str, session: str) -> str:
    lmops.update_current_trace(user=user, session=session, tags={"app": "demo-qa"})
    docs = retrieve(question)
    return generate(question, [DOCS[str(d["doc"])] for d in docs])


def populate_traces() -> int:
    """Run the traced demo app over its questions and rate some answers; return traces made."""
    from lmops.fluent.backends import tracing_backend
    from lmops.tracing.entities import ModelPrice, TraceQuery

    backend = tracing_backend()
    if backend.search_traces(TraceQuery(tags={"app": "demo-qa"}, limit=1)).traces:
        return 0
    backend.prices.set_price(
        ModelPrice(
            model=DEMO_MODEL,
            input_per_million=0.5,
            output_per_million=1.5,
            source="demo price for the toy model, not a real offer",
        )
    )
    for i, (question, answerable) in enumerate(QUESTIONS):
        with lmops.span("request", type="AGENT", inputs={"question": question}) as request:
            answer = answer_question(question, user=f"user-{i % 3}", session=f"session-{i % 2}")
            request.set_outputs({"answer": answer})
            trace_id = request.trace_id
        good = answerable and answer != "I do not know."
        lmops.log_feedback(trace_id, "thumbs", good, comment=None if good else "not helpful")
        if not good:
            lmops.log_feedback(
                trace_id, "correction", correction={"answer": "lmops does not make coffee."}
            )
    lmops.flush_traces()
    return len(QUESTIONS)
