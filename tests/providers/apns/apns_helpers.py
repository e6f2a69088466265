"""Helpers for the APNs tests: an independent HTTP/2 client and JWT maker (httpx + pyjwt)."""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx
import jwt as pyjwt


def make_jwt(creds: dict[str, Any], iat: float, **header: Any) -> str:
    """A provider token made by pyjwt: independent of the client under test."""
    return pyjwt.encode(
        {"iss": creds["team_id"], "iat": int(iat)},
        creds["key"],
        algorithm=header.pop("alg", "ES256"),
        headers={"kid": creds["key_id"], **header},
    )


class RawClient:
    """httpx over HTTP/2: sends exactly the headers a test gives."""

    def __init__(self, http: httpx.AsyncClient, base: str) -> None:
        self.http = http
        self.base = base

    async def push(
        self,
        token: str | None = None,
        payload: Any = None,
        *,
        headers: dict[str, str] | list[tuple[str, str]] | None = None,
        body: bytes | None = None,
        method: str = "POST",
        path: str | None = None,
    ) -> httpx.Response:
        token = token or secrets.token_hex(32)
        if body is None:
            body = json.dumps(payload if payload is not None else {"aps": {"alert": "hi"}}).encode()
        return await self.http.request(
            method, self.base + (path or f"/3/device/{token}"), content=body, headers=headers or {}
        )
