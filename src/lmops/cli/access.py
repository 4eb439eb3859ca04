"""`lmops users|projects|keys`: who may use the server, in which project, with which role.

These commands work on the store directly (LMOPS_URI names the database), as whoever runs
them: that is how the first server admin and key come to exist before auth is turned on.
"""

from __future__ import annotations

import sys
from datetime import timedelta

import click

from lmops.cli.output import emit, json_option
from lmops.core.errors import InvalidInput
from lmops.core.ids import utcnow
from lmops.core.settings import Settings
from lmops.governance.access import MAX_KEY_DAYS, AccessStore
from lmops.governance.roles import Role

ROLES = click.Choice([r.value for r in Role])


def open_store() -> AccessStore:
    from lmops.store import open_engine

    settings = Settings()
    if settings.is_remote:
        raise InvalidInput("this command works on the store: point LMOPS_URI at it, not a server")
    return AccessStore(open_engine(settings.uri))


# -- users ---------------------------------------------------------------------------------------


@click.group()
def users() -> None:
    """Users: UI logins (with a password) and owners of API keys."""


@users.command("create")
@click.argument("name")
@click.option("--superuser", is_flag=True, help="A server admin: manages users and projects.")
@click.option("--password", "ask", is_flag=True, help="Ask for a password (for UI login).")
@click.option("--password-stdin", "stdin", is_flag=True, help="Read the password from stdin.")
@click.option("--project", help="Add the user to this project ...")
@click.option("--role", type=ROLES, default="viewer", show_default=True, help="... with this role.")
def create_user(
    name: str, superuser: bool, ask: bool, stdin: bool, project: str | None, role: str
) -> None:
    """Make user NAME; without a password they use API keys only."""
    password = None
    if stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif ask:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    store = open_store()
    user = store.create_user(name, password, superuser=superuser)
    kind = "server admin" if user.superuser else "user"
    click.echo(f"{kind} {user.name} made" + ("" if user.has_password else " (keys only)"))
    if project:
        store.set_role(name, project, role)
        click.echo(f"{name} is {role} in project {project}")


@users.command("list")
@json_option
def list_users(as_json: bool) -> None:
    """Every user."""
    emit(
        open_store().list_users(),
        [
            ("name", lambda u: u.name),
            ("admin", lambda u: "server" if u.superuser else ""),
            ("login", lambda u: "password" if u.has_password else "keys only"),
            ("active", lambda u: "yes" if u.active else "no"),
            ("created", lambda u: u.created_at),
        ],
        as_json,
    )


@users.command("deactivate")
@click.argument("name")
def deactivate(name: str) -> None:
    """Stop NAME's keys and sessions working (their history stays)."""
    open_store().update_user(name, active=False)
    click.echo(f"{name} deactivated")


@users.command("activate")
@click.argument("name")
def activate(name: str) -> None:
    open_store().update_user(name, active=True)
    click.echo(f"{name} active")


@users.command("password")
@click.argument("name")
@click.option("--password-stdin", "stdin", is_flag=True, help="Read the password from stdin.")
def password(name: str, stdin: bool) -> None:
    """Set NAME's password (ends their UI sessions)."""
    if stdin:
        new = sys.stdin.readline().rstrip("\n")
    else:
        new = click.prompt("new password", hide_input=True, confirmation_prompt=True)
    open_store().update_user(name, password=new)
    click.echo(f"password of {name} set")


# -- projects ------------------------------------------------------------------------------------


@click.group()
def projects() -> None:
    """Projects: every experiment, trace, dataset and model belongs to one."""


@projects.command("create")
@click.argument("name")
@click.option("--description", "-d", default="")
def create_project(name: str, description: str) -> None:
    open_store().create_project(name, description)
    click.echo(f"project {name} made")


@projects.command("list")
@json_option
def list_projects(as_json: bool) -> None:
    emit(
        open_store().list_projects(),
        [("name", lambda p: p.name), ("description", lambda p: p.description)],
        as_json,
    )


@projects.command("add-member")
@click.argument("project")
@click.argument("user")
@click.argument("role", type=ROLES)
def add_member(project: str, user: str, role: str) -> None:
    """Give USER ROLE in PROJECT (or change the role they hold)."""
    open_store().set_role(user, project, role)
    click.echo(f"{user} is {role} in project {project}")


@projects.command("remove-member")
@click.argument("project")
@click.argument("user")
def remove_member(project: str, user: str) -> None:
    """Take USER out of PROJECT; their keys for it stop working."""
    open_store().remove_member(user, project)
    click.echo(f"{user} removed from project {project}")


@projects.command("members")
@click.argument("project")
@json_option
def members(project: str, as_json: bool) -> None:
    emit(
        open_store().members(project),
        [("user", lambda m: m.user), ("role", lambda m: m.role), ("since", lambda m: m.created_at)],
        as_json,
    )


# -- keys ----------------------------------------------------------------------------------------


@click.group()
def keys() -> None:
    """API keys: stored hashed, shown once, revocable, optionally expiring."""


@keys.command("create")
@click.option("--user", required=True, help="Whose key: it carries their role.")
@click.option("--project", help="Where it works (default: LMOPS_PROJECT).")
@click.option("--name", default="", help="What it is for, to tell keys apart.")
@click.option("--expires-in", "days", type=click.IntRange(1, MAX_KEY_DAYS), help="Days.")
@json_option
def create_key(user: str, project: str | None, name: str, days: int | None, as_json: bool) -> None:
    """Make a key and print it: this is the only time it is shown."""
    expires = None if days is None else utcnow() + timedelta(days=days)
    created = open_store().create_key(
        user, project or Settings().project, name=name, expires_at=expires
    )
    if as_json:
        click.echo(created.model_dump_json(indent=2))
        return
    until = f", expires {created.expires_at:%Y-%m-%d}" if created.expires_at else ""
    click.echo(f"key {created.id} for {user} in project {created.project}{until}:")
    click.echo(created.key)
    click.echo("Keep it now: lmops stores only its hash. Use it as LMOPS_API_KEY.")


@keys.command("list")
@click.option("--user")
@click.option("--project")
@json_option
def list_keys(user: str | None, project: str | None, as_json: bool) -> None:
    """Keys (never the keys themselves: their first characters)."""
    emit(
        open_store().list_keys(user=user, project=project),
        [
            ("id", lambda k: k.id),
            ("key", lambda k: f"{k.prefix}..."),
            ("user", lambda k: k.user),
            ("project", lambda k: k.project),
            ("name", lambda k: k.name),
            ("expires", lambda k: k.expires_at or "never"),
            ("state", lambda k: "revoked" if k.revoked_at else "active" if k.active else "expired"),
        ],
        as_json,
    )


@keys.command("revoke")
@click.argument("key_id")
def revoke(key_id: str) -> None:
    """Stop KEY_ID working, at once and for good."""
    key = open_store().revoke_key(key_id)
    click.echo(f"key {key.id} ({key.prefix}...) of {key.user} revoked")
