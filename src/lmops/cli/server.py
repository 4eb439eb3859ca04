"""`lmops server`: run the platform server."""

from __future__ import annotations

import ipaddress
import os

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
@click.option(
    "--auth/--no-auth",
    default=None,
    help="Require API keys and UI logins. Default: LMOPS_AUTH, and on beyond loopback.",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
def server(host: str, port: int, workers: int, auth: bool | None, log_level: str) -> None:
    """Serve the REST API, UI, /health and /metrics."""
    import uvicorn

    from lmops.core.settings import Settings
    from lmops.governance.access import AccessStore
    from lmops.server import create_app
    from lmops.store import open_engine

    settings = Settings()
    mode = auth_mode(settings.auth, auth, host)
    settings = settings.model_copy(update={"auth": mode})
    os.environ["LMOPS_AUTH"] = mode  # what the factory's Settings() reads in each worker
    click.echo(f"lmops server on http://{host}:{port} (store {settings.uri}, auth {mode})")
    if mode == "off" and not is_loopback(host):
        click.echo(
            f"warning: auth is off on {host}: anyone who can reach this port may read and "
            "change everything. Run with --auth.",
            err=True,
        )
    if mode == "on" and not AccessStore(open_engine(settings.uri)).list_users():
        click.echo(
            "no users yet: create an admin with `lmops users create NAME --superuser`, "
            "then a key with `lmops keys create --user NAME`",
            err=True,
        )
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


def auth_mode(setting: str, flag: bool | None, host: str) -> str:
    """ "on" or "off": the flag if given, else LMOPS_AUTH, where "auto" means on beyond
    loopback (anyone on the network could reach the server otherwise)."""
    mode = setting if flag is None else ("on" if flag else "off")
    if mode == "auto":
        return "off" if is_loopback(host) else "on"
    return mode


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the server to this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
