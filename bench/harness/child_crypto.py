"""Benchmark child: the single-core rate of bare RFC 8291 encryption, the Web Push ceiling.

Two loops over the same work, a fresh ephemeral key per message as RFC 8291
§3.1 requires: ``pushgate.crypto.ece`` (what the client calls per
subscription) and a textbook implementation on ``cryptography`` alone (key
generation, ECDH, HKDF-SHA-256 three times through the HKDF class, AES-GCM).
The rate is encryptions per CPU second of this one thread, so it is a
per-core figure even on a loaded machine; wall rates are reported too.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pushgate.crypto import ece

PLAINTEXT = b'{"title":"Benchmark","body":"Hello from pushgate","data":{"n":1}}'
_RS_IDLEN = (4096).to_bytes(4, "big") + b"\x41"


def bare_encrypt(plaintext: bytes, ua_key: ec.EllipticCurvePublicKey, ua_public: bytes, auth: bytes) -> bytes:
    """RFC 8291 §3.4 + RFC 8188 §2, written the obvious way with ``cryptography``."""
    salt = os.urandom(16)
    ephemeral = ec.generate_private_key(ec.SECP256R1())
    as_public = ephemeral.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    shared = ephemeral.exchange(ec.ECDH(), ua_key)
    key_info = b"WebPush: info\x00" + ua_public + as_public
    ikm = HKDF(hashes.SHA256(), 32, salt=auth, info=key_info).derive(shared)
    cek = HKDF(hashes.SHA256(), 16, salt=salt, info=b"Content-Encoding: aes128gcm\x00").derive(ikm)
    nonce = HKDF(hashes.SHA256(), 12, salt=salt, info=b"Content-Encoding: nonce\x00").derive(ikm)
    return salt + _RS_IDLEN + as_public + AESGCM(cek).encrypt(nonce, plaintext + b"\x02", None)


def measure(op: Callable[[int], object], seconds: float) -> dict[str, float]:
    """Run ``op(i)`` until ``seconds`` of CPU time have passed."""
    count = 0
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    while True:
        for i in range(200):
            op(i)
        count += 200
        cpu = time.process_time() - cpu0
        if cpu >= seconds:
            break
    wall = time.perf_counter() - t0
    return {"count": count, "cpu_seconds": cpu, "wall_seconds": wall,
            "per_cpu_second": count / cpu, "per_wall_second": count / wall}


def run(config: dict[str, Any]) -> dict[str, Any]:
    seconds = float(config.get("seconds", 3.0))
    browsers = [ece.generate_user_agent_keys() for _ in range(200)]
    recipients = [a.recipient() for a in browsers]
    keys = [ece.load_public_key(a.public_bytes) for a in browsers]
    # Both must produce what a browser decrypts.
    assert ece.decrypt(recipients[0].encrypt(PLAINTEXT), browsers[0]) == PLAINTEXT
    assert ece.decrypt(bare_encrypt(PLAINTEXT, keys[0], browsers[0].public_bytes, browsers[0].auth_secret),
                       browsers[0]) == PLAINTEXT
    pushgate = measure(lambda i: recipients[i].encrypt(PLAINTEXT), seconds)
    bare = measure(
        lambda i: bare_encrypt(PLAINTEXT, keys[i], browsers[i].public_bytes, browsers[i].auth_secret), seconds
    )
    return {"pushgate_ece": pushgate, "cryptography": bare}


def main() -> None:
    config = json.loads(sys.stdin.readline())
    print(json.dumps(run(config)), flush=True)


if __name__ == "__main__":
    main()
