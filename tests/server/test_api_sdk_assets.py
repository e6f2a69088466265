"""/sdk/…: the SDK, the service worker and the demo page, naming the server that served them."""

from __future__ import annotations

from pushgate.sdk import asset
from tests.server.api_helpers import Api
from tests.server.conftest import MakeApi


async def test_the_classic_and_module_builds_and_the_worker(api: Api) -> None:
    classic = await api.client.get("/sdk/pushgate.js")
    assert classic.status_code == 200
    assert classic.headers["content-type"].startswith("text/javascript")
    assert classic.headers["access-control-allow-origin"] == "*"
    assert "root.pushgate = createPushgate();" in classic.text
    assert 'var PUSHGATE_SERVER = "http://pushgate.test";' in classic.text
    module = await api.client.get("/sdk/pushgate.mjs")
    assert "export default pushgate;" in module.text
    assert "root.pushgate" not in module.text
    worker = await api.client.get("/sdk/pushgate-sw.js")
    assert 'var SERVER = "http://pushgate.test";' in worker.text
    assert 'importScripts("http://pushgate.test/sdk/pushgate-sw.js")' in worker.text  # the one-line form
    demo = await api.client.get("/sdk/demo")
    assert demo.headers["content-type"].startswith("text/html")
    assert '<script src="pushgate.js"></script>' in demo.text
    assert (await api.client.get("/sdk/other.js")).status_code == 404


async def test_public_url_names_the_server_behind_a_proxy(make_api: MakeApi) -> None:
    api = await make_api(public_url="https://push.example.com/gateway")
    worker = await api.client.get("/sdk/pushgate-sw.js")
    assert 'var SERVER = "https://push.example.com/gateway";' in worker.text


def test_a_url_cannot_break_out_of_the_script_string() -> None:
    text = asset("pushgate-sw.js", 'https://x.example/"</script><script>alert(1)//')
    assert '\\"\\u003c/script>' in text
    assert "</script>" not in text
