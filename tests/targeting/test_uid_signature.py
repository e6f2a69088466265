"""Signed uids: the same hex HMAC-SHA256 as Pushpad's ``signature_for``."""

from __future__ import annotations

import hashlib
import hmac

import pushgate
from pushgate.uid_signature import signature_for, verify_signature


def test_signature_is_hex_hmac_sha256_of_the_uid() -> None:
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"
    expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert signature_for("Jefe", "what do ya want for nothing?") == expected
    assert pushgate.signature_for("k", "user-1") == hmac.new(b"k", b"user-1", hashlib.sha256).hexdigest()


def test_verify_accepts_the_signature_and_refuses_anything_else() -> None:
    good = signature_for("secret", "user-ü")
    assert verify_signature("secret", "user-ü", good)
    assert verify_signature("secret", "user-ü", good.upper())
    assert not verify_signature("other", "user-ü", good)
    assert not verify_signature("secret", "user-2", good)
    assert not verify_signature("secret", "user-ü", good[:-1])
    assert not verify_signature("secret", "user-ü", "")
