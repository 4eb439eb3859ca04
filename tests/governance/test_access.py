"""Users, projects, roles, API keys and sessions on SQLite and PostgreSQL: keys kept only
hashed and shown once, revocation and expiry immediate, membership changes disarming keys,
every change audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update

from lmops.core.errors import Conflict, InvalidInput, NotFound, Unauthorized
from lmops.core.ids import utcnow
from lmops.governance.access import (
    KEY_PREFIX,
    SERVER,
    AccessStore,
    hash_password,
    verify_password,
)
from lmops.governance.roles import Role
from lmops.governance.tables import api_keys, sessions, users
from lmops.store.audit import AuditQuery, search


@pytest.fixture
def access(engine: Engine) -> AccessStore:
    store = AccessStore(engine)
    store.create_project("team-a")
    store.create_user("alice", "alice-password")
    store.set_role("alice", "team-a", "editor")
    return store


def test_roles_are_ordered() -> None:
    assert Role.ADMIN.allows(Role.APPROVER)
    assert Role.APPROVER.allows(Role.EDITOR)
    assert Role.EDITOR.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.EDITOR)
    assert not Role.EDITOR.allows(Role.APPROVER)


def test_passwords_are_scrypt_hashes_with_their_own_salt() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first.startswith("scrypt$") and first != second
    assert verify_password("correct horse", first) and verify_password("correct horse", second)
    assert not verify_password("wrong horse!", first)
    assert not verify_password("correct horse", "not$a$hash")
    with pytest.raises(InvalidInput, match="at least 8"):
        hash_password("short")


def test_a_key_is_shown_once_and_stored_only_as_its_hash(
    access: AccessStore, engine: Engine
) -> None:
    created = access.create_key("alice", "team-a", name="ci")
    assert created.key.startswith(KEY_PREFIX) and len(created.key) > 40
    assert created.prefix == created.key[:12]
    with engine.connect() as conn:
        stored = conn.execute(select(api_keys)).mappings().one()
    assert created.key not in {str(v) for v in stored.values()}
    listed = access.list_keys(user="alice")
    assert [k.id for k in listed] == [created.id]
    assert "key" not in listed[0].model_dump()

    identity = access.authenticate_key(created.key)
    assert (identity.user, identity.project, identity.role) == ("alice", "team-a", Role.EDITOR)
    assert access.get_key(created.id).last_used_at is not None
    with pytest.raises(Unauthorized, match="unknown API key"):
        access.authenticate_key(created.key + "x")


def test_revoked_and_expired_keys_stop_at_once(access: AccessStore, engine: Engine) -> None:
    revoked = access.create_key("alice", "team-a")
    access.revoke_key(revoked.id)
    with pytest.raises(Unauthorized, match="revoked"):
        access.authenticate_key(revoked.key)
    assert access.revoke_key(revoked.id).revoked_at is not None  # twice is a no-op

    expiring = access.create_key("alice", "team-a", expires_at=utcnow() + timedelta(days=1))
    assert access.authenticate_key(expiring.key).user == "alice"
    with engine.begin() as conn:
        past = utcnow() - timedelta(seconds=1)
        conn.execute(update(api_keys).where(api_keys.c.id == expiring.id).values(expires_at=past))
    with pytest.raises(Unauthorized, match="expired"):
        access.authenticate_key(expiring.key)
    assert not access.get_key(expiring.id).active
    with pytest.raises(InvalidInput, match="future"):
        access.create_key("alice", "team-a", expires_at=utcnow() - timedelta(days=1))


def test_known_keys_are_answered_without_the_store_until_anything_changes(
    access: AccessStore, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = access.create_key("alice", "team-a")
    assert access.known_key(key.key) is None  # never authenticated here
    assert access.authenticate_key(key.key).role == Role.EDITOR
    known = access.known_key(key.key)
    assert known is not None and (known.user, known.key_id) == ("alice", key.id)
    access.set_role("alice", "team-a", Role.APPROVER)  # any change here forgets every key
    assert access.known_key(key.key) is None
    assert access.authenticate_key(key.key).role == Role.APPROVER

    AccessStore(engine).revoke_key(key.id)  # another process: seen when the entry runs out
    assert access.known_key(key.key) is not None
    monkeypatch.setattr("lmops.governance.access.KEY_CACHE_TTL", timedelta(0))
    other = access.create_key("alice", "team-a")
    access.authenticate_key(other.key)
    assert access.known_key(other.key) is None  # its entry ran out at once
    access.revoke_key(other.id)
    with pytest.raises(Unauthorized, match="was revoked"):
        access.authenticate_key(key.key)


def test_a_key_carries_the_role_its_user_holds_now(access: AccessStore) -> None:
    key = access.create_key("alice", "team-a").key
    access.set_role("alice", "team-a", Role.APPROVER)
    assert access.authenticate_key(key).role == Role.APPROVER


def test_leaving_a_project_or_the_server_revokes_keys_for_good(access: AccessStore) -> None:
    key = access.create_key("alice", "team-a").key
    access.remove_member("alice", "team-a")
    with pytest.raises(Unauthorized, match="was revoked"):
        access.authenticate_key(key)
    access.set_role("alice", "team-a", "viewer")  # back in: the old key stays dead
    with pytest.raises(Unauthorized, match="was revoked"):
        access.authenticate_key(key)

    again = access.create_key("alice", "team-a").key
    access.update_user("alice", active=False)
    with pytest.raises(Unauthorized, match="was revoked"):
        access.authenticate_key(again)
    with pytest.raises(InvalidInput, match="deactivated"):
        access.create_key("alice", "team-a")
    access.update_user("alice", active=True)
    with pytest.raises(Unauthorized, match="was revoked"):
        access.authenticate_key(again)
    assert access.authenticate_key(access.create_key("alice", "team-a").key).user == "alice"


def test_keys_need_a_membership_and_roles_a_known_name(access: AccessStore) -> None:
    access.create_user("bob")
    with pytest.raises(Unauthorized, match="not a member"):
        access.create_key("bob", "team-a")
    with pytest.raises(InvalidInput, match="unknown role 'owner'"):
        access.set_role("bob", "team-a", "owner")
    with pytest.raises(NotFound, match="no project 'nowhere'"):
        access.set_role("bob", "nowhere", "viewer")
    with pytest.raises(NotFound, match="no user 'carol'"):
        access.set_role("carol", "team-a", "viewer")
    with pytest.raises(Conflict):
        access.create_user("bob")
    with pytest.raises(Conflict):
        access.create_project("team-a")
    with pytest.raises(InvalidInput):
        access.create_project("no spaces allowed")


def test_server_admins_are_admins_of_every_project(access: AccessStore) -> None:
    access.create_user("root", "root-password", superuser=True)
    key = access.create_key("root", "team-a").key
    identity = access.authenticate_key(key)
    assert identity.superuser and identity.role == Role.ADMIN
    projects = [(m.project, m.role) for m in access.memberships_of("root")]
    assert projects == [("default", Role.ADMIN), ("team-a", Role.ADMIN)]


def test_sessions_log_in_switch_project_and_end(access: AccessStore, engine: Engine) -> None:
    with pytest.raises(Unauthorized, match="wrong user name or password"):
        access.login("alice", "not-her-password")
    with pytest.raises(Unauthorized, match="wrong user name or password"):
        access.login("nobody", "whatever-password")
    token, identity = access.login("alice", "alice-password")
    assert identity.project == "team-a"
    with engine.connect() as conn:
        assert token not in {
            str(v) for v in conn.execute(select(sessions)).mappings().one().values()
        }
    assert access.authenticate_session(token).user == "alice"

    with pytest.raises(Unauthorized, match="not a member of project 'default'"):
        access.switch_project(token, "default")
    access.set_role("alice", "default", "viewer")
    assert access.switch_project(token, "default").role == Role.VIEWER
    assert access.authenticate_session(token).project == "default"

    access.update_user("alice", password="a-new-password")  # ends her sessions
    with pytest.raises(Unauthorized, match="session has ended"):
        access.authenticate_session(token)
    token, _ = access.login("alice", "a-new-password")
    access.logout(token)
    with pytest.raises(Unauthorized):
        access.authenticate_session(token)


def test_a_login_never_tells_a_right_password_of_a_closed_account(access: AccessStore) -> None:
    """Deactivated, or in no project: the same answer as a wrong password."""
    access.create_user("loner", "loner-password")
    access.update_user("alice", active=False)
    for user, password in (("alice", "alice-password"), ("loner", "loner-password")):
        with pytest.raises(Unauthorized) as refused:
            access.login(user, password)
        assert refused.value.message == "wrong user name or password"


def test_a_user_without_a_password_cannot_log_in(access: AccessStore, engine: Engine) -> None:
    access.create_user("bot")
    access.set_role("bot", "team-a", "editor")
    with pytest.raises(Unauthorized):
        access.login("bot", "")
    with engine.connect() as conn:
        assert (
            conn.execute(select(users.c.password_hash).where(users.c.name == "bot")).scalar()
            is None
        )


def test_every_change_is_audited_in_its_project(access: AccessStore, engine: Engine) -> None:
    key = access.create_key("alice", "team-a")
    access.revoke_key(key.id)
    team = [(e.action, e.target_id) for e in search(engine, AuditQuery(project="team-a"))]
    assert team == [
        ("member.set", "alice"),
        ("key.create", key.id),
        ("key.revoke", key.id),
    ]
    server = [e.action for e in search(engine, AuditQuery(project=SERVER))]
    assert server == ["project.create", "user.create"]
    entries = search(engine, AuditQuery(project="team-a", action="key.create"))
    assert key.key not in entries[0].model_dump_json()
