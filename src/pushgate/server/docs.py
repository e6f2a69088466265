"""``/docs`` served from the package, so it works without internet access.

FastAPI's default page loads Swagger UI's script and style from a CDN: on a
server with no outbound access (common for a push gateway behind a
firewall) the page stays blank. The assets come from the
``swagger-ui-bundle`` package (Swagger UI, Apache-2.0 licence, shipped with
its licence in that package) and are served under ``/docs/assets``.
ReDoc is not offered: it has no packaged assets.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ASSETS = "/docs/assets"


def _assets_dir() -> Path:
    # Found without importing the package: nothing of it is needed at run time but files.
    spec = importlib.util.find_spec("swagger_ui_bundle")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-bundle package is missing: pip install 'pushgate[server]'")
    base = Path(next(iter(spec.submodule_search_locations)))
    found = sorted((base / "vendor").glob("swagger-ui-*"))
    if not found:
        raise RuntimeError(f"no Swagger UI assets under {base / 'vendor'}")
    return found[-1]


def install(app: FastAPI, title: str) -> None:
    """Serve Swagger UI at ``/docs`` with local assets (create the app with ``docs_url=None``)."""
    app.mount(ASSETS, StaticFiles(directory=_assets_dir()), name="swagger-ui-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{title} — API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        )
