"""The main job behind `make demo`: populate a demo experiment with real runs, then serve it.

The runs really train: a logistic-regression classifier fitted by mini-batch SGD on a
synthetic two-class data set, one run per learning rate, as children of a sweep run. Later
stages extend this walk until it covers the whole lifecycle.
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
