"""The access part of `make demo`: users with each role, their keys, and proof over real HTTP
that roles hold: a viewer's key cannot approve a transition, an approver's can only when
the policy's checks pass.

The proof runs against a real `lmops` server with auth on, started on a free loopback port
for the few requests it takes and stopped again.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import uvicorn

from lmops.core.projects import DEFAULT_PROJECT
from lmops.core.settings import Settings
from lmops.governance.access import AccessStore
from lmops.governance.entities import Transition
from lmops.governance.roles import Role
from lmops.store import open_engine

ADMIN, PASSWORD = "admin", "lmops-demo"
PEOPLE = {"alice": Role.EDITOR, "bob": Role.APPROVER, "vic": Role.VIEWER}


@dataclass(frozen=True)
class Attempt:
    who: str
    role: Role
    status: int
    message: str


def populate_users(settings: Settings) -> bool:
    """A server admin (who logs in to the UI) and alice, bob and vic, once; True if made."""
    access = AccessStore(open_engine(settings.uri))
    if any(u.name == ADMIN for u in access.list_users()):
        return False
    access.create_user(ADMIN, PASSWORD, superuser=True)
    for name, role in PEOPLE.items():
        access.create_user(name, f"{name}-{PASSWORD}")
        access.set_role(name, DEFAULT_PROJECT, role)
    return True


def try_to_approve(settings: Settings, pending: Transition) -> list[Attempt]:
    """Approve `pending` over HTTP with vic's key, then bob's, against a server with auth on.

    vic is refused for the role (403) before anything is checked; bob gets as far as the
    policy, which refuses while the version's checks fail (409)."""
    from lmops.server import create_app

    access = AccessStore(open_engine(settings.uri))
    keys = {
        who: access.create_key(who, DEFAULT_PROJECT, name="demo", expires_at=None).key
        for who in ("vic", "bob")
    }
    app = create_app(settings.model_copy(update={"auth": "on"}))
    attempts = []
    with serving(app) as url:
        for who, key in keys.items():
            response = httpx.post(
                f"{url}/api/v1/transitions/{pending.id}/approve",
                json={"comment": f"{who} tries to approve"},
                headers={"authorization": f"Bearer {key}"},
                timeout=30,
            )
            message = response.json().get("message", "") if response.status_code >= 400 else ""
            attempts.append(Attempt(who, PEOPLE[who], response.status_code, message))
    return attempts


@contextmanager
def serving(app: object) -> Iterator[str]:
    """`app` served by uvicorn on a free loopback port, in a thread, until the block ends."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")  # type: ignore[arg-type]
    )
    thread = threading.Thread(target=server.run, name="lmops-demo-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the demo's auth server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
