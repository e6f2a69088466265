"""Running `pushgate serve` / `pushgate worker` as real processes, and talking to them.

The server is a subprocess configured only through ``PUSHGATE_*``
environment variables, as an operator would run it; it listens on a port
of its choosing and prints the address. The provider simulators run in
the test's event loop on real sockets, so while a test waits for the
server (with bounded polling of the public API) the simulators serve.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable
from urllib.parse import urlsplit

import httpx

from pushgate.service.runtime import LISTENING_PREFIX, METRICS_PREFIX
from pushgate.simulators._base import Simulator
from pushgate.simulators.fcm import FCMSimulator

StartSimulators = Callable[..., Awaitable[dict[str, Simulator]]]
StartServer = Callable[..., Awaitable["ServerProcess"]]
GatewayFor = Callable[["ServerProcess"], "Gateway"]

ADMIN_TOKEN = "e2e-admin-token-" + "x" * 16
WORKER_MARKER = "pushgate worker running"
START_TIMEOUT = 60.0


def pushgate_command() -> list[str]:
    """The installed ``pushgate`` script of this interpreter's environment."""
    script = Path(sys.executable).with_name("pushgate")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from pushgate.cli import main; main()"]


def host_of(url: str) -> str:
    return urlsplit(url).netloc


def server_env(
    database_url: str, sims: Mapping[str, Simulator], ca_file: Path, **settings: Any
) -> dict[str, str]:
    """Environment for a server whose providers are the simulators (nothing else inherited).

    An allow-list given in ``settings`` (``providers__webpush__allowed_hosts``) is used instead
    of the simulator's host; a ``providers__<name>__base_url`` alone points Web Push or WNS at
    its simulator, as an operator would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")}
    values: dict[str, Any] = {
        "database_url": database_url, "admin_token": ADMIN_TOKEN, "host": "127.0.0.1", "port": 0,
        "log_level": "info", **settings,
    }
    for name, value in values.items():
        env[f"PUSHGATE_{name.upper()}"] = json.dumps(value) if isinstance(value, list) else str(value)
    ca = str(ca_file)
    if "apns" in sims:
        env["PUSHGATE_PROVIDERS__APNS__BASE_URL"] = sims["apns"].url
        env["PUSHGATE_PROVIDERS__APNS__CA_FILE"] = ca
    if "fcm" in sims:
        env["PUSHGATE_PROVIDERS__FCM__BASE_URL"] = sims["fcm"].url
        env["PUSHGATE_PROVIDERS__FCM__CA_FILE"] = ca
    # With a base_url in ``settings``, the simulator is reached through it alone (plus the CA):
    # no allow-list or token URL is added for that provider.
    if "webpush" in sims:
        env["PUSHGATE_PROVIDERS__WEBPUSH__CA_FILE"] = ca
        if "PUSHGATE_PROVIDERS__WEBPUSH__BASE_URL" not in env:
            allowed = json.dumps([host_of(sims["webpush"].url)])
            env.setdefault("PUSHGATE_PROVIDERS__WEBPUSH__ALLOWED_HOSTS", allowed)
    if "wns" in sims:
        env["PUSHGATE_PROVIDERS__WNS__CA_FILE"] = ca
        if "PUSHGATE_PROVIDERS__WNS__BASE_URL" not in env:
            env.setdefault("PUSHGATE_PROVIDERS__WNS__ALLOWED_HOSTS", json.dumps([host_of(sims["wns"].url)]))
            env["PUSHGATE_PROVIDERS__WNS__TOKEN_URL"] = demo_credentials(sims["wns"])["token_url"]
    return env


S = TypeVar("S", bound=Simulator)


def sim_of(sims: Mapping[str, Simulator], name: str, kind: type[S]) -> S:
    """The simulator started for ``name``, as its own class (for its control methods)."""
    sim = sims[name]
    assert isinstance(sim, kind), sim
    return sim


@runtime_checkable
class _WithDemo(Protocol):
    def demo_credentials(self) -> dict[str, Any]: ...


def demo_credentials(sim: Simulator) -> dict[str, Any]:
    """What a client needs to reach ``sim`` (every provider's simulator has demo credentials)."""
    assert isinstance(sim, _WithDemo), sim
    return sim.demo_credentials()


def credentials_for(sims: Mapping[str, Simulator]) -> dict[str, dict[str, Any]]:
    """App credentials each simulator accepts (its demo credentials)."""
    out: dict[str, dict[str, Any]] = {}
    for name, sim in sims.items():
        demo = demo_credentials(sim)
        if name == "apns":
            out[name] = {k: demo[k] for k in ("key", "key_id", "team_id", "topic", "environment")}
        elif name == "fcm":
            out[name] = {"service_account": demo["service_account"]}
        elif name == "webpush":
            out[name] = {k: demo[k] for k in ("vapid_private_key", "vapid_subject")}
        elif name == "wns":
            out[name] = {"client_id": demo["client_id"], "client_secret": demo["client_secret"]}
    return out


@dataclass
class ServerProcess:
    """One ``pushgate serve`` or ``pushgate worker`` process."""

    env: dict[str, str]
    log_path: Path
    args: tuple[str, ...] = ("serve",)
    url: str | None = None
    metrics_url: str | None = None  # a worker started with --metrics-port
    process: asyncio.subprocess.Process | None = None
    _drain: asyncio.Task[None] | None = field(default=None, repr=False)
    _log: Any = field(default=None, repr=False)

    async def start(self) -> ServerProcess:
        """Start it and wait until it listens (serve) or runs (worker)."""
        self._log = self.log_path.open("ab")
        self.process = await asyncio.create_subprocess_exec(
            *pushgate_command(), *self.args, env=self.env, stdout=asyncio.subprocess.PIPE, stderr=self._log,
        )
        marker = WORKER_MARKER if self.args[0] == "worker" else LISTENING_PREFIX
        assert self.process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{self.args[0]} did not start; log: {self.log_tail()}")
            line = (await asyncio.wait_for(self.process.stdout.readline(), remaining)).decode()
            if not line:
                raise AssertionError(f"{self.args[0]} exited at start-up; log: {self.log_tail()}")
            if line.startswith(METRICS_PREFIX):
                self.metrics_url = line[len(METRICS_PREFIX):].strip()
            if line.startswith(marker):
                if marker == LISTENING_PREFIX:
                    self.url = line[len(LISTENING_PREFIX):].strip()
                break
        self._drain = asyncio.create_task(self._drain_stdout())
        return self

    async def _drain_stdout(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        while await self.process.stdout.readline():
            pass

    def log_tail(self, chars: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def terminate(self, within: float = 60.0) -> int:
        """SIGTERM (a graceful stop) and wait for the exit code."""
        return await self._signal(signal.SIGTERM, within)

    async def kill(self) -> int:
        """SIGKILL: no chance to clean up, as after a crash or ``kill -9``."""
        return await self._signal(signal.SIGKILL, 30.0)

    async def _signal(self, sig: int, within: float) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(sig)
        code = await asyncio.wait_for(self.process.wait(), within)
        if self._drain is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._drain, 5)
        if self._log is not None:
            self._log.close()
        return code

    async def close(self) -> None:
        if self.process is not None and self.process.returncode is None:
            await self.kill()
        elif self._log is not None:
            self._log.close()


class Gateway:
    """The server's public HTTP API, as an app developer and an operator use it."""

    def __init__(self, url: str) -> None:
        self.http = httpx.AsyncClient(base_url=url, timeout=30.0)
        self.admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    async def aclose(self) -> None:
        await self.http.aclose()

    async def create_app(self, name: str | None = None) -> tuple[int, dict[str, str]]:
        """A new app; returns its id and the headers that authenticate as it."""
        answer = await self.http.post("/v1/apps", json={"name": name or f"app-{secrets.token_hex(3)}"},
                                      headers=self.admin)
        assert answer.status_code == 201, answer.text
        body = answer.json()
        return body["app"]["id"], {"Authorization": f"Bearer {body['api_key']['key']}"}

    async def put_credentials(self, app_id: int, provider: str, config: dict[str, Any]) -> None:
        answer = await self.http.put(f"/v1/apps/{app_id}/credentials/{provider}", json=config,
                                     headers=self.admin)
        assert answer.status_code == 200, answer.text

    async def register(self, auth: dict[str, str], device: dict[str, Any]) -> dict[str, Any]:
        answer = await self.http.post("/v1/devices", json=device, headers=auth)
        assert answer.status_code in (200, 201), answer.text
        result: dict[str, Any] = answer.json()
        return result

    async def import_devices(self, auth: dict[str, str], devices: list[dict[str, Any]]) -> None:
        for start in range(0, len(devices), 5000):
            chunk = devices[start:start + 5000]
            answer = await self.http.post("/v1/devices/import", json=chunk, headers=auth)
            assert answer.status_code == 200, answer.text
            assert not answer.json()["errors"], answer.json()["errors"][:3]

    async def send(self, auth: dict[str, str], notification: dict[str, Any], target: dict[str, Any],
                   **headers: str) -> dict[str, Any]:
        answer = await self.http.post("/v1/sends", json={"notification": notification, "target": target},
                                      headers={**auth, **headers})
        assert answer.status_code == 202, answer.text
        result: dict[str, Any] = answer.json()
        return result

    async def status(self, auth: dict[str, str], send_id: str) -> dict[str, Any]:
        answer = await self.http.get(f"/v1/sends/{send_id}", headers=auth)
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    async def deliveries(self, auth: dict[str, str], send_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            answer = await self.http.get(f"/v1/sends/{send_id}/deliveries", params=params, headers=auth)
            assert answer.status_code == 200, answer.text
            page = answer.json()
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    async def wait_done(self, auth: dict[str, str], send_id: str, within: float = 120.0) -> dict[str, Any]:
        """Poll the send's status until it is done (bounded)."""
        done: dict[str, Any] = await wait_for(lambda: self.status(auth, send_id),
                                              lambda s: s["status"] == "done", within,
                                              f"send {send_id} did not finish")
        return done


async def wait_for(
    probe: Callable[[], Awaitable[Any]], ready: Callable[[Any], bool], within: float, message: str,
    interval: float = 0.1,
) -> Any:
    """Call ``probe`` until ``ready(result)``; fail after ``within`` seconds with the last result."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if ready(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{message}: last seen {value!r}")
        await asyncio.sleep(interval)


@dataclass
class ProviderApp:
    """A server in front of one provider's simulator, with one app holding that simulator's credentials."""

    sims: dict[str, Simulator]
    server: ServerProcess
    api: Gateway
    app_id: int
    auth: dict[str, str]


async def provider_app(
    provider: str, database_url: str, start_simulators: StartSimulators, start_server: StartServer,
    gateway_for: GatewayFor, *, app_name: str | None = None, **settings: Any,
) -> ProviderApp:
    """Start ``provider``'s simulator and a server (``settings`` go to it), create an app
    (``app_name``, default a random one) and store the simulator's credentials on it."""
    sims = await start_simulators((provider,))
    server = await start_server(database_url, sims, **settings)
    api = gateway_for(server)
    app_id, auth = await api.create_app(app_name)
    await api.put_credentials(app_id, provider, credentials_for(sims)[provider])
    return ProviderApp(sims, server, api, app_id, auth)


@dataclass
class FcmGateway:
    """A server in front of the FCM simulator, with one app holding its credentials."""

    fcm: FCMSimulator
    api: Gateway
    app_id: int
    auth: dict[str, str]


async def fcm_gateway(
    database_url: str, start_simulators: StartSimulators, start_server: StartServer, gateway_for: GatewayFor,
    **settings: Any,
) -> FcmGateway:
    """:func:`provider_app` for FCM, with the simulator as its own class."""
    app = await provider_app("fcm", database_url, start_simulators, start_server, gateway_for, **settings)
    return FcmGateway(sim_of(app.sims, "fcm", FCMSimulator), app.api, app.app_id, app.auth)
