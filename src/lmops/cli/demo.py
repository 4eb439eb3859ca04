"""`lmops demo`: populate the demo experiment and start the server on it."""

from __future__ import annotations

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Populate only; do not start the server.")
def demo(host: str, port: int, no_serve: bool) -> None:
    """Train a few real runs into a demo experiment, then serve the UI."""
    import uvicorn

    from lmops import demo as demo_job
    from lmops.fluent.backends import settings
    from lmops.server import create_app

    s = settings()
    click.echo(f"lmops demo: store {s.uri}")
    experiment_id = demo_job.populate()
    traced = demo_job.populate_traces()
    if traced:
        click.echo(f"  traced {traced} questions through the demo QA app, with feedback")
    from lmops import demo_data

    walked = demo_data.populate_dataset()
    if walked is not None:
        click.echo(
            f"  dataset {demo_data.DATASET}: imported, profiled, deduplicated, scrubbed, split "
            f"and converted to chat: {walked.uri}"
        )
    from lmops import demo_models

    registered, skipped = demo_models.populate_models()
    for version in registered:
        click.echo(f"  registered {version.uri} ({version.format.parameter_count:,} parameters)")
    if skipped:
        click.echo(f"  SmolLM2 not registered: {skipped}")
    from_traces = demo_data.populate_trace_dataset()
    if from_traces is not None:
        click.echo(f"  rated demo traces as a dataset: {from_traces.uri}")
    if no_serve:
        return
    click.echo(f"\n  Open http://{host}:{port}/experiments/{experiment_id}")
    click.echo(f"  Traces: http://{host}:{port}/traces")
    click.echo(f"  Datasets: http://{host}:{port}/datasets/{demo_data.DATASET}")
    click.echo(f"  Models: http://{host}:{port}/models\n")
    uvicorn.run(create_app(s), host=host, port=port, log_level="warning")
