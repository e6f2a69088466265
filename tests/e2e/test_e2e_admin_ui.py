"""The admin UI in a real browser: headless Debian Chromium driven by Playwright, against `pushgate
serve` on a socket with the FCM simulator, the way an operator uses it.

Sign in (with the keyboard), create an app, upload its FCM service-account file, import devices,
compose and send to a tag (the live preview, the live audience count of a tag expression and the
broadcast confirmation included), watch the send's page reach its final counters, test-send to
one device, write an event-mode template in English and French and preview it in fr-CA, revoke an
API key, and check the pages fit a phone's width. Each step asserts what the page shows, and the
simulator's read-back confirms what was delivered.

The browser is the system's (`/usr/bin/chromium`, `.ci/run` installs it): Playwright's own
browser download is never used. Screenshots of the main pages are written to the test's folder,
and to docs/images/ when PUSHGATE_UPDATE_SCREENSHOTS=1.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, async_playwright, expect

from pushgate.simulators.fcm import FCMSimulator
from tests.e2e.e2e_helpers import (
    StartServer,
    StartSimulators,
    demo_credentials,
    pushgate_command,
    server_env,
    sim_of,
)

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "a long admin password for the browser test"
DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
TIMEOUT_MS = 60_000


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    assert shutil.which(CHROMIUM), f"{CHROMIUM} is missing: apt-get install -y chromium"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


async def _create_admin(env: dict[str, str]) -> None:
    process = await asyncio.create_subprocess_exec(
        *pushgate_command(), "admin", "create-user", "root", "--superuser", "--password-stdin", env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await process.communicate(f"{PASSWORD}\n".encode())
    assert process.returncode == 0, output.decode()
    assert "Created admin user root" in output.decode()


async def _shoot(page: Page, folder: Path, name: str, part: Locator | None = None) -> None:
    path = folder / f"admin-{name}.png"
    if part is not None:
        await part.screenshot(path=str(path))
    else:
        await page.evaluate("window.scrollTo(0, 0)")
        await page.screenshot(path=str(path))
    assert path.stat().st_size > 1000
    if os.environ.get("PUSHGATE_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_IMAGES / path.name)


async def _counter(page: Page, name: str) -> str:
    return (await page.locator(f"#counter-{name}").inner_text()).strip()


async def test_an_operator_runs_a_send_from_the_admin_ui(
    tmp_path: Path, ca_file: Path, start_simulators: StartSimulators, start_server: StartServer,
    browser: Browser,
) -> None:
    database_url = f"sqlite:///{tmp_path / 'pushgate.db'}"
    sims = await start_simulators(("fcm",))
    fcm = sim_of(sims, "fcm", FCMSimulator)
    await _create_admin(server_env(database_url, sims, ca_file))
    server = await start_server(database_url, sims)
    assert server.url is not None
    page = await browser.new_page(viewport={"width": 1200, "height": 800}, base_url=server.url)
    page.set_default_timeout(TIMEOUT_MS)

    # Sign in with the keyboard only: the form is reachable and submits with Enter.
    await page.goto("/admin/")
    await expect(page).to_have_url(re.compile(r"/admin/login\?next=/admin/$"))
    await page.get_by_label("User name").focus()
    await page.keyboard.type("root")
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Overview", exact=True)).to_be_visible()
    await expect(page.locator(".who")).to_have_text("root (superuser)")

    # Create an app: its API key is shown once.
    await page.get_by_role("link", name="Apps", exact=True).click()
    await page.get_by_label("Name").fill("shop")
    await page.get_by_role("button", name="Create app").click()
    api_key = (await page.locator("#new-app-key").inner_text()).strip()
    assert api_key.startswith("pg_")
    await page.get_by_role("link", name="Open shop").click()
    app_url = page.url

    # Upload the FCM service-account file as Google hands it out; the secret is shown as a fingerprint.
    account = demo_credentials(fcm)["service_account"]
    key_file = tmp_path / "service-account.json"
    key_file.write_text(json.dumps(account))
    await page.locator("#provider-fcm summary").click()
    await page.locator("#fcm-key-file").set_input_files(str(key_file))
    await page.get_by_role("button", name="Store fcm credentials").click()
    await expect(page.get_by_text("Stored the fcm credentials.")).to_be_visible()
    await expect(page.locator("#provider-fcm .badge")).to_have_text("ready")
    content = await page.content()
    assert account["private_key"].strip().splitlines()[1] not in content
    assert "sha256:" in content
    await _shoot(page, tmp_path, "app")

    # Import devices from a file: three tagged "beta" (one of them uninstalled) and two others.
    tokens = [fcm.register_token() for _ in range(5)]
    fcm.set_token_state(tokens[2], "unregistered")
    devices = [{"provider": "fcm", "token": token, "user": f"user{i}", "platform": "android",
                **({"tags": ["beta"]} if i < 3 else {})} for i, token in enumerate(tokens)]
    devices_file = tmp_path / "devices.json"
    devices_file.write_text(json.dumps(devices))
    await page.get_by_role("link", name="Devices", exact=True).click()
    await page.get_by_label("A JSON array, JSON lines or CSV file").set_input_files(str(devices_file))
    await page.get_by_role("button", name="Import").click()
    await expect(page.locator("#import-result")).to_have_text("5 created, 0 updated, 0 refused.")
    await page.get_by_role("link", name="Back to the devices").click()
    await expect(page.locator('#devices-table input[name="device"]')).to_have_count(5)
    await _shoot(page, tmp_path, "devices")

    # Compose to the tag: the preview follows the typing, then the broadcast asks for confirmation.
    await page.get_by_role("link", name="Compose").click()
    await page.get_by_label("Title", exact=True).fill("Beta build ready")
    await page.get_by_label("Body", exact=True).fill("Version 2.0 is waiting for you")
    await expect(page.locator("#size-fcm")).to_contain_text("of 4,096 bytes")
    await expect(page.locator("#wire-fcm")).to_contain_text("Version 2.0 is waiting for you")
    await expect(page.locator(".lookalike.fcm .lk-title")).to_have_text("Beta build ready")
    await page.get_by_label("Devices matching a tag expression").check()
    # A tag expression: its audience is counted while typing, a malformed one points at the problem.
    await page.get_by_label("Tokens, users or tags").fill("beta && !user4")
    await expect(page.locator("#audience-count")).to_have_text("Reaches 3 devices (3 users) now.")
    await page.get_by_label("Tokens, users or tags").fill("beta & !user4")
    await expect(page.locator("#audience-count")).to_contain_text("target.tags: position 5: a single &")
    await page.get_by_label("Tokens, users or tags").fill("beta")
    await expect(page.locator("#audience-count")).to_have_text("Reaches 3 devices (3 users) now.")
    await _shoot(page, tmp_path, "compose")
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.get_by_role("heading", name="Send to 3 devices?")).to_be_visible()
    await page.get_by_role("button", name="Confirm and send to 3").click()

    # The send's page follows the counters to the end.
    await expect(page.locator("#send-status")).to_have_text("done")
    assert [await _counter(page, name) for name in ("targeted", "sent", "dead", "failed", "pending")] == [
        "3", "2", "1", "0", "0"]
    await expect(page.locator("#reasons")).to_contain_text("dead")
    await expect(page.locator("svg.chart")).to_be_visible()
    await _shoot(page, tmp_path, "send")
    for token in tokens[:2]:
        [message] = fcm.messages_for(token)
        assert message["message"]["notification"]["title"] == "Beta build ready"
    assert fcm.messages_for(tokens[3]) == []

    # Test-send to one device from its page.
    await page.get_by_role("link", name="Devices", exact=True).click()
    await page.get_by_label("Token starts with").fill(tokens[4][:12])
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator('#devices-table input[name="device"]')).to_have_count(1)
    await page.locator("#devices-table tbody a").first.click()
    await page.get_by_role("button", name="Send test").click()
    await expect(page.locator("#test-sent")).to_be_visible()
    await page.locator("#test-sent a").click()
    await expect(page.locator("#send-status")).to_have_text("done")
    assert await _counter(page, "sent") == "1"
    [test_message] = fcm.messages_for(tokens[4])
    assert test_message["message"]["notification"]["title"] == "Test from pushgate"

    # An event-mode template in English and French, previewed for a Canadian French user.
    await page.locator("nav").get_by_role("link", name="Templates", exact=True).click()
    await page.locator("#m-name").fill("order_shipped")
    await page.locator("#m-events").fill("1001")
    await page.locator("#m-title").fill("Order {order_id} shipped")
    await page.locator("#m-body").fill("Hi {name}, it arrives {day}.")
    await page.get_by_role("button", name="Create message").click()
    await expect(page.get_by_text("Saved the message.")).to_be_visible()
    await page.get_by_label("Language tag").fill("fr")
    await page.get_by_label("Title template").fill("Commande {order_id} expédiée")
    await page.get_by_label("Body template").fill("Bonjour {name}, elle arrive {day}.")
    await page.get_by_role("button", name="Add localization").click()
    await expect(page.get_by_text("Saved the fr localization.")).to_be_visible()
    await page.get_by_label("Locale").fill("fr-CA")
    await page.get_by_label("Parameters").fill("order_id=A-17\nname=Zoé\nday=jeudi")
    await page.get_by_role("button", name="Preview", exact=True).click()
    await expect(page.locator("#preview-title")).to_have_text("Commande A-17 expédiée")
    await expect(page.locator("#preview-body")).to_have_text("Bonjour Zoé, elle arrive jeudi.")
    await expect(page.locator("#preview-language")).to_have_text("fr")
    await expect(page.locator("#msize-fcm")).to_contain_text("of 4,096 bytes")
    await _shoot(page, tmp_path, "templates", page.locator("#mpreview-h").locator(".."))

    # Revoke the API key: the page says so and the API refuses it from then on.
    async with httpx.AsyncClient(base_url=server.url) as api:
        assert (await api.get("/v1/app", headers={"Authorization": f"Bearer {api_key}"})).status_code == 200
        await page.goto(app_url)
        prefix = api_key.split("_")[1]
        await page.get_by_role("button", name=f"Revoke key {prefix}").click()
        await expect(page.locator(f'#keys-table tr[data-prefix="{prefix}"]')).to_contain_text("revoked")
        assert (await api.get("/v1/app", headers={"Authorization": f"Bearer {api_key}"})).status_code == 401

    await page.goto("/admin/")
    await expect(page.get_by_role("heading", name="Last hour")).to_be_visible()
    await _shoot(page, tmp_path, "overview")

    # At a phone's width nothing but the tables' own scroll areas is wider than the screen.
    await page.set_viewport_size({"width": 375, "height": 800})
    for path in ("/admin/", app_url, f"{app_url}/devices", f"{app_url}/compose", f"{app_url}/messages",
                 f"{app_url}/messages/order_shipped"):
        await page.goto(path)
        width: Any = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, (path, width)
