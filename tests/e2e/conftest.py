"""End-to-end fixtures: simulators in the test loop, servers as real processes, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from pushgate.registry import Database
from pushgate.simulators._base import Simulator
from pushgate.simulators.registry import SIMULATORS, simulator_class
from pushgate.simulators.tls import LocalCA
from tests.e2e.e2e_helpers import Gateway, GatewayFor, ServerProcess, StartServer, StartSimulators, server_env


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database for one server: a SQLite file (the server migrates it) or a
    new PostgreSQL database, migrated first as an operator would (`pushgate migrate`)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'pushgate.db'}"
    factory: Callable[[], str] = request.getfixturevalue("postgres_databases")
    url = factory()
    with Database(url) as db:
        db.migrate()
    return url


@pytest.fixture
def ca_file(local_ca: LocalCA, tmp_path: Path) -> Path:
    path = tmp_path / "simulators-ca.pem"
    local_ca.write_ca(path)
    return path


@pytest.fixture
async def start_simulators(local_ca: LocalCA) -> AsyncIterator[StartSimulators]:
    """Start simulators (default: all four) sharing the session CA; stopped at the end."""
    running: list[Simulator] = []

    async def start(names: tuple[str, ...] = tuple(SIMULATORS), **options: Any) -> dict[str, Simulator]:
        out: dict[str, Simulator] = {}
        for name in names:
            # accept_any_token: these tests register thousands of devices with tokens made on the
            # spot; refusing tokens a simulator never issued is tested in tests/simulators.
            chosen = {"accept_any_token": True, **options.get(name, {})}
            simulator = simulator_class(name)(ca=local_ca, **chosen)
            await simulator.start()
            running.append(simulator)
            out[name] = simulator
        return out

    yield start
    for simulator in running:
        await simulator.stop()


@pytest.fixture
async def sims(start_simulators: StartSimulators) -> dict[str, Simulator]:
    return await start_simulators()


@pytest.fixture
async def start_server(tmp_path: Path, ca_file: Path) -> AsyncIterator[StartServer]:
    """Start `pushgate serve` (or `worker`) processes; whatever still runs is killed at the end."""
    started: list[ServerProcess] = []
    counter = iter(range(1000))

    async def start(
        database_url: str, sims: dict[str, Simulator], *args: str, **settings: Any
    ) -> ServerProcess:
        env = server_env(database_url, sims, ca_file, **settings)
        process = ServerProcess(env, tmp_path / f"server-{next(counter)}.log", args or ("serve",))
        started.append(process)
        return await process.start()

    yield start
    for process in started:
        await process.close()


@pytest.fixture
async def gateway_for() -> AsyncIterator[GatewayFor]:
    """A client of a running server's API (closed at the end)."""
    gateways: list[Gateway] = []

    def make(server: ServerProcess) -> Gateway:
        assert server.url is not None
        gateway = Gateway(server.url)
        gateways.append(gateway)
        return gateway

    yield make
    for gateway in gateways:
        await gateway.aclose()
