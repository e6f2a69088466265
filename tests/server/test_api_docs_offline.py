"""/docs works offline: Swagger UI's script, style and icon come from the package, not a CDN."""

from __future__ import annotations

import re

from tests.server.api_helpers import Api


async def test_docs_page_and_its_assets_are_served_locally(api: Api) -> None:
    page = await api.client.get("/docs")
    assert page.status_code == 200
    html = page.text
    assert "cdn." not in html
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", html)
    assert any(a.endswith(".js") for a in assets), html
    assert any(a.endswith(".css") for a in assets), html
    for asset in assets:
        assert asset.startswith("/"), asset  # same origin
        answer = await api.client.get(asset)
        assert answer.status_code == 200, asset
        assert answer.content, asset
    assert "/openapi.json" in html
