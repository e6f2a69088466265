"""PostgreSQL and Redis servers of a test's own, to stop and start in the middle of a broadcast.

The shared servers (127.0.0.1:5432, 127.0.0.1:6379) serve other tests and
people at the same time and are never restarted. A restart test starts its
own: a PostgreSQL cluster made by ``initdb`` in a temporary directory (one
per test session; each test creates a database in it), and a Redis server
per test with the persistence settings under test (docs/scale-out.md §5).
Both listen on a free port of 127.0.0.1. PostgreSQL refuses to run as
root: a test run as root runs its tools as ``postgres`` (or
``PUSHGATE_TEST_PG_USER``). Missing binaries skip the tests that need
them, except in CI (``CI`` set), where they are a failure.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def need_binary(name: str) -> str:
    """The binary's path; skipped when it is missing (a failure in CI)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not on PATH: the restart tests start a {name.split('-')[0]} of their own"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def _answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _as_server_user() -> dict[str, object]:
    """subprocess options that run PostgreSQL's tools as ``postgres`` when we are root
    (initdb and the server refuse to run as root)."""
    if os.geteuid() != 0:
        return {}
    account = pwd.getpwnam(os.environ.get("PUSHGATE_TEST_PG_USER", "postgres"))
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _owned_directory() -> Path:
    """A temporary directory the server's user owns (pytest's tmp_path is root's, mode 0700)."""
    directory = Path(tempfile.mkdtemp(prefix="pushgate-own-postgres-"))
    options = _as_server_user()
    if options:
        os.chown(directory, int(str(options["user"])), int(str(options["group"])))
    return directory


@dataclass
class OwnPostgres:
    """A PostgreSQL cluster in ``directory`` on ``port``, started and stopped with pg_ctl."""

    directory: Path
    port: int
    pg_ctl: str

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _ctl(self, *args: str) -> None:
        subprocess.run([self.pg_ctl, "-D", str(self.directory), *args], check=True,  # type: ignore[call-overload]
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120, **_as_server_user())

    def start(self) -> None:
        # -k: the Unix socket in the test's directory, not /var/run/postgresql (someone else's).
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-o", options, "-l", str(self.directory / "server.log"), "-w", "-t", "60", "start")

    def stop(self, mode: str = "immediate") -> None:
        """``immediate``: no shutdown checkpoint, every connection cut (as a crash; recovery
        replays the write-ahead log at the next start)."""
        self._ctl("-m", mode, "-w", "stop")

    def create_database(self) -> str:
        name = f"restart_{secrets.token_hex(4)}"
        engine = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        finally:
            engine.dispose()
        return self.url(name)


@dataclass
class OwnRedis:
    """One redis-server process with the given persistence, restartable on the same port and files."""

    binary: str
    directory: Path
    port: int
    appendonly: bool
    appendfsync: str = "everysec"
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", self.appendfsync,
                "--dir", str(self.directory), "--maxmemory-policy", "noeviction",
                "--logfile", str(self.directory / "redis.log")]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with redis.Redis.from_url(self.url, socket_timeout=1) as client:
                    # Loading the AOF answers -LOADING until done: wait for a real answer.
                    client.dbsize()
                    return
            except redis.RedisError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise AssertionError(f"redis-server did not start: {self.log_tail()}") from None
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: the Redis process dies as in a crash (the OS keeps what it was handed)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(START_TIMEOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while _answers(self.port) and time.monotonic() < deadline:
            time.sleep(0.02)

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.directory / "redis.log").read_text(errors="replace")[-2000:]
        return ""


@pytest.fixture(scope="session")
def own_postgres() -> Iterator[OwnPostgres]:
    """A PostgreSQL cluster of this test session's own (initdb takes seconds: made once)."""
    initdb, pg_ctl = need_binary("initdb"), need_binary("pg_ctl")
    data = _owned_directory()
    subprocess.run([initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],  # type: ignore[call-overload]
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120,
                   **_as_server_user())
    server = OwnPostgres(data, free_port(), pg_ctl)
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            server.stop("fast")
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[Callable[..., OwnRedis]]:
    """Start a Redis of this test's own: ``own_redis(appendonly=True, appendfsync="always")``."""
    binary = need_binary("redis-server")
    started: list[OwnRedis] = []

    def start(*, appendonly: bool, appendfsync: str = "everysec") -> OwnRedis:
        directory = tmp_path / f"redis-{len(started)}"
        directory.mkdir()
        server = OwnRedis(binary, directory, free_port(), appendonly, appendfsync)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()
