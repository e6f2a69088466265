"""``pushgate library-demo``: the library, end to end, with no credentials.

Starts the four simulators in this process, makes simulated devices on each
(a few of them dead), sends one notification through each provider client
over real TLS sockets, and prints what came back: the same code a backend
would run against Apple, Google, the browsers' push services and Microsoft.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pushgate import BatchResult, Notification, Status
from pushgate.cli import words

if TYPE_CHECKING:
    from pushgate.providers import Provider

# The provider clients, the simulators and rich are imported when the demo
# runs: every ``pushgate`` command (``serve`` too) imports this module to
# register the command, and should not pay for them.


def library_demo(
    devices: Annotated[int, typer.Option(help="Simulated devices per provider")] = 200,
    dead: Annotated[int, typer.Option(help="How many of them are dead (uninstalled) devices")] = 3,
) -> None:
    """Send through APNs, FCM, Web Push and WNS clients to local simulators."""
    if not 0 <= dead <= devices:
        raise typer.BadParameter("--dead must be between 0 and --devices")
    asyncio.run(_demo(devices, dead))


async def _demo(count: int, dead: int) -> None:
    from rich.console import Console
    from rich.table import Table

    from pushgate.cli.simulate import start_simulators

    console = Console()
    sims = await start_simulators(["apns", "fcm", "webpush", "wns"], "127.0.0.1", 0)
    with tempfile.TemporaryDirectory() as tmp:
        ca_file = Path(tmp) / "ca.pem"
        ca = sims["apns"].ca
        assert ca is not None
        ca.write_ca(ca_file)
        note = Notification(
            title="Your order shipped",
            body="It arrives on Thursday.",
            badge=1,
            url="https://shop.example/orders/42",
            data={"order": 42},
        )
        per_provider = words.count(count, "device")
        table = Table(title=f"one notification, {per_provider} per provider ({dead} dead each)")
        for column in ("provider", "sent", "dead", "retry", "failed", "seconds", "first dead token reason"):
            table.add_column(column)
        try:
            for name, (client, tokens) in _clients(sims, ca_file, count, dead).items():
                async with client:
                    started = time.perf_counter()
                    result: BatchResult = await client.send(note, tokens)
                    elapsed = time.perf_counter() - started
                table.add_row(name, *_row(result), f"{elapsed:.2f}", _first_dead_reason(result))
        finally:
            for sim in sims.values():
                await sim.stop()
        console.print(table)
        console.print(
            "Every request above went over TLS to a simulator that checks auth and payloads the "
            "way the real service does. Run [bold]pushgate simulate[/bold] to keep them running."
        )


def _row(result: BatchResult) -> list[str]:
    return [str(result.count(status)) for status in (Status.SENT, Status.DEAD, Status.RETRY, Status.FAILED)]


def _first_dead_reason(result: BatchResult) -> str:
    for outcome in result:
        if outcome.status is Status.DEAD:
            return f"{outcome.reason} (HTTP {outcome.http_status})"
    return "-"


def _clients(
    sims: dict[str, Any], ca_file: Path, count: int, dead: int
) -> dict[str, tuple[Provider[Any, Any], list[Any]]]:
    from pushgate import FCM, WNS, APNs, WebPush

    apns_sim, fcm_sim, web_sim, wns_sim = sims["apns"], sims["fcm"], sims["webpush"], sims["wns"]
    alive = count - dead

    apns_demo = apns_sim.demo_credentials()
    apns_tokens = [apns_sim.add_token() for _ in range(alive)]
    apns_tokens += [apns_sim.add_token(state="unregistered") for _ in range(dead)]
    apns = APNs(
        key=apns_demo["key"], key_id=apns_demo["key_id"], team_id=apns_demo["team_id"],
        topic=apns_demo["topic"], base_url=apns_sim.url, ca_file=ca_file,
    )

    fcm_demo = fcm_sim.demo_credentials()
    fcm_tokens = [fcm_sim.register_token() for _ in range(alive)]
    fcm_tokens += [fcm_sim.register_token(state="unregistered") for _ in range(dead)]
    fcm = FCM(fcm_demo["service_account"], base_url=fcm_sim.url, ca_file=ca_file)

    web_demo = web_sim.demo_credentials()
    subscriptions = [web_sim.subscribe() for _ in range(count)]
    for sub in subscriptions[alive:]:
        web_sim.unsubscribe(sub["endpoint"])
    webpush = WebPush(
        vapid_private_key=web_demo["vapid_private_key"], vapid_subject=web_demo["vapid_subject"],
        allowed_hosts=web_demo["allowed_hosts"], ca_file=ca_file,
    )

    wns_demo = wns_sim.demo_credentials()
    channels = [wns_sim.create_channel() for _ in range(alive)]
    channels += [wns_sim.create_channel(state="expired") for _ in range(dead)]
    wns = WNS(
        client_id=wns_demo["client_id"], client_secret=wns_demo["client_secret"],
        token_url=wns_demo["token_url"], allowed_hosts=wns_demo["allowed_hosts"], ca_file=ca_file,
    )
    return {
        "APNs": (apns, apns_tokens),
        "FCM": (fcm, fcm_tokens),
        "Web Push": (webpush, subscriptions),
        "WNS": (wns, channels),
    }
