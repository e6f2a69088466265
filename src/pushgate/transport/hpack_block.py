"""Pre-encoded, stateless HPACK header blocks (RFC 7541).

The client never uses the HPACK dynamic table when sending. Every field is
either an exact static-table match, sent as an *indexed header field*
(RFC 7541 §6.1, one byte for ``:method: POST`` or ``:scheme: https``), or a
*literal header field without indexing* (§6.2.2) whose name is a
static-table index when the name is in the table (4-bit prefix integer,
§5.1) and a literal otherwise. Strings are raw octets, not Huffman-coded
(§5.2): encoding is a copy, and the decoder on the other side does less.

Because no representation touches the dynamic table, a block means the same
on every connection at any time, so it can be encoded once (the constant
APNs headers of a topic) and joined with per-request blocks by ``+``.
Literal-without-indexing for ``:path`` and ``authorization`` is also what
Apple advises (docs/protocols/apns.md §1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pushgate.transport.hpack_tables import STATIC_TABLE

# RFC 7541 Appendix A, 1-based indices.
_STATIC: tuple[tuple[bytes, bytes], ...] = STATIC_TABLE
_NAME_INDEX: dict[bytes, int] = {}
_PAIR_INDEX: dict[tuple[bytes, bytes], int] = {}
for _index, (_name, _value) in enumerate(_STATIC, start=1):
    _NAME_INDEX.setdefault(_name, _index)
    _PAIR_INDEX.setdefault((_name, _value), _index)


def encode_integer(value: int, prefix_bits: int, first_byte: int) -> bytes:
    """RFC 7541 §5.1: an integer with an N-bit prefix; ``first_byte`` holds the pattern bits."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((first_byte | value,))
    out = bytearray((first_byte | limit,))
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _string(raw: bytes) -> bytes:
    """RFC 7541 §5.2: a string literal, H=0 (no Huffman)."""
    return encode_integer(len(raw), 7, 0x00) + raw


# RFC 9113 §8.2.1: no field value may hold NUL, CR or LF.
_FORBIDDEN = re.compile(rb"[\0\r\n]")
# The encoded name part of a literal without indexing, per lowercase name.
_NAME_PREFIX: dict[bytes, bytes] = {}
_PREFIX_CACHE_LIMIT = 1024


def _name_prefix(raw_name: bytes) -> bytes:
    prefix = _NAME_PREFIX.get(raw_name)
    if prefix is None:
        index = _NAME_INDEX.get(raw_name)
        # §6.2.2: the name as a 4-bit-prefix static index, or 0 and a literal name.
        prefix = encode_integer(index, 4, 0x00) if index is not None else b"\x00" + _string(raw_name)
        if len(_NAME_PREFIX) < _PREFIX_CACHE_LIMIT:
            _NAME_PREFIX[raw_name] = prefix
    return prefix


class HeaderBlock(bytes):
    """An HPACK header block fragment made only of stateless representations
    (literal without indexing, or static-table indexed), so a block encoded
    once is valid on every connection and blocks concatenate with ``+``.

    Within one ``encode`` call pseudo-headers must come first (RFC 9113
    §8.3); across ``+`` that order is the caller's to keep.
    """

    @classmethod
    def encode(cls, headers: Iterable[tuple[str | bytes, str | bytes]]) -> HeaderBlock:
        out = bytearray()
        regular_seen = False
        for name, value in headers:
            raw_name = (name.encode() if isinstance(name, str) else bytes(name)).lower()
            raw_value = value.encode() if isinstance(value, str) else bytes(value)
            if _FORBIDDEN.search(raw_value):
                raise ValueError(f"header {raw_name!r} has a CR, LF or NUL in its value")
            if raw_name[:1] == b":":
                if regular_seen:  # RFC 9113 §8.3
                    raise ValueError(f"pseudo-header {raw_name!r} after a regular header")
            else:
                regular_seen = True
            pair = _PAIR_INDEX.get((raw_name, raw_value))
            if pair is not None:
                out += encode_integer(pair, 7, 0x80)  # §6.1 indexed header field
                continue
            out += _name_prefix(raw_name)
            size = len(raw_value)
            if size < 127:
                out.append(size)
            else:
                out += encode_integer(size, 7, 0x00)
            out += raw_value
        return cls(out)

    def __add__(self, other: bytes) -> HeaderBlock:  # type: ignore[override]
        return HeaderBlock(bytes.__add__(self, other))

    def __repr__(self) -> str:
        return f"HeaderBlock({bytes(self)!r})"


class LiteralField:
    """One header whose value changes per request, encoded as prefix + raw value.

    :meth:`HeaderBlock.encode` writes a literal-without-indexing field whose
    value is raw octets (no Huffman), so the octets before the value depend
    only on the name and the value's length. They are made once per length
    by :meth:`HeaderBlock.encode` itself; a request then costs one check and
    one concatenation (``:path`` per token, ``apns-id`` per message).
    Values that are not plain ASCII, or hold CR, LF or NUL, go through
    :meth:`HeaderBlock.encode` (which encodes UTF-8 or raises ValueError).
    """

    __slots__ = ("_name", "_prefixes")

    def __init__(self, name: str) -> None:
        self._name = name
        self._prefixes: dict[int, bytes] = {}

    def encode(self, value: str) -> bytes:
        if not value.isascii() or "\r" in value or "\n" in value or "\0" in value:
            return bytes(HeaderBlock.encode([(self._name, value)]))
        return self.encode_checked(value.encode("ascii"))

    def encode_checked(self, raw: bytes) -> bytes:
        """:meth:`encode` for octets the caller has checked: no CR, LF or NUL
        (hex tokens, UUIDs). Skips the checks, which cost as much as the rest."""
        prefix = self._prefixes.get(len(raw))
        if prefix is None:
            dummy = b"0" * len(raw)
            block = bytes(HeaderBlock.encode([(self._name, dummy)]))
            if not block.endswith(dummy):  # not the layout assumed above: encode each time
                return bytes(HeaderBlock.encode([(self._name, raw)]))
            prefix = block[: len(block) - len(raw)]
            if len(self._prefixes) < _PREFIX_CACHE_LIMIT:
                self._prefixes[len(raw)] = prefix
        return prefix + raw
