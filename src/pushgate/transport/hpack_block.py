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
Apple advises (PROTOCOLS.md §1.1).
"""

from __future__ import annotations

from collections.abc import Iterable

from hpack.table import HeaderTable

# RFC 7541 Appendix A, 1-based indices (hpack ships the table).
_STATIC: tuple[tuple[bytes, bytes], ...] = HeaderTable.STATIC_TABLE
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


def _octets(text: str | bytes) -> bytes:
    return text.encode() if isinstance(text, str) else bytes(text)


class HeaderBlock(bytes):
    """An HPACK header block fragment made only of stateless representations
    (literal without indexing, or static-table indexed), so a block encoded
    once is valid on every connection and blocks concatenate with ``+``."""

    @classmethod
    def encode(cls, headers: Iterable[tuple[str | bytes, str | bytes]]) -> HeaderBlock:
        out = bytearray()
        for name, value in headers:
            raw_name = _octets(name).lower()
            raw_value = _octets(value)
            if b"\r" in raw_value or b"\n" in raw_value or b"\0" in raw_value:
                raise ValueError(f"header {raw_name!r} has a CR, LF or NUL in its value")
            pair = _PAIR_INDEX.get((raw_name, raw_value))
            if pair is not None:
                out += encode_integer(pair, 7, 0x80)  # §6.1 indexed header field
                continue
            index = _NAME_INDEX.get(raw_name)
            if index is not None:
                out += encode_integer(index, 4, 0x00)  # §6.2.2, indexed name
            else:
                out.append(0x00)  # §6.2.2, new name
                out += _string(raw_name)
            out += _string(raw_value)
        return cls(out)

    def __add__(self, other: bytes) -> HeaderBlock:  # type: ignore[override]
        return HeaderBlock(bytes(self) + bytes(other))

    def __repr__(self) -> str:
        return f"HeaderBlock({bytes(self)!r})"
