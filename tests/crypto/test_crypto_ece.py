"""RFC 8188 / RFC 8291 encryption: the RFCs' worked examples, interop with the
independent ``http_ece`` library both ways, every decrypt check, and a
property-based round trip."""

from __future__ import annotations

import base64

import http_ece
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from pushgate.crypto import aesgcm, ece


def b64(text: str) -> bytes:
    text = "".join(text.split())
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# RFC 8291 §5 / Appendix A.
RFC8291 = {
    "plaintext": b"When I grow up, I want to be a watermelon",
    "as_private": b64("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"),
    "as_public": b64(
        "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
    ),
    "ua_private": b64("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"),
    "ua_public": b64(
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
    ),
    "salt": b64("DGv6ra1nlYgDCS1FRnbzlw"),
    "auth": b64("BTBZMqHH6r4Tts7J_aSIgg"),
    "body": b64(
        "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml"
        "mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT"
        "pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
    ),
}


def test_rfc8291_worked_example_encrypts_to_the_exact_bytes() -> None:
    body = ece.encrypt(
        RFC8291["plaintext"], RFC8291["ua_public"], RFC8291["auth"],
        salt=RFC8291["salt"], as_private=RFC8291["as_private"],
    )
    assert body == RFC8291["body"]
    assert body[21:86] == RFC8291["as_public"]


def test_rfc8291_worked_example_decrypts() -> None:
    assert ece.decrypt(RFC8291["body"], RFC8291["ua_private"], RFC8291["auth"]) == RFC8291["plaintext"]
    keys = ece.UserAgentKeys(RFC8291["ua_private"], RFC8291["auth"])
    assert keys.public_bytes == RFC8291["ua_public"]
    assert ece.decrypt(RFC8291["body"], keys) == RFC8291["plaintext"]


def test_rfc8188_section_3_1_walrus() -> None:
    ikm, salt = b64("yqdlZ-tYemfogSmv7Ws5PQ"), b64("I1BsxtFttlv3u_Oo94xnmw")
    expected = b64("I1BsxtFttlv3u_Oo94xnmwAAEAAA-NAVub2qFgBEuQKRapoZu-IxkIva3MEB1PD-ly8Thjg")
    assert ece.encrypt_content(b"I am the walrus", ikm, salt=salt, record_size=4096) == expected
    assert ece.decrypt_content(expected, ikm) == b"I am the walrus"


def test_rfc8188_section_3_2_two_records_and_a_keyid() -> None:
    body = b64(
        "uNCkWiNYzKTnBN9ji3-qWAAAABkCYTHOG8chz_gnvgOqdGYovxyjuqRyJFjEDyoF"
        "1Fvkj6hQPdPHI51OEUKEpgz3SsLWIqS_uA"
    )
    keys = {b"a1": b64("BO3ZVPxUlnLORbVGMpbT1Q")}
    assert ece.decrypt_content(body, lambda keyid: keys[keyid]) == b"I am the walrus"
    again = ece.encrypt_content(b"I am the walrus", keys[b"a1"], keyid=b"a1", record_size=25)
    assert ece.decrypt_content(again, keys[b"a1"]) == b"I am the walrus"


def _ua() -> tuple[ec.EllipticCurvePrivateKey, ece.UserAgentKeys]:
    keys = ece.generate_user_agent_keys()
    return keys.private_key, keys


def test_http_ece_decrypts_what_we_encrypt() -> None:
    private, keys = _ua()
    body = ece.encrypt(b"hello from pushgate", keys.public_bytes, keys.auth_secret)
    plain = http_ece.decrypt(body, private_key=private, auth_secret=keys.auth_secret, version="aes128gcm")
    assert plain == b"hello from pushgate"


def test_we_decrypt_what_http_ece_encrypts() -> None:
    _, keys = _ua()
    sender = ec.generate_private_key(ec.SECP256R1())
    body = http_ece.encrypt(
        b"hello from http_ece", private_key=sender, dh=keys.public_bytes,
        auth_secret=keys.auth_secret, version="aes128gcm",
    )
    assert ece.decrypt(body, keys) == b"hello from http_ece"


def test_legacy_aesgcm_interop_both_ways() -> None:
    private, keys = _ua()
    body, salt, dh = aesgcm.encrypt_aesgcm(b"old", keys.public_bytes, keys.auth_secret)
    assert http_ece.decrypt(
        body, salt=salt, dh=dh, private_key=private, auth_secret=keys.auth_secret, version="aesgcm"
    ) == b"old"
    sender = ec.generate_private_key(ec.SECP256R1())
    salt = b"s" * 16
    theirs = http_ece.encrypt(
        b"older", salt=salt, private_key=sender, dh=keys.public_bytes,
        auth_secret=keys.auth_secret, version="aesgcm",
    )
    dh = sender.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    assert aesgcm.decrypt_aesgcm(theirs, keys, salt=salt, dh=dh) == b"older"
    with pytest.raises(ece.ECEError):
        aesgcm.decrypt_aesgcm(theirs, keys, salt=b"t" * 16, dh=dh)


def test_every_message_has_a_fresh_ephemeral_key_and_salt() -> None:
    _, keys = _ua()
    recipient = keys.recipient()
    first, second = recipient.encrypt(b"same"), recipient.encrypt(b"same")
    assert first[:16] != second[:16]  # salt
    assert first[21:86] != second[21:86]  # sender public key
    assert ece.decrypt(first, keys) == ece.decrypt(second, keys) == b"same"


def test_each_recipient_encrypts_for_its_own_keys_only() -> None:
    # A Recipient keeps its parsed key and the key_info prefix made from its p256dh
    # bytes (RFC 8291 §3.4): messages to interleaved recipients decrypt with their own
    # browser's keys and with no other's.
    browsers = [ece.generate_user_agent_keys() for _ in range(3)]
    recipients = [b.recipient() for b in browsers]
    for _ in range(2):  # twice: nothing kept from one message leaks into the next
        bodies = [r.encrypt(b"to %d" % i) for i, r in enumerate(recipients)]
        for i, body in enumerate(bodies):
            assert ece.decrypt(body, browsers[i]) == b"to %d" % i
            for j in range(3):
                if j != i:
                    with pytest.raises(ece.ECEError):
                        ece.decrypt(body, browsers[j])
    # Same public key, another auth secret: still not decryptable (the secret is in the KDF).
    other_auth = ece.UserAgentKeys(browsers[0].private_key, b"\x01" * 16)
    with pytest.raises(ece.ECEError):
        ece.decrypt(recipients[0].encrypt(b"x"), other_auth)


def test_the_largest_message_makes_a_4096_byte_body() -> None:
    _, keys = _ua()
    body = keys.recipient().encrypt(b"x" * ece.MAX_PLAINTEXT)
    assert len(body) == 4096
    with pytest.raises(ece.ECEError, match="does not fit one record"):
        keys.recipient().encrypt(b"x" * 4080)
    assert len(keys.recipient().encrypt(b"x" * 4080, record_size=8192)) == 4080 + 86 + 17


def test_padding_is_stripped() -> None:
    _, keys = _ua()
    body = keys.recipient().encrypt(b"short", padding=100)
    assert len(body) == 86 + 5 + 1 + 100 + 16
    assert ece.decrypt(body, keys) == b"short"


# -- decrypt refuses what RFC 8291 §4 forbids ------------------------------------------


def _seal(keys: ece.UserAgentKeys, record_plaintext: bytes, *, rs: int = 4096) -> bytes:
    """A Web Push body whose record plaintext is exactly ``record_plaintext``."""
    sender = ec.generate_private_key(ec.SECP256R1())
    as_public = sender.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    salt = b"\x01" * 16
    secret = sender.exchange(ec.ECDH(), ece.load_public_key(keys.public_bytes))
    ikm = ece._webpush_ikm(secret, keys.auth_secret, keys.public_bytes, as_public)
    cek, nonce = ece._cek_and_nonce(salt, ikm)
    sealed = AESGCM(cek).encrypt(nonce, record_plaintext, None)
    return salt + rs.to_bytes(4, "big") + b"\x41" + as_public + sealed


def test_decrypt_checks() -> None:
    _, keys = _ua()
    assert ece.decrypt(_seal(keys, b"ok\x02\x00\x00"), keys) == b"ok"
    good = _seal(keys, b"ok\x02")
    cases = {
        "delimiter 0x01": (_seal(keys, b"ok\x01"), "delimiter 0x01"),
        "non-zero padding": (_seal(keys, b"ok\x02\x00\x07"), "delimiter 0x07"),
        "all zero": (_seal(keys, b"\x00\x00\x00"), "all zero"),
        "rs below 18": (_seal(keys, b"ok\x02", rs=17), "below 18"),
        "rs not above the record": (_seal(keys, b"ok\x02", rs=19), "single record"),
        "idlen 64": (good[:20] + b"\x40" + good[21:85] + good[86:], "idlen"),
        "keyid not a point": (good[:21] + b"\x04" + b"\x00" * 64 + good[86:], "P-256"),
        "truncated header": (good[:30], "keyid"),
        "tiny": (good[:10], "header"),
        "short record": (good[:86 + 10], "shorter than tag"),
        "tampered": (good[:-1] + bytes((good[-1] ^ 1,)), "authentication failed"),
    }
    for name, (body, message) in cases.items():
        with pytest.raises(ece.ECEError, match=message):
            ece.decrypt(body, keys)
        assert name


def test_wrong_auth_secret_fails_cleanly() -> None:
    private, keys = _ua()
    body = keys.recipient().encrypt(b"secret")
    with pytest.raises(ece.ECEError, match="authentication failed"):
        ece.decrypt(body, private, b"\x00" * 16)


def test_recipient_validation_and_repr() -> None:
    _, keys = _ua()
    with pytest.raises(ece.ECEError, match="65 bytes"):
        ece.Recipient(keys.public_bytes[:64], keys.auth_secret)
    with pytest.raises(ece.ECEError, match="not a point"):
        ece.Recipient(b"\x04" + b"\x01" * 64, keys.auth_secret)
    with pytest.raises(ece.ECEError, match="16 bytes"):
        ece.Recipient(keys.public_bytes, b"short")
    with pytest.raises(ece.ECEError, match="salt"):
        keys.recipient().encrypt(b"x", salt=b"short")
    assert keys.auth_secret.hex() not in repr(keys.recipient())
    assert keys.auth_secret.hex() not in repr(keys)


@settings(max_examples=60, deadline=None)
@given(plaintext=st.binary(max_size=ece.MAX_PLAINTEXT), padding=st.integers(0, 16))
def test_round_trip_property(plaintext: bytes, padding: int) -> None:
    keys = ece.generate_user_agent_keys()
    if len(plaintext) + padding > ece.MAX_PLAINTEXT:
        padding = 0
    body = keys.recipient().encrypt(plaintext, padding=padding)
    assert len(body) <= 4096
    assert ece.decrypt(body, keys) == plaintext


@settings(max_examples=25, deadline=None)
@given(plaintext=st.binary(max_size=600), rs=st.integers(18, 200))
def test_rfc8188_multi_record_round_trip_property(plaintext: bytes, rs: int) -> None:
    ikm = b"k" * 16
    assert ece.decrypt_content(ece.encrypt_content(plaintext, ikm, record_size=rs), ikm) == plaintext
