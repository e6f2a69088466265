"""An idle ``pushgate serve`` stays small: the send stacks, rich, the optional APIs and the PostgreSQL
dialect load only when used, Alembic never.

Each case runs the serve path in a fresh interpreter (the CLI module, the
API and the workers, on a real SQLite file), waits until ``/ready`` answers
200, and lists which heavy modules that process has imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# Imported only when they are used: sending, storing credentials, printing tables, the first
# request to the admin UI, the Pushkin and Pushpad routes or the Web SDK's (server/deferred.py), a
# PostgreSQL database (registry/partial_indexes.py), any command but serve and worker
# (pushgate.cli.main), a TOML settings file. Alembic runs in a child process that migrates the
# embedded database and exits. pydantic's legacy v1 package never loads in the service processes
# (pushgate.cli.service_run.keep_unused_modules_out).
HEAVY = (
    "alembic", "cryptography", "httpx", "jwt", "rich", "h2", "tomllib",
    "pushgate.crypto", "pushgate.providers.apns", "pushgate.providers.fcm",
    "pushgate.providers.webpush", "pushgate.providers.wns", "pushgate.simulators", "pushgate.transport",
    "pushgate.admin.web", "pushgate.admin.auth", "pushgate.server.pushpad", "pushgate.server.routes.pushkin",
    "pushgate.pushkin", "sqlalchemy.dialects.postgresql", "pushgate.cli.commands",
    "pushgate.server.routes.public_registration", "pushgate.server.routes.public_events",
    "pushgate.server.routes.sdk", "pydantic.v1",
)

CHILD = """
import asyncio, json, sys
import pushgate.cli  # what the `pushgate` script imports before it runs `serve`
from pushgate.cli.service_run import keep_unused_modules_out
keep_unused_modules_out()  # as run_serve does first
from pushgate.server import create_app
from pushgate.service.settings import Settings
from pushgate.service.runtime import serve

HEAVY = {heavy!r}

async def main() -> None:
    stop = asyncio.Event()
    answer: list[bytes] = []
    probes: list[asyncio.Task[None]] = []

    async def probe(url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /ready HTTP/1.1\\r\\nhost: x\\r\\nconnection: close\\r\\n\\r\\n")
        answer.append(await reader.read())
        writer.close()
        stop.set()

    def listening(url: str) -> None:
        probes.append(asyncio.get_running_loop().create_task(probe(url)))

    settings = Settings.load(None).model_copy(update={{"port": 0, "host": "127.0.0.1"}})
    await serve(settings, create_app, stop=stop, on_listening=listening, handle_signals=False, drain=1)
    loaded = sorted(m for m in HEAVY if any((n == m or n.startswith(m + ".")) and module is not None
                                            for n, module in list(sys.modules.items())))
    print(json.dumps({{"status": answer[0].split(b" ")[1].decode(), "loaded": loaded}}))

asyncio.run(main())
"""


def _serve_once(database: Path) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")}
    env["PUSHGATE_DATABASE_URL"] = f"sqlite:///{database}"
    done = subprocess.run([sys.executable, "-c", CHILD.format(heavy=HEAVY)], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_an_idle_server_loads_no_send_stack_and_migrates_without_alembic(tmp_path: Path) -> None:
    database = tmp_path / "pushgate.db"
    first = _serve_once(database)  # an empty file: the schema is created at start-up, by a child
    assert first == {"status": "200", "loaded": []}
    again = _serve_once(database)  # a current schema: nothing to migrate, no Alembic
    assert again == {"status": "200", "loaded": []}
