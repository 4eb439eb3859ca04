"""`lmops db upgrade`: apply the store's migrations."""

from __future__ import annotations

import click

from lmops.core.errors import InvalidInput
from lmops.core.settings import Settings


@click.group()
def db() -> None:
    """Manage the metadata store."""


@db.command()
@click.option("--uri", help="Store URI (default: LMOPS_URI or sqlite in LMOPS_HOME).")
def upgrade(uri: str | None) -> None:
    """Apply pending migrations to the store."""
    from lmops.store import create_db_engine
    from lmops.store import upgrade as run_upgrade

    settings = Settings(uri=uri) if uri else Settings()
    if settings.is_remote:
        raise InvalidInput("db upgrade runs against a database URI, not a server", field="uri")
    engine = create_db_engine(settings.uri)
    revision = run_upgrade(engine)
    click.echo(f"{engine.url.render_as_string(hide_password=True)} is at revision {revision}")
