"""Who calls the Pushpad-compatible API, and which projects that caller may touch.

Pushpad's token belongs to an account that owns projects and senders; its
client sends it as ``Authorization: Bearer <token>`` (pushpad-python 2.x)
or ``Authorization: Token token="<token>"`` (the 1.x libraries,
https://pushpad.xyz/docs/rest_api). pushgate reads both and maps:

- the server's ``admin_token`` → the account: every project (app) and every
  sender, and the only caller that may create or delete projects and manage
  senders;
- an app's API key → a token limited to that one project (others are 404,
  as a missing one; account-level calls are 403).
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from pushgate.registry import authenticate, get_app
from pushgate.server.deps import ServicesDep
from pushgate.server.errors import ApiError

_TOKEN_FORMS = (
    re.compile(r'^Token\s+token="([^"]+)"$', re.IGNORECASE),
    re.compile(r"^Bearer\s+(\S+)$", re.IGNORECASE),
)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="pushgate"'}


@dataclass(frozen=True, slots=True)
class Caller:
    admin: bool
    app_id: int | None  # the project an app key is limited to (None: the admin token)

    def project(self, svc: ServicesDep, project_id: int) -> int:
        """``project_id`` if this caller may use it (404 otherwise, as for a missing project)."""
        if self.admin:
            with svc.db.session(write=False) as session:
                if get_app(session, project_id) is None:
                    raise ApiError(404, "not_found", "project not found")
            return project_id
        if project_id != self.app_id:
            raise ApiError(404, "not_found", "project not found")
        return project_id

    def require_account(self) -> None:
        """Calls on the account (projects to create or delete, senders): the admin token only."""
        if not self.admin:
            raise ApiError(403, "forbidden", "an app's API key acts on its own project only; "
                                             "use the server's admin token for this call")


def token_of(request: Request) -> str | None:
    header = (request.headers.get("authorization") or "").strip()
    for form in _TOKEN_FORMS:
        found = form.match(header)
        if found:
            return found.group(1)
    return None


def pushpad_caller(request: Request, svc: ServicesDep) -> Caller:
    token = token_of(request)
    if token is None:
        raise ApiError(401, "unauthorized", 'the token is required: Authorization: Bearer <token> '
                       'or Token token="<token>"', field="header.authorization", headers=_CHALLENGE)
    admin = svc.settings.admin_token
    if admin is not None and hmac.compare_digest(token.encode(), admin.get_secret_value().encode()):
        return Caller(admin=True, app_id=None)
    with svc.db.session(write=False) as session:
        app_id = authenticate(session, token)
    if app_id is None:
        raise ApiError(401, "unauthorized", "the token is unknown or revoked", field="header.authorization",
                       headers=_CHALLENGE)
    return Caller(admin=False, app_id=app_id)


CallerDep = Annotated[Caller, Depends(pushpad_caller)]
