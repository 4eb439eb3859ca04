"""Auth in a real browser and with the real SDK against `lmops server --auth`: log in, make
a key (shown once), use it from the SDK, be refused what the role does not allow, log out."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from lmops.client import TrackingClient, Transport
from lmops.core.errors import Forbidden, Unauthorized
from lmops.core.settings import Settings
from lmops.governance.access import AccessStore
from lmops.store import close_engine, open_engine
from tests.conftest import LiveServer

pytestmark = [pytest.mark.e2e]

SHOTS = Path("/tmp/ui-shots")


@pytest.fixture(scope="module")
def secured_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("auth-home")
    uri = f"sqlite:///{home / 'lmops.db'}"
    access = AccessStore(open_engine(uri))
    access.create_project("research")
    access.create_user("root", "root-password", superuser=True)
    access.create_user("vic", "vic-password")
    access.set_role("vic", "default", "viewer")
    access.create_user("eddie", "eddie-password")
    access.set_role("eddie", "default", "editor")
    close_engine(uri)
    server = LiveServer(home, auth=True)
    yield server
    server.stop()


@pytest.fixture
def page(browser: Browser, secured_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    found = context.new_page()
    found.set_default_timeout(10_000)
    yield found
    context.close()


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"auth-{name}.png"), full_page=True)


def log_in(page: Page, base: str, user: str, password: str, path: str = "/models") -> None:
    page.goto(base + path)
    expect(page).to_have_url(f"{base}/login?next={path}")
    page.fill("#login-user", user)
    page.fill("#login-password", password)
    page.click("#login-submit")


def test_a_viewer_logs_in_makes_a_key_and_is_refused_writes(
    page: Page, secured_server: LiveServer
) -> None:
    base = secured_server.url
    page.goto(base + "/experiments")
    expect(page).to_have_url(f"{base}/login?next=/experiments")
    page.fill("#login-user", "vic")
    page.fill("#login-password", "not-vics-password")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_have_text("wrong user name or password")

    log_in(page, base, "vic", "vic-password")
    expect(page).to_have_url(f"{base}/models")
    expect(page.locator(".who")).to_contain_text("vic")
    expect(page.locator(".who")).to_contain_text("default · viewer")
    cookie = next(c for c in page.context.cookies() if c["name"] == "lmops_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    page.goto(base + "/account")
    page.fill("#new-key-form input[name=name]", "notebook")
    page.fill("#new-key-form input[name=expires_in_days]", "30")
    page.click("#new-key-form button")
    key = page.locator("#new-key pre.secret").inner_text().strip()
    assert key.startswith("lmk_")
    shot(page, "account-new-key")
    page.goto(base + "/account")  # shown once: not on the next visit
    expect(page.locator("#new-key")).to_have_count(0)
    expect(page.locator("#keys")).to_contain_text(key[:12])
    expect(page.locator("#keys")).not_to_contain_text(key[12:])

    # the key works from the SDK with the viewer's role: reads yes, writes no
    transport = Transport.for_settings(Settings(uri=base, api_key=key))
    try:
        client = TrackingClient(transport)
        assert isinstance(client.list_experiments(), list)
        with pytest.raises(Forbidden, match="needs editor"):
            client.create_experiment("not-allowed")
    finally:
        transport.close()
    page.goto(base + "/admin")
    expect(page.locator(".error-message")).to_contain_text("needs admin")

    page.goto(base + "/account")
    page.click(".who button")  # log out
    expect(page).to_have_url(f"{base}/login")
    page.goto(base + "/models")
    expect(page).to_have_url(f"{base}/login?next=/models")


def test_an_editor_key_writes_and_a_revoked_key_stops(secured_server: LiveServer) -> None:
    access = AccessStore(open_engine(f"sqlite:///{secured_server.home / 'lmops.db'}"))
    made = access.create_key("eddie", "default", name="ci")
    transport = Transport.for_settings(Settings(uri=secured_server.url, api_key=made.key))
    client = TrackingClient(transport)
    experiment = client.create_experiment("eddie-was-here")
    assert experiment.name == "eddie-was-here"
    entries = httpx.get(
        f"{secured_server.url}/api/v1/audit",
        params={"action": "key.create"},
        headers={"authorization": f"Bearer {made.key}"},
    ).json()
    assert [e["actor"] for e in entries][-1].startswith("local:")  # made on the store, by CLI
    # Revoked through the server: refused at once.
    gone = httpx.delete(
        f"{secured_server.url}/api/v1/keys/{made.id}",
        headers={"authorization": f"Bearer {made.key}"},
    )
    assert gone.status_code == 204, gone.text
    with pytest.raises(Unauthorized, match="was revoked"):
        client.create_experiment("eddie-again")
    transport.close()

    # Revoked in another process (`lmops keys revoke`): refused once the server's
    # two-second memory of the key runs out.
    other = access.create_key("eddie", "default", name="ci-2")
    headers = {"authorization": f"Bearer {other.key}"}
    assert httpx.get(f"{secured_server.url}/api/v1/experiments", headers=headers).is_success
    access.revoke_key(other.id)
    deadline = time.monotonic() + 10
    while httpx.get(f"{secured_server.url}/api/v1/experiments", headers=headers).is_success:
        assert time.monotonic() < deadline, "a revoked key still worked after 10 s"
        time.sleep(0.2)


def test_the_admin_page_adds_a_member(page: Page, secured_server: LiveServer) -> None:
    base = secured_server.url
    log_in(page, base, "root", "root-password", "/admin")
    expect(page).to_have_url(f"{base}/admin")
    page.fill("#add-user input[name=name]", "newbie")
    page.fill("#add-user input[name=password]", "newbie-password")
    page.select_option("#add-user select[name=role]", "approver")
    page.click("#add-user button")
    expect(page.locator("#members")).to_contain_text("newbie")
    expect(page.locator("#users")).to_contain_text("newbie")
    shot(page, "admin")

    page.goto(base + "/audit")
    expect(page.locator("#audit-entries")).to_contain_text("member.set")
    shot(page, "audit")
