"""`pushgate demo --exit`: simulators, a server, devices and a send, with no set-up."""

from __future__ import annotations

import asyncio
import os
import re

from tests.e2e.e2e_helpers import pushgate_command


async def test_demo_delivers_to_every_simulated_provider_and_exits() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUSHGATE_")}
    env["COLUMNS"] = "200"
    process = await asyncio.create_subprocess_exec(
        *pushgate_command(), "demo", "--exit", "--devices", "20", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    text = output.decode()
    assert process.returncode == 0, text
    # 20 devices per provider, 2 of each uninstalled at their provider.
    assert re.search(r"│\s+80 │\s+72 │\s+8 │\s+0 │\s+0 │\s+0 │", text), text
    for provider in ("apns", "fcm", "webpush", "wns"):
        assert re.search(rf"│ {provider}\s+│\s+18 │", text), text
    assert re.search(r"demo app API key: pg_\w+_\S+", text)
    assert "curl -s http://127.0.0.1:" in text
    assert "Traceback" not in text
