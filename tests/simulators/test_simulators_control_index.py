"""``GET /__control/`` lists every control route of a simulator, and
docs/simulators.md documents each one."""

from __future__ import annotations

import re
import ssl
from pathlib import Path

import httpx
import pytest

from pushgate.simulators.registry import SIMULATORS, simulator_class
from pushgate.simulators.tls import LocalCA

DOC = (Path(__file__).resolve().parents[2] / "docs" / "simulators.md").read_text()


@pytest.mark.parametrize("name", list(SIMULATORS))
async def test_the_control_index_lists_every_route(name: str, local_ca: LocalCA, tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    local_ca.write_ca(ca_file)
    verify = ssl.create_default_context(cafile=ca_file)
    async with simulator_class(name)(ca=local_ca) as sim, httpx.AsyncClient(verify=verify) as http:
        answer = await http.get(f"{sim.url}/__control/")
    assert answer.status_code == 200, answer.text
    routes = answer.json()["routes"]
    listed = {(route["method"], route["path"]) for route in routes}
    registered = {(method, f"/__control/{path}") for method, path in sim.control_routes()}
    assert listed == registered
    assert ("GET", "/__control/") in listed
    assert ("POST", "/__control/faults") in listed
    for route in routes:
        assert route["description"].strip(), route
        assert "\n" not in route["description"], route


@pytest.mark.parametrize("name", list(SIMULATORS))
def test_docs_describe_every_control_route(name: str, local_ca: LocalCA) -> None:
    sim = simulator_class(name)(ca=local_ca)
    documented = set(re.findall(r"^\| `(GET|POST|DELETE|PUT) ([^`]*)`", DOC, re.MULTILINE))
    documented = {(method, path.removeprefix("/__control/")) for method, path in documented}
    routes = sim.control_routes()
    missing = [f"{method} {path}" for method, path in routes if (method, path) not in documented]
    assert not missing, f"docs/simulators.md does not list: {missing}"
