"""Evaluation throughput: 1,000 rows against an endpoint that answers in 50 ms, at
concurrency 16, against the ideal 1000 x 0.05 / 16 s.

The endpoint is an OpenAI-compatible stub (a bare ASGI app under uvicorn, its own process)
that sleeps 50 ms and answers. `lmops.evaluate` calls it as an endpoint URL, scores every
answer with exact match and ROUGE-L, and stores the rows and the run (in-process SQLite).
The wall time covers all of it, from the call to the stored result.

    .venv/bin/python benchmarks/eval.py [--rows 1000] [--concurrency 16] [--delay 0.05]

Target (issue 7): within 1.3x of the ideal. Scorer throughput (BLEU, ROUGE on 10,000
pairs) is `benchmarks/eval_scorers.py`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from harness import NOISE_NOTE, free_port

STUB = r"""
import asyncio, json, sys, uvicorn

DELAY = float(sys.argv[2])

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if scope["path"].endswith("/chat/completions"):
        question = json.loads(body)["messages"][-1]["content"]
        await asyncio.sleep(DELAY)
        answer = json.dumps({
            "id": "x", "object": "chat.completion", "created": 0, "model": "stub",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": question.upper()}}],
            "usage": {"prompt_tokens": 8, "completion_tokens": 4, "total_tokens": 12},
        }).encode()
    else:
        answer = b"{}"
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": answer})

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            backlog=4096, limit_concurrency=4096)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--delay", type=float, default=0.05, help="The endpoint's seconds.")
    args = parser.parse_args()

    port = free_port()
    stub = subprocess.Popen([sys.executable, "-c", STUB, str(port), str(args.delay)])
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        with tempfile.TemporaryDirectory(prefix="lmops-bench-eval-") as tmp:
            os.environ.update(LMOPS_HOME=str(Path(tmp) / "home"), LMOPS_URI="")
            import lmops

            rows = [
                {"question": f"question number {i}", "expected": f"QUESTION NUMBER {i}"}
                for i in range(args.rows)
            ]
            # warm-up: imports (rouge-score pulls in nltk), the store's first tables
            lmops.evaluate(url, rows[:20], ["exact_match", "rougeL"], model="stub")
            started = time.perf_counter()
            result = lmops.evaluate(
                url,
                rows,
                ["exact_match", "rougeL"],
                model="stub",
                concurrency=args.concurrency,
                name="throughput",
            )
            took = time.perf_counter() - started
    finally:
        stub.terminate()
        stub.wait(10)

    e = result.evaluation
    ideal = args.rows * args.delay / args.concurrency
    ratio = took / ideal
    print(
        f"evaluate: {args.rows} rows, endpoint {args.delay * 1000:.0f} ms, "
        f"concurrency {args.concurrency}"
    )
    print(f"  stored {e.row_count} rows ({e.failed_rows} failed), exact_match "
          f"{e.aggregates['exact_match']:.3f}, rougeL {e.aggregates['rougeL']:.3f}")  # fmt: skip
    print(f"  wall {took:.2f} s, ideal {ideal:.2f} s: {ratio:.2f}x of ideal")
    print(f"  target within 1.3x: {'met' if ratio <= 1.3 else 'NOT met'}")
    print(NOISE_NOTE)


if __name__ == "__main__":
    main()
