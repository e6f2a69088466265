"""Topic subscriptions for device tokens: the Instance ID batch API.

``POST https://iid.googleapis.com/iid/v1:batchAdd`` (and ``:batchRemove``)
with ``{"to": "/topics/<name>", "registration_tokens": [...]}``, an OAuth
access token of the service account and ``access_token_auth: true``, at
most 1000 tokens a request; the answer's ``results`` has one entry per
token, ``{}`` or ``{"error": "..."}``. This is what firebase-admin's
``subscribe_to_topic`` does (FCM HTTP v1 has no topic management of its
own).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from pushgate.errors import ConfigurationError, TransportError

IID_URL = "https://iid.googleapis.com"
MAX_BATCH = 1000


@dataclass(frozen=True, slots=True)
class TopicError:
    index: int  # the token's position in the list given
    reason: str


@dataclass(slots=True)
class TopicManagementResult:
    """Like firebase-admin's ``TopicManagementResponse``."""

    success_count: int = 0
    failure_count: int = 0
    errors: list[TopicError] = field(default_factory=list)


async def manage(
    http: httpx.AsyncClient,
    iid_url: str,
    access_token: Callable[[], Awaitable[str]],
    operation: str,
    tokens: Sequence[str],
    topic: str,
    batch_size: int,
) -> TopicManagementResult:
    """``operation``: ``batchAdd`` or ``batchRemove``; ``topic`` is a bare, checked name."""
    result = TopicManagementResult()
    size = max(1, min(batch_size, MAX_BATCH))
    for start in range(0, len(tokens), size):
        batch = list(tokens[start:start + size])
        headers = {"authorization": f"Bearer {await access_token()}", "access_token_auth": "true"}
        body = {"to": f"/topics/{topic}", "registration_tokens": batch}
        try:
            response = await http.post(f"{iid_url}/iid/v1:{operation}", json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise TransportError(f"Instance ID API unreachable: {type(exc).__name__}") from exc
        if response.status_code in (401, 403):
            raise ConfigurationError(f"Instance ID API refused the credentials ({response.status_code})")
        if response.status_code != 200:
            raise TransportError(f"Instance ID API answered {response.status_code}")
        answers: list[Any] = response.json().get("results") or []
        for offset, answer in enumerate(answers):
            error = answer.get("error") if isinstance(answer, dict) else "UNKNOWN"
            if error:
                result.failure_count += 1
                result.errors.append(TopicError(start + offset, str(error)))
            else:
                result.success_count += 1
    return result
