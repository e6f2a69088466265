"""uid signatures and user tokens: the two things an app's backend computes with its secret."""

from __future__ import annotations

import hashlib
import hmac
import time

import jwt
import pytest

from pushgate.uid_signature import signature_for, verify, verify_signature
from pushgate.user_token import MAX_TTL, UserTokenError, mint_user_token, verify_user_token

SECRET = "sk_" + "s" * 40


def test_the_signature_is_the_hex_hmac_sha256_of_the_uid() -> None:
    expected = hmac.new(SECRET.encode(), "ålice".encode(), hashlib.sha256).hexdigest()
    assert signature_for(SECRET, "ålice") == expected
    assert signature_for(SECRET.encode(), "ålice") == expected
    assert verify(SECRET, "ålice", expected.upper())
    assert not verify(SECRET, "bob", expected)
    assert not verify("another-secret", "ålice", expected)
    assert not verify(SECRET, "ålice", None)
    assert not verify(SECRET, "ålice", "")
    assert verify_signature(SECRET, "ålice", expected)


def test_a_user_token_names_its_user_for_its_app_only() -> None:
    token = mint_user_token(SECRET, "pk_app", "alice", ttl=600, now=1_000_000)
    assert verify_user_token(token, SECRET, "pk_app", now=1_000_100) == "alice"
    with pytest.raises(UserTokenError, match="expired"):
        verify_user_token(token, SECRET, "pk_app", now=1_000_600)
    with pytest.raises(UserTokenError, match="another app"):
        verify_user_token(token, SECRET, "pk_other", now=1_000_100)
    with pytest.raises(UserTokenError, match="not valid"):
        verify_user_token(token, "x" * 43, "pk_app", now=1_000_100)
    with pytest.raises(UserTokenError, match="not valid"):
        verify_user_token(token[:-2], SECRET, "pk_app", now=1_000_100)


def test_a_token_from_any_jwt_library_works_and_its_limits_hold() -> None:
    now = int(time.time())
    foreign = jwt.encode({"sub": "bob", "aud": "pushgate:pk_app", "iat": now, "exp": now + 60}, SECRET,
                         algorithm="HS256")
    assert verify_user_token(foreign, SECRET, "pk_app") == "bob"
    unsigned = jwt.encode({"sub": "bob", "aud": "pushgate:pk_app", "exp": now + 60}, "", algorithm="none")
    with pytest.raises(UserTokenError):
        verify_user_token(unsigned, SECRET, "pk_app")
    forever = jwt.encode({"sub": "bob", "aud": "pushgate:pk_app", "iat": now, "exp": now + MAX_TTL + 60},
                         SECRET, algorithm="HS256")
    with pytest.raises(UserTokenError, match="longer"):
        verify_user_token(forever, SECRET, "pk_app")
    with pytest.raises(ValueError, match="ttl"):
        mint_user_token(SECRET, "pk_app", "bob", ttl=MAX_TTL + 1)
    with pytest.raises(ValueError, match="user"):
        mint_user_token(SECRET, "pk_app", "")
