"""``pushgate demo``: deliveries on screen in a minute, no credentials needed.

It starts the four provider simulators, a server with its workers pointed
at them (SQLite in a temporary directory unless ``--database-url``), and
then does what an app developer would, over the server's HTTP API on a
real socket: create an app, store the simulators' demo credentials,
register devices whose tokens the simulators issued, uninstall a few of
them at their provider (through the simulators' control API, after they
registered, so the dead-token rule applies to them), send one notification
to all, and show how it went — the send's counters, the devices the
registry deactivated, and what each simulator accepted. Then it keeps
serving, printing the URL, the app's API key and curl examples, until
Ctrl-C (or exits at once with ``--exit``). Its temporary folder is removed
either way.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table

from pushgate.cli import words
from pushgate.service.settings import Settings
from pushgate.simulators._base import Simulator

if TYPE_CHECKING:
    from pushgate.simulators.apns import APNsSimulator
    from pushgate.simulators.fcm import FCMSimulator
    from pushgate.simulators.webpush import WebPushSimulator
    from pushgate.simulators.wns import WNSSimulator

console = Console()
DEAD_PER_PROVIDER = 2
WAIT_SECONDS = 120.0


async def run_demo(database_url: str | None, devices: int, port: int, exit_after: bool) -> int:
    """Run the demo; returns the process exit code."""
    from pushgate.service.runtime import configure_logging

    configure_logging("warning")
    workdir = Path(tempfile.mkdtemp(prefix="pushgate-demo-"))
    try:
        return await _run(workdir, database_url, devices, port, exit_after)
    finally:
        # Everything in it (the SQLite file, the CA) belongs to this run; on
        # Ctrl-C too, which cancels _run and lands here.
        shutil.rmtree(workdir, ignore_errors=True)


async def _run(workdir: Path, database_url: str | None, devices: int, port: int, exit_after: bool) -> int:
    from pushgate.cli.simulate import start_simulators
    from pushgate.server import create_app
    from pushgate.service.runtime import serve

    with console.status("starting the APNs, FCM, Web Push and WNS simulators…"):
        sims = await start_simulators(["apns", "fcm", "webpush", "wns"], "127.0.0.1", 0)
    ca_file = workdir / "simulators-ca.pem"
    first = next(iter(sims.values()))
    assert first.ca is not None
    first.ca.write_ca(ca_file)
    admin_token = secrets.token_urlsafe(24)
    settings = _settings(database_url or f"sqlite:///{workdir / 'pushgate.db'}", port, admin_token, sims,
                         ca_file)
    stop = asyncio.Event()
    listening: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(serve(settings, create_app, stop=stop, on_listening=listening.set_result))
    try:
        url = await _started(server, listening)
        key = await _walkthrough(url, admin_token, sims, devices)
        if exit_after:
            # The server stops now: its URL and curl examples would only mislead.
            console.print(f"demo app API key: [bold]{key}[/bold]", soft_wrap=True)
            stop.set()
        else:
            _instructions(url, key, admin_token, workdir)
            console.print("[dim]Serving until Ctrl-C.[/dim]")
        await server
        return 0
    except Exception as exc:
        console.print(f"[red]demo failed:[/red] {exc}")
        stop.set()
        await asyncio.gather(server, return_exceptions=True)
        return 1
    finally:
        for simulator in sims.values():
            await simulator.stop()


def _settings(database_url: str, port: int, admin_token: str, sims: dict[str, Simulator],
              ca_file: Path) -> Settings:
    ca = str(ca_file)
    wns_token_url = _Sims.of(sims).wns.demo_credentials()["token_url"]
    return Settings.model_validate({
        "database_url": database_url, "port": port, "admin_token": admin_token, "log_level": "warning",
        # A throwaway key: the demo's credentials are stored encrypted, as they should be in production.
        "secret_key": secrets.token_urlsafe(32),
        "providers": {
            "apns": {"base_url": sims["apns"].url, "ca_file": ca},
            "fcm": {"base_url": sims["fcm"].url, "ca_file": ca},
            "webpush": {"ca_file": ca, "allowed_hosts": [urlsplit(sims["webpush"].url).netloc]},
            "wns": {"ca_file": ca, "allowed_hosts": [urlsplit(sims["wns"].url).netloc],
                    "token_url": wns_token_url},
        },
    })


async def _started(server: asyncio.Task[None], listening: asyncio.Future[str]) -> str:
    waits: set[asyncio.Future[Any]] = {server, listening}
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    if listening.done():
        return listening.result()
    server.result()
    raise RuntimeError("the server stopped during start-up")


@dataclass(frozen=True, slots=True)
class _Sims:
    """The running simulators, by their own types (their control methods differ)."""

    apns: APNsSimulator
    fcm: FCMSimulator
    webpush: WebPushSimulator
    wns: WNSSimulator

    @classmethod
    def of(cls, sims: dict[str, Simulator]) -> _Sims:
        from pushgate.simulators.apns import APNsSimulator
        from pushgate.simulators.fcm import FCMSimulator
        from pushgate.simulators.webpush import WebPushSimulator
        from pushgate.simulators.wns import WNSSimulator

        return cls(cast(APNsSimulator, sims["apns"]), cast(FCMSimulator, sims["fcm"]),
                   cast(WebPushSimulator, sims["webpush"]), cast(WNSSimulator, sims["wns"]))


def _credentials(sims: _Sims) -> dict[str, dict[str, Any]]:
    apns = sims.apns.demo_credentials()
    fcm = sims.fcm.demo_credentials()
    webpush = sims.webpush.demo_credentials()
    wns = sims.wns.demo_credentials()
    return {
        "apns": {k: apns[k] for k in ("key", "key_id", "team_id", "topic", "environment")},
        "fcm": {"service_account": fcm["service_account"]},
        "webpush": {k: webpush[k] for k in ("vapid_private_key", "vapid_subject")},
        "wns": {"client_id": wns["client_id"], "client_secret": wns["client_secret"]},
    }


def _devices(sims: _Sims, count: int) -> tuple[list[dict[str, Any]], list[Callable[[], None]]]:
    """``count`` devices per provider, with tokens the simulators issued (as a
    phone or browser gets them), and for the first few of each provider what
    uninstalls the app there. Those run after the devices registered: a token
    that died before its device (re-)registered stays active, by design."""
    rows: list[dict[str, Any]] = []
    uninstall: list[Callable[[], None]] = []
    for n in range(count):
        dead = n < DEAD_PER_PROVIDER
        token = sims.apns.add_token()
        rows.append({"provider": "apns", "token": token, "platform": "ios", "user": f"user-{n}"})
        fcm_token = sims.fcm.register_token()
        rows.append({"provider": "fcm", "token": fcm_token, "platform": "android", "user": f"user-{n}"})
        subscription = sims.webpush.subscribe()
        rows.append({"provider": "webpush", "subscription": subscription, "platform": "web"})
        channel = sims.wns.create_channel()
        rows.append({"provider": "wns", "token": channel, "platform": "windows"})
        if dead:
            uninstall += [
                partial(sims.apns.set_token_state, token, "unregistered"),
                partial(sims.fcm.set_token_state, fcm_token, "unregistered"),
                partial(sims.webpush.unsubscribe, subscription["endpoint"]),
                partial(sims.wns.set_channel_state, channel, "expired"),
            ]
    return rows, uninstall


async def _walkthrough(url: str, admin_token: str, sims: dict[str, Simulator], count: int) -> str:
    """What an app developer does, over HTTP; returns the app's API key."""
    import httpx

    admin = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as http:
        created = _ok(await http.post("/v1/apps", json={"name": "demo"}, headers=admin))
        app_id, key = created["app"]["id"], created["api_key"]["key"]
        typed = _Sims.of(sims)
        for provider, config in _credentials(typed).items():
            _ok(await http.put(f"/v1/apps/{app_id}/credentials/{provider}", json=config, headers=admin))
        auth = {"Authorization": f"Bearer {key}"}
        rows, uninstall = _devices(typed, count)
        imported = _ok(await http.post("/v1/devices/import", json=rows, headers=auth))
        for step in uninstall:
            step()
        console.print(f"registered [bold]{imported['created']}[/bold] simulated devices "
                      f"({count} per provider); then {DEAD_PER_PROVIDER} of each uninstalled the app")
        notification = {"title": "Hello from pushgate", "body": "Your first notification"}
        body = {"notification": notification, "target": {"all": True}}
        send = _ok(await http.post("/v1/sends", json=body, headers=auth))
        started = time.monotonic()
        with console.status(f"sending {send['id']} to {words.count(send['targeted'], 'device')}…"):
            status = _ok(await http.get(f"/v1/sends/{send['id']}", headers=auth))
            while status["status"] != "done" and time.monotonic() - started < WAIT_SECONDS:
                await asyncio.sleep(0.2)
                status = _ok(await http.get(f"/v1/sends/{send['id']}", headers=auth))
        _report(status, time.monotonic() - started, sims)
        deactivated = await _count_inactive(http, auth)
        console.print(f"devices deactivated (GET /v1/devices?active=false): [bold]{deactivated}[/bold]")
    return str(key)


async def _count_inactive(http: Any, auth: dict[str, str]) -> int:
    """Inactive devices as the API reports them, page by page."""
    total, cursor = 0, None
    while True:
        params: dict[str, Any] = {"active": "false", "limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = _ok(await http.get("/v1/devices", params=params, headers=auth))
        total += len(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return total


def _ok(response: Any) -> Any:
    if response.status_code >= 300:
        raise RuntimeError(f"{response.request.method} {response.request.url.path}: "
                           f"{response.status_code} {response.text[:300]}")
    return response.json()


def _report(status: dict[str, Any], seconds: float, sims: dict[str, Simulator]) -> None:
    table = Table(title=f"send {status['id']} ({status['status']}, {seconds:.1f} s)")
    for column in ("targeted", "sent", "dead", "failed", "expired", "pending"):
        table.add_column(column, justify="right")
    table.add_row(*(str(status[c]) for c in ("targeted", "sent", "dead", "failed", "expired", "pending")))
    console.print(table)
    accepted = Table(title="what the simulated providers accepted")
    accepted.add_column("provider")
    accepted.add_column("accepted", justify="right")
    accepted.add_column("simulator")
    for name, simulator in sims.items():
        accepted.add_row(name, str(len(simulator.accepted)), simulator.url)
    console.print(accepted)


def _instructions(url: str, key: str, admin_token: str, workdir: Path) -> None:
    console.print(f"\nAPI: [bold]{url}[/bold]  (OpenAPI: {url}/docs, metrics: {url}/metrics)")
    console.print(f"demo app API key: [bold]{key}[/bold]", soft_wrap=True)
    console.print(f"admin token (this demo only): {admin_token}")
    console.print(f"files: {workdir}\n")
    console.print("Try:")
    examples = [
        f"curl -s {url}/v1/app -H 'Authorization: Bearer {key}'",
        f"curl -s '{url}/v1/devices?limit=5' -H 'Authorization: Bearer {key}'",
        f"curl -s {url}/v1/sends -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' "
        "-d '{\"notification\": {\"title\": \"Hi again\"}, \"target\": {\"all\": true}}'",
    ]
    for example in examples:  # one line each, so they can be copied
        console.print(f"  {example}", soft_wrap=True, markup=False, highlight=False)


__all__ = ["run_demo"]
