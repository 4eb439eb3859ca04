"""Gateway overhead: latency the gateway in `lmops server` adds in front of an upstream that
answers at once.

An OpenAI-compatible stub (a bare ASGI app under uvicorn, its own process) answers every
chat completion with the same small body. It is registered as an external model version;
an endpoint routes to it. One client, one request at a time over a kept-alive connection,
times chat completions sent straight to the stub and through the gateway (auth off, so the
figure is routing, limits, tracing and forwarding; `--auth` adds a key lookup). The added
latency is the difference of the two at each percentile. The two alternate in `--rounds`
rounds, so that the machine's load drifting over the run weighs on both alike; the verdict
reads the median over rounds of each round's p50 added.

    .venv/bin/python benchmarks/gateway.py [--requests 3000] [--rounds 5] [--auth]

Target (issue 6): p50 added under 1 ms. LiteLLM's published median proxy overhead is
about 12 ms (their figure, not measured here).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from harness import NOISE_NOTE, free_port, lmops_command

STUB = r"""
import json, sys, uvicorn

BODY = json.dumps({
    "id": "chatcmpl-stub", "object": "chat.completion", "created": 0, "model": "echo",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                 "finish_reason": "stop", "logprobs": None}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}).encode()

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": BODY})

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""

BODY = {"model": "echo", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}


def wait_for(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within 60 s")


@contextlib.contextmanager
def process(argv: list[str], url: str, env: dict[str, str] | None = None) -> Iterator[None]:
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(url, proc)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def timings(client: httpx.Client, url: str, n: int) -> list[float]:
    """Seconds per request, one at a time on the client's kept-alive connection."""
    found = []
    for _ in range(n):
        start = time.perf_counter()
        answer = client.post(url, json=BODY)
        found.append(time.perf_counter() - start)
        answer.raise_for_status()
    return found


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1]


def prepare(home: Path, stub_url: str, auth: bool) -> dict[str, str]:
    """Register the stub as models:/echo/1 and an endpoint `echo` on it; the headers to use."""
    os.environ.update(LMOPS_HOME=str(home), LMOPS_URI="")
    import lmops
    from lmops.core.settings import current
    from lmops.serving.entities import EndpointSpec, Route
    from lmops.serving.store import EndpointStore
    from lmops.store import open_engine

    lmops.register_endpoint("echo", f"{stub_url}/v1", "stub-model")
    engine = open_engine(current().uri)
    EndpointStore(engine).create("echo", EndpointSpec(routes=[Route(model="models:/echo/1")]))
    if not auth:
        return {}
    from lmops.governance.access import AccessStore

    access = AccessStore(engine)
    access.create_user("bench")
    access.set_role("bench", "default", "editor")
    return {"Authorization": f"Bearer {access.create_key('bench', 'default').key}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5, help="Alternations of the two.")
    parser.add_argument("--auth", action="store_true", help="Call the gateway with an API key.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="lmops-bench-gateway-") as tmp:
        home = Path(tmp) / "home"
        stub_port, gateway_port = free_port(), free_port()
        stub_url = f"http://127.0.0.1:{stub_port}"
        gateway_url = f"http://127.0.0.1:{gateway_port}"
        headers = prepare(home, stub_url, args.auth)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LMOPS_")}
        env.update(LMOPS_HOME=str(home), LMOPS_URI="")
        server = [
            *lmops_command(),
            "server",
            "--port",
            str(gateway_port),
            "--log-level",
            "warning",
            "--auth" if args.auth else "--no-auth",
        ]
        with (
            process([sys.executable, "-c", STUB, str(stub_port)], stub_url),
            process(server, f"{gateway_url}/health", env),
        ):
            straight = httpx.Client(timeout=30)
            through = httpx.Client(headers=headers, timeout=30)
            stub_chat = f"{stub_url}/v1/chat/completions"
            gateway_chat = f"{gateway_url}/v1/chat/completions"
            timings(straight, stub_chat, 200)  # warm-up
            timings(through, gateway_chat, 200)
            direct: list[float] = []
            gateway: list[float] = []
            rounds: list[float] = []
            each = max(1, args.requests // args.rounds)
            for _ in range(args.rounds):
                d = timings(straight, stub_chat, each)
                g = timings(through, gateway_chat, each)
                rounds.append((statistics.median(g) - statistics.median(d)) * 1000)
                direct += d
                gateway += g
            straight.close()
            through.close()

    print(f"gateway overhead, {len(direct)} sequential chat completions each way")
    print(f"{'':>10} {'direct ms':>10} {'gateway ms':>11} {'added ms':>9}")
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        d, g = percentile(direct, q) * 1000, percentile(gateway, q) * 1000
        print(f"{name:>10} {d:>10.3f} {g:>11.3f} {g - d:>9.3f}")
    added = statistics.median(rounds)
    verdict = "met" if added < 1.0 else "NOT met"
    spread = ", ".join(f"{r:.2f}" for r in rounds)
    print(f"p50 added per round (ms): {spread}")
    print(
        f"target p50 added < 1 ms: {verdict} ({added:.3f} ms, the median over rounds; "
        f"auth {'on' if args.auth else 'off'})"
    )
    print("LiteLLM's published median proxy overhead: about 12 ms (not measured here)")
    print(NOISE_NOTE)


if __name__ == "__main__":
    main()
