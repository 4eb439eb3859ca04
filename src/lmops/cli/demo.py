"""`lmops demo`: populate the demo experiment and start the server on it."""

from __future__ import annotations

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Populate only; do not start the server.")
@click.option(
    "--auth/--no-auth", default=None, help="Serve with logins (default: as lmops server)."
)
def demo(host: str, port: int, no_serve: bool, auth: bool | None) -> None:
    """Train a few real runs into a demo experiment, then serve the UI."""
    import uvicorn

    from lmops import demo as demo_job
    from lmops.cli.server import auth_mode
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
    moves = demo_models.populate_transitions(registered)
    for t in moves:
        who = f"approved by {t.decided_by}" if t.decided_by else "pending, its checks failing"
        click.echo(f"  transition of {t.uri} to @{t.alias}: {who}")
    from lmops import demo_access

    if demo_access.populate_users(s):
        people = ", ".join(f"{n} ({r})" for n, r in demo_access.PEOPLE.items())
        click.echo(f"  users: {demo_access.ADMIN} (server admin), {people}")
    pending = [t for t in moves if t.decided_by is None]
    if pending:
        for attempt in demo_access.try_to_approve(s, pending[0]):
            click.echo(
                f"  {attempt.who}'s key ({attempt.role}) approving {pending[0].uri}: "
                f"{attempt.status} {attempt.message}"
            )
    from lmops import demo_serving
    from lmops.tuning.register import DEMO_NAME

    if any(v.model_name == DEMO_NAME for v in registered):
        demo_serving.populate_endpoint(s)
        chat = demo_serving.chat_through_gateway(s)
        click.echo(
            f"  endpoint {demo_serving.ENDPOINT} -> models:/{DEMO_NAME}@production; "
            f"alice asked it over /v1 with the openai client: {chat.answer!r}"
        )
        click.echo(
            f"    first token after {chat.first_token_ms:.0f} ms; trace {chat.trace_id}: "
            f"{chat.input_tokens} tokens in, {chat.output_tokens} out, "
            f"{chat.latency_ms or 0:.0f} ms, answered by {chat.model_version}"
        )
        if chat.scores:
            scored = ", ".join(f"{k} {v:g}" for k, v in chat.scores.items())
            click.echo(f"    online rule {demo_serving.RULE} scored that trace: {scored}")
        from lmops import demo_eval

        evaluated = demo_eval.populate_evaluations(s)
        if evaluated is not None:
            before, after, comparison = evaluated
            for result in (before, after):
                e = result.evaluation
                scores = ", ".join(f"{k} {v:.3f}" for k, v in e.aggregates.items() if v is not None)
                click.echo(f"  evaluated {e.prompt_version} with SmolLM2 on {e.data}: {scores}")
            for m in comparison.metrics:
                if m.delta is None or m.low is None or m.high is None:
                    continue
                click.echo(
                    f"    {m.name}: {m.delta:+.3f} (95% interval {m.low:+.3f} to {m.high:+.3f}), "
                    f"{m.wins} rows better, {m.losses} worse: {m.verdict}"
                )
    from_traces = demo_data.populate_trace_dataset()
    if from_traces is not None:
        click.echo(f"  rated demo traces as a dataset: {from_traces.uri}")
    if no_serve:
        return
    click.echo(f"\n  Open http://{host}:{port}/experiments/{experiment_id}")
    click.echo(f"  Traces: http://{host}:{port}/traces")
    click.echo(f"  Datasets: http://{host}:{port}/datasets/{demo_data.DATASET}")
    click.echo(f"  Models: http://{host}:{port}/models")
    click.echo(f"  Endpoints: http://{host}:{port}/endpoints (chat: /playground)")
    click.echo(f"  OpenAI API: base_url=http://{host}:{port}/v1, model='assistant'")
    click.echo(f"  Audit log: http://{host}:{port}/audit\n")
    mode = auth_mode(s.auth, auth, host)
    if mode == "on":
        click.echo(f"  Auth is on: log in as {demo_access.ADMIN} / {demo_access.PASSWORD}\n")
    app = create_app(s.model_copy(update={"auth": mode}))
    uvicorn.run(app, host=host, port=port, log_level="warning")
