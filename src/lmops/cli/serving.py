"""`lmops serve`: an OpenAI-compatible server for a registered model version."""

from __future__ import annotations

import click


@click.command()
@click.argument("uri")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--device", default="cpu", show_default=True, type=click.Choice(["cpu", "cuda"]))
@click.option(
    "--backend",
    default="transformers",
    show_default=True,
    type=click.Choice(["transformers"]),
    help="How the weights run.",
)
@click.option(
    "--adapter",
    "adapters",
    multiple=True,
    metavar="URI",
    help="A LoRA adapter version over the same base, served as its own model id (repeatable).",
)
@click.option(
    "--fallback",
    "fallbacks",
    multiple=True,
    metavar="URI",
    help="For an external version: another external version to try, in order, when it fails.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    help="CPU threads for torch (default: torch's own choice, one per core).",
)
@click.option("--max-batch", default=32, show_default=True, type=click.IntRange(1, 1024))
@click.option(
    "--max-queue",
    default=256,
    show_default=True,
    type=click.IntRange(0, 100_000),
    help="Requests that may wait for a batch slot; past that the server answers 503.",
)
@click.option(
    "--api-key",
    envvar="LMOPS_SERVE_API_KEY",
    default=None,
    help="Require `Authorization: Bearer KEY` on /v1 (env LMOPS_SERVE_API_KEY).",
)
@click.option("--trace/--no-trace", default=True, show_default=True, help="Record each request.")
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
def serve(
    uri: str,
    host: str,
    port: int,
    device: str,
    backend: str,
    adapters: tuple[str, ...],
    fallbacks: tuple[str, ...],
    threads: int | None,
    max_batch: int,
    max_queue: int,
    api_key: str | None,
    trace: bool,
    log_level: str,
) -> None:
    """Serve URI (models:/name@alias) with the OpenAI API on /v1, plus /health and /metrics.

    Each request is recorded as a trace in the store LMOPS_URI names (tokens, latency, time
    to first token, the version that answered).
    """
    import uvicorn

    from lmops.core.settings import current
    from lmops.fluent.tracing import export_span, flush_traces
    from lmops.registry.sdk import open_registry
    from lmops.server.model_app import create_model_app
    from lmops.serving.backends import Backend
    from lmops.serving.loading import load_local
    from lmops.serving.metrics import ServingMetrics
    from lmops.serving.service import OpenAIService

    settings = current()
    metrics = ServingMetrics()
    registry = open_registry(settings)
    version = registry.get_version(uri)
    answering: Backend
    if version.format.kind == "external":
        from lmops.serving.upstream import UpstreamBackend

        click.echo(f"forwarding {uri} to {version.source.endpoint_url}", err=True)
        answering = UpstreamBackend.from_versions(
            registry, version, [registry.get_version(f) for f in fallbacks]
        )
    else:
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        click.echo(f"loading {uri} on {device}...", err=True)
        answering = load_local(
            registry,
            version,
            settings.home / "models",
            adapters=[registry.get_version(a) for a in adapters],
            device=device,
            max_batch=max_batch,
            max_queue=max_queue,
            metrics=metrics,
        )
    service = OpenAIService(
        [answering], metrics=metrics, record=(lambda row, _: export_span(row)) if trace else None
    )
    ids = ", ".join(m.id for m in service.models())
    click.echo(f"serving {ids} ({version.uri}) on http://{host}:{port}/v1", err=True)
    try:
        uvicorn.run(
            create_model_app(service, api_key=api_key), host=host, port=port, log_level=log_level
        )
    finally:
        flush_traces()
