"""`pushgate serve` reaches Web Push and WNS through ``providers.<name>.base_url`` and ``ca_file``.

The library clients take their endpoint from ``base_url`` (README, "Providers"): WNS
fetches its access token there and calls channel URIs on its host; Web Push allows it as
a push service of its own. The server, configured the operator's way (``PUSHGATE_*``
variables), must do the same: no ``token_url``, and the allow-list only if wanted.
"""

from __future__ import annotations

from typing import Any

import pytest

from pushgate.simulators.webpush import WebPushSimulator
from pushgate.simulators.wns import WNSSimulator
from tests.e2e.e2e_helpers import (
    GatewayFor,
    StartServer,
    StartSimulators,
    credentials_for,
    host_of,
    sim_of,
)

CASES = {
    "wns": {},
    # As reported: base_url with the simulator's host on the allow-list as well.
    "wns-allowed-hosts": {"allowed_hosts": True},
    "webpush": {},
}


@pytest.mark.parametrize("case", list(CASES))
async def test_a_send_reaches_the_simulator_named_by_base_url(
    case: str, database_url: str, start_simulators: StartSimulators, start_server: StartServer,
    gateway_for: GatewayFor,
) -> None:
    provider = case.split("-", 1)[0]
    sims = await start_simulators((provider,))
    url = sims[provider].url
    settings: dict[str, Any] = {f"providers__{provider}__base_url": url}
    if CASES[case].get("allowed_hosts"):
        settings[f"providers__{provider}__allowed_hosts"] = [host_of(url)]
    server = await start_server(database_url, sims, **settings)
    api = gateway_for(server)
    app_id, auth = await api.create_app()
    await api.put_credentials(app_id, provider, credentials_for(sims)[provider])
    device: dict[str, Any] = {"provider": provider}
    if provider == "wns":
        device["token"] = sim_of(sims, "wns", WNSSimulator).channel_uri("c1")
    else:
        device["subscription"] = sim_of(sims, "webpush", WebPushSimulator).subscribe()
    await api.register(auth, device)

    send = await api.send(auth, {"title": "Through base_url"}, {"all": True})
    status = await api.wait_done(auth, send["id"], within=30)

    assert (status["sent"], status["pending"]) == (1, 0), status
    assert len(sims[provider].accepted) == 1
    assert await server.terminate() == 0
    log = server.log_tail(100_000)
    assert "login.live.com" not in log
    assert "Traceback" not in log
