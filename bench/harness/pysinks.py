"""Fallback sinks when nginx is missing: pushgate's own simulators, in a separate process.

Used by ``--quick`` only (the CI smoke must run on a machine without
nginx), and said so in the results. The simulators check what they receive
(JWT, headers, VAPID, decryptable bodies), so they are much slower than
nginx and the figures are not comparable with a full run. The APNs
simulator has recording off; the Web Push simulator only accepts its own
subscriptions, so it makes them and hands them over in a file.

Protocol: JSON config on stdin's first line (``n`` subscriptions, ``info``
path); the process writes ``info`` (URLs, CA, credentials, subscriptions
file) and serves until stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from pushgate.simulators.apns import APNsSimulator
from pushgate.simulators.tls import LocalCA
from pushgate.simulators.webpush import WebPushSimulator


async def serve(config: dict[str, Any]) -> None:
    ca = LocalCA.create()
    apns = APNsSimulator(ca=ca, record=False, accept_any_token=True)  # a sink: any token is a device
    webpush = WebPushSimulator(ca=ca)
    await apns.start()
    await webpush.start()
    info = Path(config["info"])
    subs_file = info.with_name("pysink-subscriptions.json")
    subs_file.write_text(json.dumps([webpush.subscribe() for _ in range(int(config["n"]))]))
    ca_file = ca.write_ca(info.with_name("pysink-ca.pem"))
    demo = apns.demo_credentials()
    data = json.dumps({
        "apns": apns.url, "webpush": webpush.origin, "ca_file": str(ca_file),
        "apns_credentials": {k: demo[k] for k in ("key", "key_id", "team_id", "topic")},
        "subscriptions_file": str(subs_file), "vapid_private_key": webpush.demo_key.private_pem().decode(),
    })
    info.write_text(data)  # noqa: ASYNC240 (once, before anything is served)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the harness closes stdin
    await apns.stop()
    await webpush.stop()


if __name__ == "__main__":
    asyncio.run(serve(json.loads(sys.stdin.readline())))
