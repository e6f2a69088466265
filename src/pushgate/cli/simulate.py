"""``pushgate simulate``: run the provider simulators until interrupted."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from pushgate.simulators._base import Simulator
    from pushgate.simulators.tls import LocalCA

# The simulators and rich are imported when a command runs: every
# ``pushgate`` command (``serve`` too) imports this module to register it.


def simulate(
    providers: Annotated[
        list[str] | None, typer.Argument(help="Which simulators (default: all of apns fcm webpush wns)")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="First port; each simulator takes the next one (0 = any)")] = 0,
    plaintext: Annotated[bool, typer.Option(help="Serve without TLS (h2c / HTTP/1.1)")] = False,
    ca_file: Annotated[
        Path | None,
        typer.Option(help="Where to write the simulators' CA certificate (default: next to "
                          "--credentials-file, else a new file in the temporary directory)"),
    ] = None,
    credentials_file: Annotated[
        Path | None, typer.Option(help="Write the URLs and demo credentials as JSON here")
    ] = None,
    accept_any_token: Annotated[
        bool,
        typer.Option(help="Any well-formed token is a device (default: only tokens a simulator issued)"),
    ] = False,
) -> None:
    """Run protocol-faithful APNs, FCM, Web Push and WNS simulators.

    Each serves its provider's API and a JSON control API under /__control/
    on its own port. The demo credentials each one prints are accepted by it.
    """
    from pushgate.simulators.registry import SIMULATORS

    names = providers or list(SIMULATORS)
    for name in names:
        if name not in SIMULATORS:
            raise typer.BadParameter(f"unknown provider {name!r}; choose from {', '.join(SIMULATORS)}")
    from pushgate.allowed_hosts import host_port
    from pushgate.service.listen import CannotListen

    try:
        asyncio.run(_run(names, host, port, plaintext, ca_file, credentials_file, accept_any_token))
    except CannotListen as exc:
        problem = (f"port {exc.port} is in use" if exc.in_use
                   else f"cannot listen on {host_port(exc.host, exc.port)}: {exc.reason}")
        typer.secho(f"{problem}: pass another --port (0: any free ports)", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None


async def start_simulators(
    names: list[str],
    host: str,
    port: int,
    *,
    tls: bool = True,
    ca: LocalCA | None = None,
    accept_any_token: bool = False,
) -> dict[str, Simulator]:
    """Start the named simulators sharing one CA; ports from ``port`` upwards (0: any).

    Raises :class:`~pushgate.service.listen.CannotListen` naming the port that could not
    be had, once the simulators already started are stopped again.
    """
    from pushgate.service.listen import bind_error
    from pushgate.simulators.registry import simulator_class
    from pushgate.simulators.tls import LocalCA

    ca = ca or (LocalCA.create() if tls else None)
    running: dict[str, Simulator] = {}
    for offset, name in enumerate(names):
        simulator = simulator_class(name)(ca=ca, tls=tls, accept_any_token=accept_any_token)
        wanted = port + offset if port else 0
        try:
            await simulator.start(host, wanted)
        except OSError as exc:
            for started in running.values():
                await started.stop()
            raise bind_error(host, wanted, exc) from exc
        running[name] = simulator
    return running


DEMO_DEVICES = 3  # tokens each simulator issues up front, so a first script has someone to send to


def describe(running: dict[str, Simulator], ca_path: Path | None) -> dict[str, Any]:
    """URLs, demo credentials and a few device tokens each simulator issued.

    The tokens are issued the way a device gets them (the simulator knows
    them), because the simulators refuse tokens they never issued.
    """
    info: dict[str, Any] = {"ca_file": str(ca_path) if ca_path else None, "simulators": {}}
    for name, simulator in running.items():
        demo = getattr(simulator, "demo_credentials", None)
        info["simulators"][name] = {
            "url": simulator.url,
            "control": simulator.url + "/__control/",
            "credentials": demo() if callable(demo) else {},
            "devices": [simulator.issue_token() for _ in range(DEMO_DEVICES)],
        }
    return info


async def _run(
    names: list[str],
    host: str,
    port: int,
    plaintext: bool,
    ca_file: Path | None,
    credentials_file: Path | None,
    accept_any_token: bool,
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    running = await start_simulators(names, host, port, tls=not plaintext, accept_any_token=accept_any_token)
    ca_path: Path | None = None
    throwaway = False  # the CA file is this run's alone, in the temporary directory
    first = next(iter(running.values()))
    if first.ca is not None:
        ca_path = ca_file or default_ca_file(credentials_file)
        throwaway = ca_file is None and credentials_file is None
        first.ca.write_ca(ca_path)
    info = describe(running, ca_path)
    table = Table(title="pushgate simulators")
    table.add_column("provider")
    table.add_column("URL")
    table.add_column("control API")
    for name, entry in info["simulators"].items():
        table.add_row(name, entry["url"], entry["control"])
    console.print(table)
    if ca_path:
        console.print(f"CA certificate: [bold]{ca_path}[/bold]  (curl --cacert {ca_path} ...)")
    if credentials_file:
        await asyncio.to_thread(credentials_file.write_text, json.dumps(info, indent=2))
        console.print(f"Demo credentials written to [bold]{credentials_file}[/bold]")
    else:
        console.print_json(json.dumps({k: v["credentials"] for k, v in info["simulators"].items()}))
    console.print("Press Ctrl-C to stop.")
    try:
        await asyncio.Event().wait()
    finally:
        for simulator in running.values():
            await simulator.stop()
        if throwaway and ca_path is not None:
            ca_path.unlink(missing_ok=True)


def default_ca_file(credentials_file: Path | None) -> Path:
    """Where a run writes its CA certificate when ``--ca-file`` is not given.

    Each run has a CA of its own, so each needs a file of its own: one fixed
    path shared by every run was overwritten by the next run, and the clients
    of the one before (and a server whose ``ca_file`` named it) stopped
    trusting its simulators. With ``--credentials-file sims.json`` the CA goes
    next to it (``sims-ca.pem``), where the file that names it is; else into a
    new file in the temporary directory, removed when the run ends.
    """
    if credentials_file is not None:  # absolute: the credentials file is read from anywhere
        return credentials_file.absolute().with_name(f"{credentials_file.stem}-ca.pem")
    handle, name = tempfile.mkstemp(prefix="pushgate-simulators-ca-", suffix=".pem")
    os.close(handle)
    return Path(name)
