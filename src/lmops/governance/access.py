"""Users, projects, memberships, API keys and UI sessions: who may do what, where.

A user holds one role per project (`memberships`); server admins (`superuser`) hold admin
in every project and manage users and projects. An API key works in one project with its
user's role there, so taking a user out of a project disarms their keys for it at once.
Keys and session tokens are random and only their sha256 is stored; passwords are kept as
scrypt hashes. Every change is written to the audit log in the same transaction.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, and_, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from lmops.core.errors import Conflict, InvalidInput, NotFound, Unauthorized
from lmops.core.ids import new_id, utcnow
from lmops.core.text import check_text
from lmops.core.uris import check_name
from lmops.governance.roles import Role
from lmops.governance.tables import api_keys, memberships, projects, sessions, users
from lmops.store.audit import record
from lmops.store.engine import writing

KEY_PREFIX = "lmk_"
SERVER = "-"
"""The audit log's project for server-wide changes (users, projects): no project is named
so, so only server admins, who read every project's entries, see them."""

SESSION_LIFETIME = timedelta(hours=12)
# A key is looked up again after this long: a key revoked, or a role changed, by another
# process takes effect within it (in this process, at once).
KEY_CACHE_TTL = timedelta(seconds=2)
KEY_CACHE_SIZE = 10_000
MIN_PASSWORD = 8
MAX_KEY_DAYS = 3650
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class Project(BaseModel):
    name: str
    description: str = ""
    created_at: datetime


class User(BaseModel):
    name: str
    superuser: bool
    active: bool
    has_password: bool
    created_at: datetime


class Membership(BaseModel):
    user: str
    project: str
    role: Role
    created_at: datetime


class ApiKey(BaseModel):
    """A key as listings show it: never the key itself, only its first characters."""

    id: str
    prefix: str
    user: str
    project: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def active(self) -> bool:
        now = utcnow()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class CreatedKey(ApiKey):
    """The answer to making a key: the only time the key itself is shown."""

    key: str


@dataclass(frozen=True)
class Identity:
    """An authenticated caller: the user, the project they work in and their role there."""

    user: str
    project: str
    role: Role
    superuser: bool
    key_id: str | None = None  # the API key it authenticated with (None for a session)


class AccessStore:
    """Users, projects, memberships, keys and sessions over one metadata store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # sha256 of a key -> (until when the answer holds, who it is): keys are checked on
        # every gateway request, and the lookup was most of what auth added to one
        self._known_keys: dict[str, tuple[datetime, Identity]] = {}

    # -- projects ------------------------------------------------------------------------

    def create_project(self, name: str, description: str = "") -> Project:
        row = {
            "name": check_name(name, "project"),
            "description": check_text(description, "description", max_length=10_000),
            "created_at": utcnow(),
        }
        try:
            with writing(self.engine) as conn:
                conn.execute(insert(projects), row)
                _audit(conn, "project.create", "project", name, SERVER, after=row)
        except IntegrityError:
            raise Conflict(f"project {name!r} exists already") from None
        return Project.model_validate(row)

    def get_project(self, name: str) -> Project:
        check_name(name, "project", field="project")
        with self.engine.connect() as conn:
            row = conn.execute(select(projects).where(projects.c.name == name)).mappings().first()
        if row is None:
            raise NotFound(f"no project {name!r}")
        return Project.model_validate(dict(row))

    def list_projects(self) -> list[Project]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(projects).order_by(projects.c.name)).mappings()
            return [Project.model_validate(dict(r)) for r in rows]

    # -- users ---------------------------------------------------------------------------

    def create_user(
        self, name: str, password: str | None = None, *, superuser: bool = False
    ) -> User:
        """A user; without a password they can only use API keys (no UI login)."""
        row = {
            "name": check_name(name, "user"),
            "password_hash": None if password is None else hash_password(password),
            "superuser": bool(superuser),
            "active": True,
            "created_at": utcnow(),
        }
        try:
            with writing(self.engine) as conn:
                conn.execute(insert(users), row)
                after = {"superuser": row["superuser"], "password": password is not None}
                _audit(conn, "user.create", "user", name, SERVER, after=after)
        except IntegrityError:
            raise Conflict(f"user {name!r} exists already") from None
        return _user(row)

    def get_user(self, name: str) -> User:
        with self.engine.connect() as conn:
            return _user(_user_row(conn, name))

    def list_users(self) -> list[User]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(users).order_by(users.c.name)).mappings()
            return [_user(r) for r in rows]

    def update_user(
        self,
        name: str,
        *,
        password: str | None = None,
        active: bool | None = None,
        superuser: bool | None = None,
    ) -> User:
        """Change a password, (de)activate or promote. Deactivating ends every session and
        revokes every key; a new password ends every session."""
        changes: dict[str, Any] = {}
        if password is not None:
            changes["password_hash"] = hash_password(password)
        if active is not None:
            changes["active"] = bool(active)
        if superuser is not None:
            changes["superuser"] = bool(superuser)
        with writing(self.engine) as conn:
            before = _user_row(conn, name)
            if changes:
                conn.execute(update(users).where(users.c.name == name).values(changes))
                if active is False or password is not None:
                    conn.execute(delete(sessions).where(sessions.c.user_name == name))
                shown = {k: v for k, v in changes.items() if k != "password_hash"}
                if active is False:  # for good: reactivating must not revive leaked keys
                    shown["revoked_keys"] = _revoke_keys(conn, api_keys.c.user_name == name)
                if password is not None:
                    shown["password"] = "changed"
                old = {k: before[k] for k in ("active", "superuser") if k in changes}
                _audit(conn, "user.update", "user", name, SERVER, before=old, after=shown)
        self.forget_keys()
        return _user({**before, **changes})

    # -- memberships ---------------------------------------------------------------------

    def set_role(self, user: str, project: str, role: Role | str) -> Membership:
        """Give `user` `role` in `project` (adding them, or changing the role they hold)."""
        role = _role(role)
        check_name(project, "project", field="project")
        now = utcnow()
        with writing(self.engine) as conn:
            _user_row(conn, user)
            self._project_exists(conn, project)
            key = and_(memberships.c.user_name == user, memberships.c.project == project)
            old = conn.execute(select(memberships.c.role).where(key)).scalar()
            row = {"user_name": user, "project": project, "role": role, "created_at": now}
            upsert = _insert(conn)(memberships).values(row)
            conn.execute(
                upsert.on_conflict_do_update(
                    index_elements=["user_name", "project"], set_={"role": role}
                )
            )
            before = None if old is None else {"role": old}
            _audit(conn, "member.set", "user", user, project, before=before, after={"role": role})
        self.forget_keys()
        return Membership(user=user, project=project, role=role, created_at=now)

    def remove_member(self, user: str, project: str) -> None:
        """Take `user` out of `project`: their sessions there end and their keys for it are
        revoked (adding them back later does not revive a key that may have leaked)."""
        check_name(user, "user", field="user")
        check_name(project, "project", field="project")
        key = and_(memberships.c.user_name == user, memberships.c.project == project)
        with writing(self.engine) as conn:
            old = conn.execute(select(memberships.c.role).where(key)).scalar()
            if old is None:
                raise NotFound(f"{user!r} is not a member of project {project!r}")
            conn.execute(delete(memberships).where(key))
            conn.execute(
                delete(sessions).where(sessions.c.user_name == user, sessions.c.project == project)
            )
            theirs = (api_keys.c.user_name == user) & (api_keys.c.project == project)
            revoked = _revoke_keys(conn, theirs)
            after = {"revoked_keys": revoked}
            _audit(conn, "member.remove", "user", user, project, before={"role": old}, after=after)
        self.forget_keys()

    def members(self, project: str) -> list[Membership]:
        check_name(project, "project", field="project")
        query = (
            select(memberships)
            .where(memberships.c.project == project)
            .order_by(memberships.c.user_name)
        )
        with self.engine.connect() as conn:
            return [_membership(r) for r in conn.execute(query).mappings()]

    def memberships_of(self, user: str) -> list[Membership]:
        """The projects `user` belongs to (every project, as admin, for a server admin)."""
        with self.engine.connect() as conn:
            row = _user_row(conn, user)
            query = (
                select(memberships)
                .where(memberships.c.user_name == user)
                .order_by(memberships.c.project)
            )
            found = [_membership(r) for r in conn.execute(query).mappings()]
            if not row["superuser"]:
                return found
            member_of = {m.project for m in found}
            rest = conn.execute(select(projects).order_by(projects.c.name)).mappings()
            extra = [
                Membership(
                    user=user, project=p["name"], role=Role.ADMIN, created_at=row["created_at"]
                )
                for p in rest
                if p["name"] not in member_of
            ]
        return sorted(
            [m.model_copy(update={"role": Role.ADMIN}) for m in found] + extra,
            key=lambda m: m.project,
        )

    # -- keys ----------------------------------------------------------------------------

    def create_key(
        self,
        user: str,
        project: str,
        *,
        name: str = "",
        expires_at: datetime | None = None,
    ) -> CreatedKey:
        """A key for `user` in `project`; the key itself is in the answer and nowhere else."""
        now = utcnow()
        if expires_at is not None and not now < expires_at <= now + timedelta(MAX_KEY_DAYS):
            raise InvalidInput(
                f"a key must expire in the future and within {MAX_KEY_DAYS} days",
                field="expires_at",
            )
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        row: dict[str, Any] = {
            "id": new_id(),
            "hash": _digest(secret),
            "prefix": secret[:12],
            "user_name": user,
            "project": project,
            "name": check_text(name, "name", max_length=255),
            "created_at": now,
            "expires_at": expires_at,
            "revoked_at": None,
            "last_used_at": None,
        }
        with writing(self.engine) as conn:
            if not _user_row(conn, user)["active"]:
                raise InvalidInput(f"user {user!r} is deactivated: activate them first")
            self._role_in(conn, user, project)  # a key needs a role to carry
            conn.execute(insert(api_keys), row)
            after = {"prefix": row["prefix"], "name": row["name"], "user": user}
            after["expires_at"] = None if expires_at is None else expires_at.isoformat()
            _audit(conn, "key.create", "api_key", row["id"], project, after=after)
        return CreatedKey(**_key(row).model_dump(), key=secret)

    def list_keys(self, *, user: str | None = None, project: str | None = None) -> list[ApiKey]:
        query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        if user is not None:
            query = query.where(api_keys.c.user_name == user)
        if project is not None:
            query = query.where(api_keys.c.project == project)
        with self.engine.connect() as conn:
            return [_key(r) for r in conn.execute(query).mappings()]

    def get_key(self, key_id: str) -> ApiKey:
        with self.engine.connect() as conn:
            row = _key_row(conn, key_id)
        if row is None:
            raise NotFound(f"no API key {key_id!r}")
        return _key(row)

    def revoke_key(self, key_id: str) -> ApiKey:
        """Stop a key working, at once and for good; revoking twice is a no-op."""
        with writing(self.engine) as conn:
            row = _key_row(conn, key_id)
            if row is None:
                raise NotFound(f"no API key {key_id!r}")
            if row["revoked_at"] is not None:
                return _key(row)
            now = utcnow()
            conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=now))
            _audit(
                conn,
                "key.revoke",
                "api_key",
                key_id,
                row["project"],
                after={"prefix": row["prefix"]},
            )
        self.forget_keys()
        return _key({**row, "revoked_at": now})

    def known_key(self, secret: str) -> Identity | None:
        """Who a key belongs to if it was authenticated here in the last `KEY_CACHE_TTL`
        (no store access: callers may ask from an event loop); None means ask
        `authenticate_key`."""
        found = self._known_keys.get(_digest(secret))
        if found is None or found[0] <= utcnow():
            return None
        return found[1]

    def forget_keys(self) -> None:
        """Look every key up again (a key was revoked, or a user or role changed)."""
        self._known_keys.clear()

    def authenticate_key(self, secret: str) -> Identity:
        """Who a key belongs to, in its project; Unauthorized says why it does not work."""
        identity, expires = self._authenticate_key(secret)
        until = utcnow() + KEY_CACHE_TTL
        if expires is not None:
            until = min(until, expires)
        if len(self._known_keys) >= KEY_CACHE_SIZE:  # callers choose the keys they send
            self._known_keys.clear()
        self._known_keys[_digest(secret)] = (until, identity)
        return identity

    def _authenticate_key(self, secret: str) -> tuple[Identity, datetime | None]:
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(api_keys).where(api_keys.c.hash == _digest(secret)))
                .mappings()
                .first()
            )
            if row is None:
                raise Unauthorized("unknown API key")
            if row["revoked_at"] is not None:
                raise Unauthorized(f"API key {row['prefix']}... was revoked")
            if row["expires_at"] is not None and row["expires_at"] <= utcnow():
                raise Unauthorized(f"API key {row['prefix']}... expired")
            identity = self._identity(conn, row["user_name"], row["project"])
        self._touch_key(row["id"], row["last_used_at"])
        return replace(identity, key_id=row["id"]), row["expires_at"]

    def _touch_key(self, key_id: str, last_used: datetime | None) -> None:
        """Note when a key was last used, at most once a minute (not a write per request)."""
        now = utcnow()
        if last_used is not None and now - last_used < timedelta(minutes=1):
            return
        with writing(self.engine) as conn:
            conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=now))

    # -- sessions ------------------------------------------------------------------------

    def login(self, user: str, password: str, project: str | None = None) -> tuple[str, Identity]:
        """Check a password and open a session: (the token for the cookie, who it is).

        Every failure says the same thing, so a login form does not tell which users exist.
        """
        refused = Unauthorized("wrong user name or password")
        if not isinstance(password, str) or "\x00" in password:
            raise refused
        with self.engine.connect() as conn:
            row = None
            if _is_name(user):
                row = conn.execute(select(users).where(users.c.name == user)).mappings().first()
            if row is None or not row["password_hash"]:
                hash_password("x" * MIN_PASSWORD)  # about as slow as a real check
                raise refused
            if not verify_password(password, row["password_hash"]):
                raise refused
            try:  # a deactivated user or one in no project hears the same as a wrong password
                if project is None:
                    project = self._first_project(conn, user, row["superuser"])
                identity = self._identity(conn, user, project)
            except (Unauthorized, NotFound):
                raise refused from None
        token = secrets.token_urlsafe(32)
        now = utcnow()
        with writing(self.engine) as conn:
            conn.execute(delete(sessions).where(sessions.c.expires_at <= now))  # ended ones
            conn.execute(
                insert(sessions),
                {
                    "hash": _digest(token),
                    "user_name": user,
                    "project": identity.project,
                    "created_at": now,
                    "expires_at": now + SESSION_LIFETIME,
                },
            )
            after = {"project": identity.project}
            _audit(conn, "user.login", "user", user, SERVER, after=after)
        return token, identity

    def authenticate_session(self, token: str) -> Identity:
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(sessions).where(sessions.c.hash == _digest(token)))
                .mappings()
                .first()
            )
            if row is None or row["expires_at"] <= utcnow():
                raise Unauthorized("your session has ended: log in again")
            return self._identity(conn, row["user_name"], row["project"])

    def switch_project(self, token: str, project: str) -> Identity:
        """Point a session at another project the user belongs to."""
        identity = self.authenticate_session(token)
        check_name(project, "project", field="project")
        with writing(self.engine) as conn:
            switched = self._identity(conn, identity.user, project)
            conn.execute(
                update(sessions).where(sessions.c.hash == _digest(token)).values(project=project)
            )
        return switched

    def logout(self, token: str) -> None:
        with writing(self.engine) as conn:
            conn.execute(delete(sessions).where(sessions.c.hash == _digest(token)))

    # -- helpers -------------------------------------------------------------------------

    def _identity(self, conn: Connection, user: str, project: str) -> Identity:
        row = conn.execute(select(users).where(users.c.name == user)).mappings().first()
        if row is None or not row["active"]:
            raise Unauthorized(f"user {user!r} is deactivated")
        if row["superuser"]:
            self._project_exists(conn, project)
            return Identity(user, project, Role.ADMIN, superuser=True)
        return Identity(user, project, self._role_in(conn, user, project), superuser=False)

    def _role_in(self, conn: Connection, user: str, project: str) -> Role:
        key = and_(memberships.c.user_name == user, memberships.c.project == project)
        role = conn.execute(select(memberships.c.role).where(key)).scalar()
        if role is None:
            superuser = conn.execute(select(users.c.superuser).where(users.c.name == user)).scalar()
            if superuser:
                self._project_exists(conn, project)
                return Role.ADMIN
            raise Unauthorized(f"user {user!r} is not a member of project {project!r}")
        return Role(role)

    def _first_project(self, conn: Connection, user: str, superuser: bool) -> str:
        query = (
            select(memberships.c.project)
            .where(memberships.c.user_name == user)
            .order_by(memberships.c.project)
        )
        found = conn.execute(query).scalar()
        if found is None and superuser:
            found = conn.execute(select(projects.c.name).order_by(projects.c.name)).scalar()
        if found is None:
            raise Unauthorized(f"user {user!r} belongs to no project yet: ask an admin")
        return str(found)

    @staticmethod
    def _project_exists(conn: Connection, project: str) -> None:
        if conn.execute(select(projects.c.name).where(projects.c.name == project)).first() is None:
            raise NotFound(f"no project {project!r}")


# -- passwords -------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    """An scrypt hash with a fresh salt, as `scrypt$n$r$p$salt$hash`."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD} characters", field="password")
    if len(password) > 1024:
        raise InvalidInput("a password has at most 1024 characters", field="password")
    salt = secrets.token_bytes(16)
    derived = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    n, r, p = _SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"]
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(derived)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, expected = stored.split("$")
        if kind != "scrypt":
            return False
        derived = hashlib.scrypt(
            password.encode()[:4096], salt=_unb64(salt), n=int(n), r=int(r), p=int(p)
        )
    except ValueError:
        return False
    return hmac.compare_digest(derived, _unb64(expected))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# -- rows ------------------------------------------------------------------------------------


def _audit(
    conn: Connection,
    action: str,
    kind: str,
    target_id: str,
    project: str,
    *,
    before: Any = None,
    after: Any = None,
) -> None:
    after = {k: v for k, v in (after or {}).items() if k != "created_at"} or None
    target = f"{kind} {target_id}" if project == SERVER else f"{kind} {target_id} in {project}"
    record(conn, action, kind, target_id, target, project=project, before=before, after=after)


def _user_row(conn: Connection, name: str) -> dict[str, Any]:
    check_name(name, "user", field="user")
    row = conn.execute(select(users).where(users.c.name == name)).mappings().first()
    if row is None:
        raise NotFound(f"no user {name!r}")
    return dict(row)


def _user(row: Any) -> User:
    return User(
        name=row["name"],
        superuser=row["superuser"],
        active=row["active"],
        has_password=bool(row["password_hash"]),
        created_at=row["created_at"],
    )


def _membership(row: Any) -> Membership:
    return Membership(
        user=row["user_name"],
        project=row["project"],
        role=row["role"],
        created_at=row["created_at"],
    )


def _key(row: Any) -> ApiKey:
    return ApiKey(
        id=row["id"],
        prefix=row["prefix"],
        user=row["user_name"],
        project=row["project"],
        name=row["name"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )


def _revoke_keys(conn: Connection, which: ColumnElement[bool]) -> int:
    """Revoke the live keys `which` selects; how many."""
    live = which & api_keys.c.revoked_at.is_(None)
    return conn.execute(update(api_keys).where(live).values(revoked_at=utcnow())).rowcount


def _insert(conn: Connection) -> Any:
    """The dialect's INSERT, which has ON CONFLICT DO UPDATE on both SQLite and PostgreSQL."""
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def _key_row(conn: Connection, key_id: str) -> Any:
    return conn.execute(select(api_keys).where(api_keys.c.id == _key_id(key_id))).mappings().first()


def _key_id(key_id: str) -> str:
    """A key id as made (32 hex digits); anything else is as unknown as a missing key."""
    if not (isinstance(key_id, str) and len(key_id) == 32 and all(c in _HEX for c in key_id)):
        raise NotFound(f"no API key {key_id[:40]!r}")
    return key_id


def _is_name(name: str) -> bool:
    try:
        check_name(name, "user")
    except InvalidInput:
        return False
    return True


_HEX = frozenset("0123456789abcdef")


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise InvalidInput(f"unknown role {role!r}: use one of {choices}", field="role") from None
