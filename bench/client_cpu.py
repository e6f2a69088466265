"""Client CPU per request against an in-process peer that answers like nginx: no TLS, no sockets.

    python bench/client_cpu.py [apns|webpush|bare] [-n 30000] [--rounds 5] [--encrypt]

Why: on this shared 2-core machine the CPU time of the same 100k-token run
against the real nginx sink varies by ±30% with the other processes, which
hides changes of a microsecond. Here the client's H2Pool talks to a fake
transport whose peer answers in the same event loop with the octets nginx
sends (captured from bench/harness/nginx.py's sinks): ``:status`` and
server, date, content-type and content-length as Huffman-coded literals
with incremental indexing, then the varying field without indexing
(``apns-id``, or ``location`` and ``ttl`` for Web Push), then RST_STREAM
NO_ERROR, as nginx does after every answer. The figure is the minimum over
``--rounds`` of the CPU seconds of one ``send`` per notification; it
includes the fake peer's own small, constant share (a few microseconds).
Web Push runs with encryption replaced by a constant body: the RFC 8291
cost is measured by the harness (bench/harness/child_crypto.py). With
``--encrypt`` it keeps the real encryption, one distinct subscription per
send, and ``bare`` runs the textbook encryption of child_crypto.py over the
same kind of subscriptions instead of sending: under
``valgrind --tool=callgrind``, the difference of two runs with different
``-n`` divided by the difference of ``-n`` is the instructions of one send
or one bare encryption, which load does not change.

Even so, repeated runs differ by 10-20% here (CPU frequency, neighbours):
compare two trees by interleaving runs, e.g. with ``PYTHONPATH=<tree>/src``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import struct
import sys
import time
import types
import uuid
from typing import Any

import hpack

from pushgate import APNs, Notification, WebPush
from pushgate.crypto import ece
from pushgate.crypto.vapid import VapidKey, b64url_encode
from pushgate.providers.webpush.client import Subscription
from pushgate.transport.connection import ClientConnection
from pushgate.transport.pool import H2Pool

_FRAME = struct.Struct(">HBBBL")
# nginx 1.22's answer prefixes (RFC 7541): status, server, date, content-type, content-length.
_APNS_PREFIX = bytes.fromhex(
    "887684aa6355e76196d07abe94132a693f75040138a05fb827ae01953168df5f8b1d75d0620d263d4c7441ea5c0130"
)
_WEBPUSH_PREFIX = bytes.fromhex(
    "48033230317684aa6355e76196d07abe94132a693f75040138a05fb827ae01953168df5f8b1d75d0620d263d4c"
    "7441ea5c0130"
)
_TTL = bytes.fromhex("00824a68023630")  # ttl: 60, literal without indexing
_huffman = hpack.Encoder().huffman_coder.encode


def _literal(name: bytes, value: bytes) -> bytes:
    """A literal field without indexing, new name, both strings Huffman-coded (as nginx sends)."""
    coded_name, coded_value = _huffman(name), _huffman(value)
    return (bytes((0x00, 0x80 | len(coded_name))) + coded_name
            + bytes((0x80 | len(coded_value),)) + coded_value)


APNS_ANSWERS = [_APNS_PREFIX + _literal(b"apns-id", str(uuid.uuid4()).encode()) for _ in range(512)]
WEBPUSH_ANSWERS = [
    _WEBPUSH_PREFIX + _literal(b"location", b"https://127.0.0.1:34599/m/%s" % secrets.token_hex(16).encode())
    + _TTL
    for _ in range(512)
]


class FakePeer:
    """Answers every request that ends its stream; delivers once per loop turn, 16 KiB at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop, answers: list[bytes]) -> None:
        self.loop = loop
        self.answers = answers
        self.count = 0
        self.inbox = bytearray()
        self.out = bytearray()
        self.preface = True
        self.scheduled = False
        self.client: ClientConnection | None = None

    def receive(self, data: bytes) -> None:
        self.inbox += data
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.process)

    def process(self) -> None:
        self.scheduled = False
        data, pos = bytes(self.inbox), 0
        self.inbox.clear()
        if self.preface:
            pos, self.preface = 24, False
            settings = struct.pack(">HLHL", 0x3, 1000, 0x4, (1 << 31) - 1)
            self.out += _FRAME.pack(0, len(settings), 0x4, 0, 0) + settings
            self.out += _FRAME.pack(0, 4, 0x8, 0, 0) + struct.pack(">L", (1 << 31) - 1 - 65535)
        while len(data) - pos >= 9:
            hi, lo, ftype, flags, sid = _FRAME.unpack_from(data, pos)
            end = pos + 9 + ((hi << 8) | lo)
            if end > len(data):
                self.inbox[:0] = data[pos:]
                break
            if ftype in (0x0, 0x1) and flags & 0x1:
                answer = self.answers[self.count & 511]
                self.count += 1
                self.out += _FRAME.pack(0, len(answer), 0x1, 0x5, sid) + answer
                self.out += _FRAME.pack(0, 4, 0x3, 0, sid) + b"\0\0\0\0"
            elif ftype == 0x4 and not flags & 0x1:
                self.out += _FRAME.pack(0, 0, 0x4, 0x1, 0)
            pos = end
        if self.out and self.client is not None:
            out = bytes(self.out)
            self.out.clear()
            for start in range(0, len(out), 16384):
                self.client.data_received(out[start:start + 16384])


class FakeTransport(asyncio.Transport):
    def __init__(self, peer: FakePeer) -> None:
        super().__init__()
        self.peer = peer
        self.closing = False

    def write(self, data: Any) -> None:
        self.peer.receive(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        if not self.closing and self.peer.client is not None:
            self.peer.loop.call_soon(self.peer.client.connection_lost, None)
        self.closing = True

    def abort(self) -> None:
        self.close()


def attach(pool: H2Pool, answers: list[bytes]) -> None:
    """Make ``pool`` open its connections to a :class:`FakePeer` instead of a socket."""

    async def connect(self: H2Pool) -> None:
        loop = asyncio.get_running_loop()
        conn = ClientConnection(self, loop)
        peer = FakePeer(loop, answers)
        conn.connection_made(FakeTransport(peer))
        peer.client = conn
        self._connecting = None
        self.connections_opened += 1
        self._conns.append(conn)
        self._pump()

    pool._connect = types.MethodType(connect, pool)  # type: ignore[method-assign]


async def run(kind: str, n: int, rounds: int, encrypt: bool = False) -> float:
    client: APNs | WebPush
    if kind == "apns":
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        client = APNs(key=pem, key_id="BENCHKEY01", team_id="BENCHTEAM1", topic="com.example.app",
                      base_url="http://fake:80")
        attach(client._pool, APNS_ANSWERS)
        notification = Notification(title="Benchmark", body="Hello from pushgate", badge=1)

        def tokens() -> list[Any]:
            return [secrets.token_hex(32) for _ in range(n)]
    else:
        if not encrypt:
            body = os.urandom(170)
            ece.Recipient.encrypt = lambda self, plaintext, **kw: body  # type: ignore[method-assign]
        client = WebPush(vapid_private_key=VapidKey.generate(), vapid_subject="mailto:bench@pushgate.invalid",
                         allowed_hosts=["fake:80"])
        subscriptions = [Subscription.from_json({"endpoint": f"https://fake:80/wpush/{secrets.token_urlsafe(24)}",
                                                 "keys": _keys(encrypt)}) for _ in range(n)]
        make_pool = client._pool

        def pool(origin: Any) -> H2Pool:
            made = make_pool(origin)
            if made.connections_opened == 0 and not getattr(made, "_fake", False):
                attach(made, WEBPUSH_ANSWERS)
                made._fake = True  # type: ignore[attr-defined]
            return made

        client._pool = pool  # type: ignore[method-assign]
        notification = Notification(title="Benchmark", body="Hello from pushgate", data={"n": 1})

        def tokens() -> list[Any]:
            return list(subscriptions)
    await client.send(notification, tokens()[:200])  # connect and warm up
    best = float("inf")
    for _ in range(rounds):
        batch = tokens()
        cpu = time.process_time()
        result = await client.send(notification, batch)
        best = min(best, (time.process_time() - cpu) / n)
        if not result.ok:
            raise SystemExit(f"not all sent: {result!r}")
    await client.aclose()
    return best


_SHARED_KEYS: dict[str, str] = {}


def _keys(distinct: bool) -> dict[str, str]:
    """A subscription's ``keys``: a browser's own when ``distinct``, else one pair for all."""
    if distinct or not _SHARED_KEYS:
        keys = ece.generate_user_agent_keys()
        made = {"p256dh": b64url_encode(keys.public_bytes), "auth": b64url_encode(keys.auth_secret)}
        if distinct:
            return made
        _SHARED_KEYS.update(made)
    return _SHARED_KEYS


def bare(n: int, rounds: int) -> float:
    """CPU seconds of one textbook RFC 8291 encryption (bench/harness/child_crypto.py), distinct keys."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__))))
    from harness.child_crypto import PLAINTEXT, bare_encrypt

    recipients = [ece.generate_user_agent_keys().recipient() for _ in range(n)]
    keys = [(ece.load_public_key(r.public_bytes), r.public_bytes, r.auth_secret) for r in recipients]
    best = float("inf")
    for _ in range(rounds):
        cpu = time.process_time()
        for key, public, auth in keys:
            bare_encrypt(PLAINTEXT, key, public, auth)
        best = min(best, (time.process_time() - cpu) / n)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kind", nargs="?", choices=["apns", "webpush", "bare"], default="apns")
    parser.add_argument("-n", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--encrypt", action="store_true", help="webpush: keep the real RFC 8291 encryption")
    args = parser.parse_args()
    if args.kind == "bare":
        best = bare(args.n, args.rounds)
    else:
        best = asyncio.run(run(args.kind, args.n, args.rounds, args.encrypt))
    load = os.getloadavg()[0]
    print(f"{args.kind}: {best * 1e6:.2f} us of client CPU per notification "
          f"(min of {args.rounds} x {args.n:,}; load {load:.2f}; python {sys.version.split()[0]})")


if __name__ == "__main__":
    main()
