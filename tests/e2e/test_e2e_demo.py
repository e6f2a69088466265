"""`pushgate demo`: simulators, a server, devices and a send, with no set-up."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path

from tests.e2e.e2e_helpers import pushgate_command


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")}
    env["COLUMNS"] = "200"
    env["TMPDIR"] = str(tmp)  # the demo's temporary folder goes here, so the test can see it go
    return env


def _left_in(folder: Path) -> list[Path]:
    return list(folder.iterdir())


async def test_demo_delivers_to_every_simulated_provider_and_exits(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        *pushgate_command(), "demo", "--exit", "--devices", "20", env=_env(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    text = output.decode()
    assert process.returncode == 0, text
    # 20 devices per provider, 2 of each uninstalled at their provider after they registered.
    assert re.search(r"│\s+80 │\s+72 │\s+8 │\s+0 │\s+0 │\s+0 │", text), text
    for provider in ("apns", "fcm", "webpush", "wns"):
        assert re.search(rf"│ {provider}\s+│\s+18 │", text), text
    # The story is true: the registry deactivated exactly the devices the send found dead.
    assert re.search(r"devices deactivated \(GET /v1/devices\?active=false\): 8\b", text), text
    assert re.search(r"demo app API key: pg_\w+_\S+", text)
    # The server has stopped: no curl examples for it, and no files left behind.
    assert "curl" not in text, text
    assert _left_in(tmp_path) == [], text
    assert "Traceback" not in text


async def test_demo_cleans_up_on_ctrl_c(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        *pushgate_command(), "demo", "--devices", "3", env=_env(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    seen = b""
    async with asyncio.timeout(120):
        while b"Serving until Ctrl-C" not in seen:
            line = await process.stdout.readline()
            assert line, seen.decode()
            seen += line
        assert "curl -s http://127.0.0.1:" in seen.decode()
        process.send_signal(signal.SIGINT)
        rest, _ = await process.communicate()
    text = (seen + rest).decode()
    assert _left_in(tmp_path) == [], text
    assert "Traceback" not in text, text
