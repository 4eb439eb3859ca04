"""Decode throughput on one GPU: our `Batcher` next to `model.generate`, and the bandwidth roofline.

Run it from the repository root:

    .venv/bin/python benchmarks/serving_gpu.py                           # H200: about 2 min
    .venv/bin/python benchmarks/serving_gpu.py --sizes qwen2-0.5b --batches 1,64
    .venv/bin/python benchmarks/serving_gpu.py --device cpu --sizes tiny   # smoke run, CPU

Models are built from real architecture configs (`Qwen2Config`, randomly initialised with
`AutoModelForCausalLM.from_config`; no weights are downloaded), bf16 and SDPA attention on
CUDA, float32 on the CPU (one torch thread there, for steady smoke-run figures). Rope
settings stay at their defaults: they cost nothing per step.

- qwen2-0.5b: hidden 896, 24 layers, 14 heads, 2 KV heads, MLP 4864, vocab 151,936, tied
- qwen2-1.5b: hidden 1536, 28 layers, 12 heads, 2 KV heads, MLP 8960, vocab 151,936, tied
- tiny: hidden 64, 2 layers, 4 heads, 2 KV heads, MLP 128, vocab 1,024 (the smoke run)

For each size and each `--batches` entry B, with B prompts of `--prompt-len` random ids:

- batcher: one `Batcher` (max_batch B, no end-of-sequence ids, so every row runs to
  `--max-tokens`) driven in this process. A gate sequence holds the model thread while the
  B rows are submitted, so they share one prefill as a full batch would. Text goes
  through `TextStream` with a stub tokenizer (`decode` is one string multiply): the real
  tokenizer's cost on the model thread is not in these figures.
- generate: `model.generate` on the same B x prompt-len ids (no padding), greedy, no
  end-of-sequence id, a streamer noting when the first new tokens come out.
- `--temperature 1` samples on both paths instead (generate with top-k and top-p off, as
  the batcher's rows at top_p 1): the batcher samples row by row, generate for the batch.
- roofline: each decode step must read every weight once (the tied embedding is the output
  projection) plus each row's key/value cache so far; that many bytes divided by
  `--bandwidth` (TB/s, 4.8 for an H200's HBM3e) is the least time a step can take.

Decode tokens/s counts the tokens after each row's first, B x (max-tokens - 1): for the
batcher, over the time from the step that gave every row its first token until the last row
finished; for generate, the same count from the streamer's first new tokens until generate
returned (both paths copy each step's tokens to the host, so both wait on the GPU). Each
figure is the median of `--repeats` trials after one untimed trial of both paths at that
batch (a shape's first pass pays for kernel choice and allocation). Nothing here asserts;
the table is the result.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from harness import NOISE_NOTE, new_parser

H200_TBS = 4.8
SIZES: dict[str, dict[str, Any]] = {
    "qwen2-0.5b": {
        "hidden_size": 896,
        "num_hidden_layers": 24,
        "num_attention_heads": 14,
        "num_key_value_heads": 2,
        "intermediate_size": 4864,
        "vocab_size": 151_936,
    },
    "qwen2-1.5b": {
        "hidden_size": 1536,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "intermediate_size": 8960,
        "vocab_size": 151_936,
    },
    "tiny": {
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "intermediate_size": 128,
        "vocab_size": 1024,
    },
}


@dataclass(frozen=True)
class Workload:
    device: str
    batches: list[int]
    prompt_len: int
    max_tokens: int
    temperature: float  # 0: greedy
    repeats: int
    bandwidth: float  # bytes/s


@dataclass
class Row:
    """One size at one batch: decode tokens/s of each path, and the roofline's."""

    size: str
    batch: int
    batcher: float
    batcher_step_ms: float
    generate: float
    roofline: float


class StubTokenizer:
    """Just enough of a tokenizer for `TextStream`: one character per id."""

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return "x" * len(ids)


# -- the model --------------------------------------------------------------------------------


def build(size: str, device: str) -> Any:
    """A randomly initialised Qwen2 of `size`: bf16 + SDPA on CUDA, float32 on the CPU."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    config = Qwen2Config(**SIZES[size], tie_word_embeddings=True)
    auto: Any = AutoModelForCausalLM
    with torch.device(device):
        model = auto.from_config(config, attn_implementation="sdpa")
    if device == "cuda":
        model.to(torch.bfloat16)
    model.generation_config.eos_token_id = None  # every row runs to max_new_tokens
    model.generation_config.pad_token_id = 0
    return model.eval()


def weight_bytes(model: Any) -> int:
    """Bytes one decode step reads in weights: every parameter (`parameters()` counts a tied
    matrix once), less an untied input embedding, of which a step reads only B rows."""
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    embed = model.get_input_embeddings().weight
    if embed is not model.get_output_embeddings().weight:
        total -= embed.numel() * embed.element_size()
    return int(total)


def kv_bytes_per_token(model: Any) -> int:
    c = model.config
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    element = next(model.parameters()).element_size()
    return int(c.num_hidden_layers * 2 * c.num_key_value_heads * head_dim * element)


def roofline(model: Any, batch: int, w: Workload) -> float:
    """Decode tokens/s if every step only streamed its bytes at `w.bandwidth`."""
    steps = w.max_tokens - 1
    contexts = sum(w.prompt_len + k for k in range(1, steps + 1))  # cache read by each step
    total = steps * weight_bytes(model) + batch * kv_bytes_per_token(model) * contexts
    return batch * steps / (total / w.bandwidth)


# -- the two paths ----------------------------------------------------------------------------


def prompts(batch: int, w: Workload, vocab: int, seed: int) -> Any:
    import torch

    generator = torch.Generator().manual_seed(seed)
    return torch.randint(1, vocab, (batch, w.prompt_len), generator=generator)


def run_batcher(model: Any, ids: Any, w: Workload) -> tuple[float, float]:
    """(decode tokens/s, ms per decode step) of one full batch through a fresh `Batcher`."""
    from lmops.serving.batching import Batcher, Event, Failed, Finished, Sampling, Sequence
    from lmops.serving.text import TextStream

    batch, max_tokens = ids.shape[0], w.max_tokens
    first = [0.0] * batch
    ended = [0.0] * batch
    tokens = [0] * batch
    failed: list[str] = []
    all_done = threading.Event()
    gate_reached, gate_open = threading.Event(), threading.Event()

    def listener(row: int) -> Any:
        def on_event(event: Event) -> None:
            now = time.perf_counter()
            if isinstance(event, Failed):
                failed.append(event.message)
                all_done.set()
                return
            first[row] = first[row] or now
            if isinstance(event, Finished):
                ended[row], tokens[row] = now, event.completion_tokens
                if all(ended):
                    all_done.set()

        return on_event

    def hold(event: Event) -> None:  # the gate: runs on the model thread
        if isinstance(event, Failed):
            failed.append(event.message)
            gate_reached.set()
        elif isinstance(event, Finished):
            gate_reached.set()
            gate_open.wait()

    batcher = Batcher(model, eos_ids=set(), pad_id=0, max_batch=batch, max_queue=batch)
    try:
        sampling = Sampling(max_tokens=max_tokens, temperature=w.temperature, seed=0)
        stub = StubTokenizer()
        gate = Sequence([1], Sampling(max_tokens=1, temperature=0.0), TextStream(stub, []), hold)
        batcher.submit(gate)
        if not gate_reached.wait(timeout=600) or failed:
            raise RuntimeError(f"the gate sequence did not finish: {failed or 'timed out'}")
        for row in range(batch):
            seq = Sequence(ids[row].tolist(), sampling, TextStream(stub, []), listener(row))
            batcher.submit(seq)
        gate_open.set()
        if not all_done.wait(timeout=1800):
            raise RuntimeError("the batcher did not finish within 30 min")
    finally:
        gate_open.set()
        batcher.close()
    if failed:
        raise RuntimeError(failed[0])
    if set(tokens) != {max_tokens}:
        raise RuntimeError(f"rows ended early: {sorted(set(tokens))} tokens, not {max_tokens}")
    seconds = max(ended) - max(first)
    return batch * (max_tokens - 1) / seconds, seconds / (max_tokens - 1) * 1000


def run_generate(model: Any, ids: Any, w: Workload) -> float:
    """Decode tokens/s of one `model.generate` call on the batch, timed as the batcher is:
    from the first new token (a streamer sees it) until generate returns."""
    import torch
    from transformers.generation.streamers import BaseStreamer

    class Clock(BaseStreamer):
        """Notes when generate hands over the prompt, then each step's tokens."""

        def __init__(self) -> None:
            self.times: list[float] = []

        def put(self, value: Any) -> None:
            self.times.append(time.perf_counter())

        def end(self) -> None:
            pass

    ids, max_tokens = ids.to(model.device), w.max_tokens
    sampled = w.temperature > 0
    options = {"temperature": w.temperature, "top_k": None, "top_p": None} if sampled else {}
    clock = Clock()
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_tokens,
            do_sample=sampled,
            streamer=clock,
            **options,
        )
        _sync(model)
    ended = time.perf_counter()
    if out.shape[1] != ids.shape[1] + max_tokens:
        raise RuntimeError(f"generate gave {out.shape[1] - ids.shape[1]} tokens, not {max_tokens}")
    first_token = clock.times[1]  # times[0] is the prompt
    return float(ids.shape[0] * (max_tokens - 1) / (ended - first_token))


def _sync(model: Any) -> None:
    import torch

    if model.device.type == "cuda":
        torch.cuda.synchronize()


# -- the run ----------------------------------------------------------------------------------


def measure(size: str, w: Workload) -> list[Row]:
    import torch

    torch.manual_seed(0)
    start = time.perf_counter()
    model = build(size, w.device)
    vocab = model.config.vocab_size
    print(
        f"  built {size} in {time.perf_counter() - start:.1f} s: "
        f"{sum(p.numel() for p in model.parameters()) / 1e6:,.1f}M parameters, "
        f"{weight_bytes(model) / 1e9:.3f} GB read per step, "
        f"{kv_bytes_per_token(model) / 1024:.1f} KiB of cache per token",
        flush=True,
    )
    rows = []
    for batch in w.batches:
        ids = prompts(batch, w, vocab, seed=batch)
        # Untimed, at full length: the first pass through each shape pays for kernel choice
        # and allocation (on the CPU it made generate look 10x slower than it is).
        run_batcher(model, ids, w)
        run_generate(model, ids, w)
        ours = [run_batcher(model, ids, w) for _ in range(w.repeats)]
        theirs = [run_generate(model, ids, w) for _ in range(w.repeats)]
        row = Row(
            size=size,
            batch=batch,
            batcher=statistics.median(rate for rate, _ in ours),
            batcher_step_ms=statistics.median(ms for _, ms in ours),
            generate=statistics.median(theirs),
            roofline=roofline(model, batch, w),
        )
        print(
            f"  batch {batch:>3}: batcher {row.batcher:,.0f}, generate {row.generate:,.0f} "
            f"decode tokens/s",
            flush=True,
        )
        rows.append(row)
    del model
    if w.device == "cuda":
        torch.cuda.empty_cache()
    return rows


def print_table(rows: list[Row], w: Workload) -> None:
    how = f"sampled at temperature {w.temperature:g}" if w.temperature > 0 else "greedy"
    print(
        f"\n-- decode tokens/s: prompts of {w.prompt_len} random ids, {w.max_tokens} new tokens "
        f"per row, {how}; median of {w.repeats}; roofline at {w.bandwidth / 1e12:g} TB/s"
    )
    head = (
        f"{'model':<11} {'batch':>5} {'batcher':>9} {'step ms':>8} {'generate':>9} "
        f"{'b/g':>6} {'roofline':>10} {'batcher%':>9} {'generate%':>10}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r.size:<11} {r.batch:>5} {r.batcher:>9,.0f} {r.batcher_step_ms:>8.2f} "
            f"{r.generate:>9,.0f} {r.batcher / r.generate:>5.2f}x {r.roofline:>10,.0f} "
            f"{100 * r.batcher / r.roofline:>8.1f}% {100 * r.generate / r.roofline:>9.1f}%"
        )


def print_machine(device: str) -> None:
    import torch
    import transformers

    where = torch.cuda.get_device_name() if device == "cuda" else f"{os.cpu_count()} CPUs"
    print(
        f"\n{where}; torch {torch.__version__}, transformers {transformers.__version__}, "
        f"python {sys.version.split()[0]}"
    )
    if device == "cpu":
        print("(CPU: a smoke run of the script; the roofline is the GPU's, not this machine's)")
    print(NOISE_NOTE.replace("lmops figures are medians of trials", "medians of --repeats"))


# -- entry point ------------------------------------------------------------------------------


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = new_parser(__doc__)
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument(
        "--sizes", default="qwen2-0.5b,qwen2-1.5b", help=f"comma list of {', '.join(SIZES)}"
    )
    parser.add_argument("--batches", type=_ints, default=[1, 8, 32, 64], help="e.g. 1,8,32,64")
    parser.add_argument("--prompt-len", type=int, default=128, help="prompt ids per row")
    parser.add_argument("--max-tokens", type=int, default=128, help="new tokens per row")
    parser.add_argument(
        "--temperature", type=float, default=0.0, help="0 (default): greedy; above: sampled"
    )
    parser.add_argument("--repeats", type=int, default=1, help="trials per figure (median)")
    parser.add_argument(
        "--bandwidth", type=float, default=H200_TBS, help="memory bandwidth in TB/s (H200: 4.8)"
    )
    args = parser.parse_args(argv)
    unknown = [s for s in args.sizes.split(",") if s not in SIZES]
    if unknown:
        parser.error(f"unknown size {unknown[0]!r}: use {', '.join(SIZES)}")
    if args.max_tokens < 2:
        parser.error("--max-tokens must be at least 2 (decode starts after the first token)")
    return args


def main(argv: list[str] | None = None) -> None:
    import torch

    args = parse_args(argv)
    if args.device == "cpu":
        # The smoke run's ops are tiny: with two threads, every OpenMP barrier waits whenever
        # another process on a shared machine holds a core, and figures swing 10-100x.
        torch.set_num_threads(1)
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit(
            "--device cuda, but torch sees no CUDA device (smoke run: --device cpu --sizes tiny)"
        )
    w = Workload(
        device=args.device,
        batches=args.batches,
        prompt_len=args.prompt_len,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        repeats=args.repeats,
        bandwidth=args.bandwidth * 1e12,
    )
    rows: list[Row] = []
    for size in args.sizes.split(","):
        print(f"measuring {size} on {args.device} ...", flush=True)
        rows += measure(size, w)
    print_table(rows, w)
    print_machine(args.device)


if __name__ == "__main__":
    main()
