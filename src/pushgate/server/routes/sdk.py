"""``/sdk/…``: the Web SDK's browser files and the demo page (docs/websdk.md).

- ``/sdk/pushgate.js`` (classic script, ``window.pushgate``) and
  ``/sdk/pushgate.mjs`` (ES module);
- ``/sdk/pushgate-sw.js``: the service worker, to copy to the site's origin
  or to load there with ``importScripts``;
- ``/sdk/demo?app=pk_…``: a page that subscribes through the SDK.

Each names this server's URL (``public_url``, else the request's), so the
SDK registers and the service worker reports here. Scripts are served with
CORS open (they are public) and a short cache life, so a new SDK version
reaches browsers within minutes.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from pushgate.sdk import ASSETS, asset
from pushgate.server.deps import ServicesDep

router = APIRouter(prefix="/sdk", tags=["web sdk"], include_in_schema=False)

_CACHE = "public, max-age=300"


def _server(request: Request, svc: ServicesDep) -> str:
    configured = svc.settings.public_url
    return configured if configured else str(request.base_url)


def _serve(name: str, request: Request, svc: ServicesDep) -> Response:
    headers = {"Cache-Control": _CACHE, "X-Content-Type-Options": "nosniff"}
    if name.endswith(".js") or name.endswith(".mjs"):
        headers["Access-Control-Allow-Origin"] = "*"
    return Response(asset(name, _server(request, svc)), media_type=ASSETS[name], headers=headers)


@router.get("/pushgate.js")
def classic(request: Request, svc: ServicesDep) -> Response:
    return _serve("pushgate.js", request, svc)


@router.get("/pushgate.mjs")
def module(request: Request, svc: ServicesDep) -> Response:
    return _serve("pushgate.mjs", request, svc)


@router.get("/pushgate-sw.js")
def service_worker(request: Request, svc: ServicesDep) -> Response:
    return _serve("pushgate-sw.js", request, svc)


@router.get("/demo")
def demo(request: Request, svc: ServicesDep) -> Response:
    return _serve("demo.html", request, svc)
