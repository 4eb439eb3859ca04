"""The root `lmops` group. Errors print as one line; tracebacks only with LMOPS_DEBUG=1."""

from __future__ import annotations

import os
from typing import Any

import click
from pydantic import ValidationError

from lmops._version import __version__
from lmops.cli import (
    access,
    audit,
    data,
    data_prep,  # noqa: F401  (adds its commands to `lmops data`)
    db,
    demo,
    endpoints,
    evaluation,
    lineage,
    models,
    prompts,
    server,
    serving,
    tracing,
    tracking,
    transitions,  # noqa: F401  (adds policy, result, transition to `lmops models`)
    webhooks,
)
from lmops.core.errors import LmopsError


class LmopsGroup(click.Group):
    """Turns lmops errors into `Error: <message>` and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LmopsError as exc:
            if os.environ.get("LMOPS_DEBUG"):
                raise
            raise click.ClickException(exc.message) from None
        except ValidationError as exc:
            if os.environ.get("LMOPS_DEBUG"):
                raise
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise click.ClickException(f"{where}: {first['msg']}") from None


@click.group(cls=LmopsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lmops")
def cli() -> None:
    """lmops: self-hosted LLMOps, from data to production and back."""


cli.add_command(server.server)
cli.add_command(serving.serve)
cli.add_command(demo.demo)
cli.add_command(db.db)
cli.add_command(tracking.experiments)
cli.add_command(tracking.runs)
cli.add_command(data.data)
cli.add_command(models.models)
cli.add_command(prompts.prompts)
cli.add_command(audit.audit)
cli.add_command(lineage.lineage)
cli.add_command(tracing.traces)
cli.add_command(tracing.prices)
cli.add_command(webhooks.webhooks)
cli.add_command(access.users)
cli.add_command(access.projects)
cli.add_command(access.keys)
cli.add_command(endpoints.endpoints)
cli.add_command(evaluation.evaluation)
access.keys.add_command(endpoints.key_limits)


def main() -> None:
    cli(prog_name="lmops")


if __name__ == "__main__":  # pragma: no cover
    main()
