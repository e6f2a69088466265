"""The Web SDK's browser files, shipped as package data (hand-written JavaScript, no build step).

- ``pushgate-core.js``: the SDK itself (``createPushgate()``), served as a
  classic script (``/sdk/pushgate.js``, which sets ``window.pushgate``) and
  as an ES module (``/sdk/pushgate.mjs``, ``export default pushgate``);
- ``pushgate-sw.js``: the service worker a site hosts at its own origin (a
  copy, or ``importScripts`` of pushgate's);
- ``demo.html``: the demo page (``/sdk/demo?app=pk_…``).

Every file names pushgate's URL where it says ``__PUSHGATE_SERVER__``;
:func:`asset` fills it in, so the SDK calls and the service worker reports
to the pushgate that served them (docs/websdk.md).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

__all__ = ["ASSETS", "asset"]

_PLACEHOLDER = "__PUSHGATE_SERVER__"
_CLASSIC = "(function (root) {{\n{core}\nroot.pushgate = createPushgate();\n}})(self);\n"
_MODULE = "{core}\nconst pushgate = createPushgate();\nexport default pushgate;\nexport {{ pushgate }};\n"

# Served name → (content type, how it is made)
ASSETS = {
    "pushgate.js": "text/javascript; charset=utf-8",
    "pushgate.mjs": "text/javascript; charset=utf-8",
    "pushgate-sw.js": "text/javascript; charset=utf-8",
    "demo.html": "text/html; charset=utf-8",
}


@cache
def _source(name: str) -> str:
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def asset(name: str, server: str) -> str:
    """The file ``name`` of :data:`ASSETS` as pushgate at ``server`` serves it."""
    if name == "pushgate.js":
        text = _CLASSIC.format(core=_source("pushgate-core.js"))
    elif name == "pushgate.mjs":
        text = _MODULE.format(core=_source("pushgate-core.js"))
    elif name in ASSETS:
        text = _source(name)
    else:
        raise KeyError(name)
    # A JSON string literal minus its quotes: the URL cannot break out of the JS string.
    quoted = json.dumps(server.rstrip("/"))[1:-1].replace("<", "\\u003c")
    return text.replace(_PLACEHOLDER, quoted)
