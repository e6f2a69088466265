"""Admin users of the web UI: passwords, lock-out, app grants, server-side sessions.

Passwords are hashed with scrypt (RFC 7914) from the standard library,
with a random 16-byte salt and the parameters stored in the hash, so they
can be raised later without invalidating older hashes:
``scrypt$<log2 N>$<r>$<p>$<salt b64>$<hash b64>``. N = 2^15, r = 8, p = 1
is OWASP's Password Storage Cheat Sheet's scrypt setting (32 MiB, a few
tens of milliseconds per attempt).

Lock-out: ``max_failures`` wrong passwords in a row lock the account for
``lockout``; a correct password while locked is refused too (otherwise
the lock would only slow a guesser down), and a successful login resets
the count. An unknown user name costs the same scrypt work as a known one,
so response times do not tell which names exist.

Sessions: the browser holds a random token; the table holds its SHA-256,
the session's CSRF token (synchronizer-token pattern, OWASP CSRF
Prevention Cheat Sheet) and its expiry. Functions take a Session and never
commit, as everywhere in the registry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pushgate.registry._errors import ValidationError
from pushgate.registry.admin_tables import AdminGrant, AdminSession, AdminUser
from pushgate.registry.apps import require_app
from pushgate.registry.models import App, utcnow

SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P = 15, 8, 1
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
_USERNAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@+-")
# Hashed for unknown user names, so a miss costs what a wrong password costs.
_DUMMY_HASH = "scrypt$15$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def _scrypt(password: str, salt: bytes, log_n: int, r: int, p: int) -> bytes:
    n = 1 << log_n
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32,
                          maxmem=128 * r * (n + p + 2))


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P)
    return "$".join(("scrypt", str(SCRYPT_LOG_N), str(SCRYPT_R), str(SCRYPT_P),
                     base64.b64encode(salt).decode(), base64.b64encode(digest).decode()))


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, log_n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = _scrypt(password, base64.b64decode(salt), int(log_n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(computed, base64.b64decode(digest))


def check_password(password: str) -> str:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ValidationError("password",
                              f"must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters")
    return password


def check_username(username: str) -> str:
    if not 1 <= len(username) <= 100 or not set(username) <= _USERNAME_CHARS:
        raise ValidationError("username", "1 to 100 characters: letters, digits and . _ @ + -")
    return username


def create_admin_user(
    session: Session, username: str, password: str, *, superuser: bool = False, now: datetime | None = None
) -> AdminUser:
    check_username(username)
    if get_admin_user(session, username) is not None:
        raise ValidationError("username", f"an admin user {username!r} exists")
    user = AdminUser(username=username, password_hash=hash_password(check_password(password)),
                     superuser=superuser, failed_logins=0, created_at=now or utcnow())
    session.add(user)
    session.flush()
    return user


def get_admin_user(session: Session, username: str) -> AdminUser | None:
    return session.scalars(select(AdminUser).where(AdminUser.username == username)).first()


def require_admin_user(session: Session, username: str) -> AdminUser:
    user = get_admin_user(session, username)
    if user is None:
        raise ValidationError("username", f"no admin user {username!r}")
    return user


def list_admin_users(session: Session) -> list[AdminUser]:
    return list(session.scalars(select(AdminUser).order_by(AdminUser.username)))


def set_admin_password(session: Session, username: str, password: str) -> AdminUser:
    """A new password; it also unlocks the account and ends its sessions."""
    user = require_admin_user(session, username)
    user.password_hash = hash_password(check_password(password))
    user.failed_logins = 0
    user.locked_until = None
    session.execute(delete(AdminSession).where(AdminSession.user_id == user.id))
    return user


def delete_admin_user(session: Session, username: str) -> bool:
    user = get_admin_user(session, username)
    if user is None:
        return False
    session.execute(delete(AdminSession).where(AdminSession.user_id == user.id))
    session.execute(delete(AdminGrant).where(AdminGrant.user_id == user.id))
    session.delete(user)
    return True


def grant_app(session: Session, username: str, app_id: int) -> None:
    user = require_admin_user(session, username)
    require_app(session, app_id)
    if session.get(AdminGrant, (user.id, app_id)) is None:
        session.add(AdminGrant(user_id=user.id, app_id=app_id))
        session.flush()


def revoke_app(session: Session, username: str, app_id: int) -> bool:
    user = require_admin_user(session, username)
    result = session.execute(delete(AdminGrant).where(AdminGrant.user_id == user.id,
                                                      AdminGrant.app_id == app_id))
    return bool(getattr(result, "rowcount", 0))


def granted_app_ids(session: Session, user: AdminUser) -> set[int] | None:
    """The apps ``user`` may see; None for a superuser (every app)."""
    if user.superuser:
        return None
    return set(session.scalars(select(AdminGrant.app_id).where(AdminGrant.user_id == user.id)))


def visible_apps(session: Session, app_ids: Iterable[int] | None) -> list[App]:
    """The apps of ``app_ids`` (an admin's grants; None: every app), by name."""
    query = select(App).order_by(App.name)
    if app_ids is not None:
        query = query.where(App.id.in_(list(app_ids)))
    return list(session.scalars(query))


@dataclass(frozen=True, slots=True)
class LoginResult:
    user: AdminUser | None  # set when the password was right and the account not locked
    locked_until: datetime | None = None  # set when the account is (now) locked


def attempt_login(
    session: Session,
    username: str,
    password: str,
    *,
    max_failures: int,
    lockout: timedelta,
    now: datetime | None = None,
) -> LoginResult:
    """Check a password, counting failures; see the module docstring for the lock-out rule."""
    now = now or utcnow()
    user = get_admin_user(session, username)
    if user is None:
        verify_password(password, _DUMMY_HASH)
        return LoginResult(None)
    if user.locked_until is not None and user.locked_until > now:
        verify_password(password, _DUMMY_HASH)
        return LoginResult(None, user.locked_until)
    if verify_password(password, user.password_hash):
        user.failed_logins = 0
        user.locked_until = None
        user.last_login_at = now
        return LoginResult(user)
    user.failed_logins += 1
    if user.failed_logins >= max_failures:
        user.failed_logins = 0
        user.locked_until = now + lockout
        return LoginResult(None, user.locked_until)
    return LoginResult(None)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_admin_session(
    session: Session, user: AdminUser, *, lifetime: timedelta, now: datetime | None = None
) -> str:
    """A new session for ``user``; returns the token for the browser (stored only hashed)."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    session.execute(delete(AdminSession).where(AdminSession.expires_at <= now))  # housekeeping
    session.add(AdminSession(token_hash=_token_hash(token), user_id=user.id,
                             csrf_token=secrets.token_urlsafe(32), created_at=now, expires_at=now + lifetime))
    session.flush()
    return token


@dataclass(frozen=True, slots=True)
class ActiveSession:
    user_id: int
    username: str
    superuser: bool
    csrf_token: str
    app_ids: frozenset[int] | None  # None: every app (superuser)

    def may_see(self, app_id: int) -> bool:
        return self.app_ids is None or app_id in self.app_ids


def find_admin_session(session: Session, token: str, *, now: datetime | None = None) -> ActiveSession | None:
    """The live session of ``token`` with its user and grants; None if unknown or expired."""
    row = session.get(AdminSession, _token_hash(token))
    if row is None or row.expires_at <= (now or utcnow()):
        return None
    user = session.get(AdminUser, row.user_id)
    if user is None:
        return None
    grants = granted_app_ids(session, user)
    return ActiveSession(user.id, user.username, user.superuser, row.csrf_token,
                         None if grants is None else frozenset(grants))


def end_admin_session(session: Session, token: str) -> None:
    session.execute(delete(AdminSession).where(AdminSession.token_hash == _token_hash(token)))


__all__ = [
    "ActiveSession",
    "LoginResult",
    "attempt_login",
    "check_password",
    "create_admin_user",
    "delete_admin_user",
    "end_admin_session",
    "find_admin_session",
    "get_admin_user",
    "grant_app",
    "granted_app_ids",
    "hash_password",
    "list_admin_users",
    "revoke_app",
    "set_admin_password",
    "start_admin_session",
    "verify_password",
    "visible_apps",
]
