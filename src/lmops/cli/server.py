"""`lmops server`: run the platform server."""

from __future__ import annotations

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
def server(host: str, port: int, workers: int, log_level: str) -> None:
    """Serve the REST API, UI, /health and /metrics."""
    import uvicorn

    from lmops.core.settings import Settings
    from lmops.server import create_app

    settings = Settings()
    click.echo(f"lmops server on http://{host}:{port} (store {settings.uri})")
    if workers > 1:
        uvicorn.run(
            "lmops.server.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
        )
    else:
        uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)
