"""The Instance ID batch API of the FCM simulator: topic subscriptions.

``POST /iid/v1:batchAdd`` and ``/iid/v1:batchRemove`` with a service
account's OAuth bearer token, ``access_token_auth: true`` and
``{"to": "/topics/<name>", "registration_tokens": [...]}`` (at most 1000).
Each token gets ``{}`` or ``{"error": "INVALID_ARGUMENT"}`` (a token the
simulator never issued) in ``results``, in order.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from pushgate.simulators._server import SimResponse

if TYPE_CHECKING:
    from pushgate.simulators.fcm import FCMSimulator

IID_PATH = re.compile(r"/iid/v1:(batchAdd|batchRemove)")
TOPIC = re.compile(r"/topics/([a-zA-Z0-9\-_.~%]+)")
MAX_TOKENS = 1000


def _error(status: int, message: str) -> SimResponse:
    return SimResponse.json(status, {"error": message})


def handle_iid(sim: FCMSimulator, operation: str, authorization: str | None, token_auth: str | None,
               body: bytes) -> SimResponse:
    scheme, _, bearer = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or sim.oauth.lookup(bearer.strip()) is None:
        return _error(401, "Unauthorized")
    if (token_auth or "").lower() != "true":
        return _error(401, "access_token_auth: true is required with an OAuth token")
    try:
        request: Any = json.loads(body)
    except ValueError:
        return _error(400, "InvalidJson")
    match = TOPIC.fullmatch(str(request.get("to", ""))) if isinstance(request, dict) else None
    tokens = request.get("registration_tokens") if isinstance(request, dict) else None
    if match is None:
        return _error(400, "InvalidTopicName")
    if not isinstance(tokens, list) or not tokens or len(tokens) > MAX_TOKENS:
        return _error(400, f"registration_tokens: 1 to {MAX_TOKENS} tokens")
    sim.iid_batches += 1
    members = sim.topics.setdefault(match.group(1), set())
    results: list[dict[str, str]] = []
    for token in tokens:
        if not isinstance(token, str) or not sim.knows_token(token):
            results.append({"error": "INVALID_ARGUMENT"})
            continue
        if operation == "batchAdd":
            members.add(token)
        else:
            members.discard(token)
        results.append({})
    return SimResponse.json(200, {"results": results})
