"""`lmops users|projects|keys` against a real store (SQLite and PostgreSQL), and how
`lmops server` decides whether auth is on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lmops.cli.main import cli
from lmops.cli.server import auth_mode, is_loopback
from lmops.governance.access import AccessStore
from lmops.governance.roles import Role
from lmops.store import open_engine


@pytest.fixture
def access(store_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AccessStore:
    monkeypatch.setenv("LMOPS_HOME", str(tmp_path))
    monkeypatch.setenv("LMOPS_URI", store_uri)
    return AccessStore(open_engine(store_uri))


def run_cli(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin)
    return result.exit_code, result.output


def test_first_admin_project_member_and_key(access: AccessStore) -> None:
    code, out = run_cli(
        "users", "create", "root", "--superuser", "--password-stdin", stdin="s3cret-pass\n"
    )
    assert (code, out) == (0, "server admin root made\n")
    assert access.login("root", "s3cret-pass")[1].superuser

    assert run_cli("projects", "create", "research", "-d", "the lab")[0] == 0
    code, out = run_cli("users", "create", "ana", "--project", "research", "--role", "editor")
    assert code == 0, out
    assert out == "user ana made (keys only)\nana is editor in project research\n"

    code, out = run_cli(
        "keys", "create", "--user", "ana", "--project", "research", "--expires-in", "7"
    )
    assert code == 0, out
    key = out.splitlines()[1]
    assert key.startswith("lmk_") and "Keep it now" in out
    identity = access.authenticate_key(key)
    assert (identity.user, identity.project, identity.role) == ("ana", "research", Role.EDITOR)

    code, out = run_cli("keys", "list", "--json")
    listed = json.loads(out)
    assert [k["user"] for k in listed] == ["ana"] and key not in out

    assert run_cli("projects", "add-member", "research", "ana", "approver")[0] == 0
    assert access.authenticate_key(key).role == Role.APPROVER
    code, out = run_cli("keys", "revoke", listed[0]["id"])
    assert code == 0 and "revoked" in out
    code, out = run_cli("keys", "list")
    assert "revoked" in out


def test_mistakes_are_one_line(access: AccessStore) -> None:
    code, out = run_cli("users", "create", "bob", "--password-stdin", stdin="short\n")
    assert code == 1 and out == "Error: a password needs at least 8 characters\n"
    code, out = run_cli("projects", "add-member", "nowhere", "bob", "viewer")
    assert code == 1 and "no user 'bob'" in out
    code, out = run_cli("projects", "add-member", "default", "bob", "owner")
    assert code == 2 and "'owner' is not one of" in out
    run_cli("users", "create", "bob")
    code, out = run_cli("keys", "create", "--user", "bob")
    assert code == 1 and out == "Error: user 'bob' is not a member of project 'default'\n"


@pytest.mark.parametrize(
    ("setting", "flag", "host", "mode"),
    [
        ("auto", None, "127.0.0.1", "off"),
        ("auto", None, "localhost", "off"),
        ("auto", None, "::1", "off"),
        ("auto", None, "0.0.0.0", "on"),
        ("auto", None, "10.1.2.3", "on"),
        ("auto", None, "myhost.example", "on"),
        ("on", None, "127.0.0.1", "on"),
        ("off", None, "0.0.0.0", "off"),
        ("off", True, "127.0.0.1", "on"),
        ("on", False, "0.0.0.0", "off"),
    ],
)
def test_auth_is_on_beyond_loopback_unless_told(
    setting: str, flag: bool | None, host: str, mode: str
) -> None:
    assert auth_mode(setting, flag, host) == mode


def test_loopback_hosts() -> None:
    assert is_loopback("127.0.0.2") and is_loopback("[::1]")
    assert not is_loopback("0.0.0.0") and not is_loopback("::")
