"""Response header blocks → ``(status, headers)``: a purpose-built HPACK decoder.

Why not ``hpack.Decoder``: against a sink that answers like APNs
(``:status 200`` plus a fresh, Huffman-coded, indexed ``apns-id``; see
bench/h2_transport.py ``--apns-answers``) it was the largest cost of the
whole client, about 28 us per response on this machine, more than the rest
of a request's work together. This decoder does the same RFC 7541 work in
about half that: one pass over the block, one-octet integers and short
strings inline, Huffman a byte at a time (``huffman.py``), no per-field
objects or logging. ``hpack`` stays the reference: the tests decode the
output of ``hpack.Encoder`` with both and compare.

It is stateful like any HPACK decoder (RFC 7541 §2.3.2): every block of a
connection must pass through it in order, even for streams nobody waits
for any more. Blocks whose every octet is 0x81-0xBD are runs of indexed
static-table fields (§6.1, Appendix A), e.g. ``0x88`` for ``:status 200``;
they neither read nor change the dynamic table, so their result is cached.

Limits, so a hostile server cannot make us allocate without bound: the
dynamic table never exceeds our SETTINGS_HEADER_TABLE_SIZE (4,096, the
default we advertise, §4.2), a header list is capped at
:data:`MAX_HEADER_LIST_SIZE` octets (§4.1 accounting), integers at 2^28.
"""

from __future__ import annotations

from collections import deque

from hpack.table import HeaderTable

from pushgate.transport.huffman import huffman_decode

STATIC: tuple[tuple[bytes, bytes], ...] = HeaderTable.STATIC_TABLE  # RFC 7541 Appendix A
_STATIC_COUNT = len(STATIC)
_STATIC_INDEXED = bytes(range(0x81, 0x81 + _STATIC_COUNT))
DEFAULT_TABLE_SIZE = 4096  # SETTINGS_HEADER_TABLE_SIZE we allow (RFC 9113 §6.5.2 default)
MAX_HEADER_LIST_SIZE = 1 << 18
_CACHE_LIMIT = 64

Fields = list[tuple[str, str]]


class HPACKDecodeError(ValueError):
    """The header block is not valid HPACK (a COMPRESSION_ERROR, RFC 9113 §4.3)."""


class HpackDecoder:
    """RFC 7541 decoding of header blocks into raw ``(name, value)`` octet pairs."""

    def __init__(self, max_table_size: int = DEFAULT_TABLE_SIZE) -> None:
        self._settings_limit = max_table_size
        self._limit = max_table_size  # current size, lowered by dynamic table size updates (§6.3)
        self._size = 0
        self._table: deque[tuple[bytes, bytes]] = deque()  # newest first (§2.3.3)

    def decode(self, block: bytes) -> list[tuple[bytes, bytes]]:
        # One-octet integers and short strings are decoded inline: this runs
        # once per response, and call overhead was half of its cost.
        fields: list[tuple[bytes, bytes]] = []
        pos = 0
        end = len(block)
        total = 0
        try:
            while pos < end:
                first = block[pos]
                if first & 0x80:  # §6.1 indexed field
                    index = first & 0x7F
                    if index == 0x7F:
                        index, pos = _integer(block, pos, 0x7F)
                    else:
                        pos += 1
                    field = STATIC[index - 1] if 0 < index <= _STATIC_COUNT else self._get(index)
                else:
                    if first & 0x40:  # §6.2.1 literal with incremental indexing
                        mask = 0x3F
                    elif first & 0x20:  # §6.3 dynamic table size update
                        if fields:
                            raise HPACKDecodeError("table size update after a field (§4.2)")
                        size, pos = _integer(block, pos, 0x1F)
                        if size > self._settings_limit:
                            raise HPACKDecodeError(f"table size {size} above our SETTINGS value")
                        self._limit = size
                        self._evict(0)
                        continue
                    else:  # §6.2.2 without indexing, §6.2.3 never indexed
                        mask = 0x0F
                    index = first & mask
                    if index == mask:
                        index, pos = _integer(block, pos, mask)
                    else:
                        pos += 1
                    if index:
                        name = (STATIC[index - 1] if index <= _STATIC_COUNT else self._get(index))[0]
                    else:
                        name, pos = _string(block, pos)
                    # the value, §5.2, inline when its length fits the prefix
                    octet = block[pos]
                    length = octet & 0x7F
                    if length == 0x7F:
                        length, pos = _integer(block, pos, 0x7F)
                    else:
                        pos += 1
                    stop = pos + length
                    if stop > end:
                        raise HPACKDecodeError("truncated string")
                    value = huffman_decode(block[pos:stop]) if octet & 0x80 else block[pos:stop]
                    pos = stop
                    field = (name, value)
                    if mask == 0x3F:
                        self._add(field)
                total += len(field[0]) + len(field[1]) + 32
                if total > MAX_HEADER_LIST_SIZE:
                    raise HPACKDecodeError("header list too large")
                fields.append(field)
        except IndexError:
            raise HPACKDecodeError("truncated header block") from None
        return fields

    def _get(self, index: int) -> tuple[bytes, bytes]:
        if 0 < index <= _STATIC_COUNT:
            return STATIC[index - 1]
        dynamic = index - _STATIC_COUNT - 1
        if index == 0 or dynamic >= len(self._table):
            raise HPACKDecodeError(f"header table index {index} out of range")
        return self._table[dynamic]

    def _add(self, field: tuple[bytes, bytes]) -> None:
        """§4.4: evict from the oldest end until the new entry fits; too big empties the table."""
        size = len(field[0]) + len(field[1]) + 32
        self._evict(size)
        if size <= self._limit:
            self._table.appendleft(field)
            self._size += size

    def _evict(self, room: int) -> None:
        table = self._table
        while table and self._size + room > self._limit:
            name, value = table.pop()
            self._size -= len(name) + len(value) + 32


def _integer(block: bytes, pos: int, mask: int) -> tuple[int, int]:
    """§5.1: an integer whose prefix is ``mask`` bits of ``block[pos]``."""
    value = block[pos] & mask
    pos += 1
    if value < mask:
        return value, pos
    shift = 0
    while True:
        octet = block[pos]
        pos += 1
        value += (octet & 0x7F) << shift
        if not octet & 0x80:
            return value, pos
        shift += 7
        if shift > 28:
            raise HPACKDecodeError("integer too large")


def _string(block: bytes, pos: int) -> tuple[bytes, int]:
    """§5.2: a length-prefixed string, Huffman-coded when the H bit is set."""
    huffman = block[pos] & 0x80
    length, pos = _integer(block, pos, 0x7F)
    end = pos + length
    if end > len(block):
        raise HPACKDecodeError("truncated string")
    raw = block[pos:end]
    return (huffman_decode(raw) if huffman else raw), end


class ResponseHeaderDecoder:
    """One per connection: ``(status, regular headers)`` for each response header block."""

    def __init__(self) -> None:
        self._decoder = HpackDecoder()
        self._static: dict[bytes, tuple[int, Fields]] = {}

    def decode(self, block: bytes) -> tuple[int, Fields]:
        """``(status, regular headers)``; status 0 when absent, -1 when not a number.

        Raises :class:`HPACKDecodeError` (a ``ValueError``) for a bad block.
        """
        cached = self._static.get(block)
        if cached is not None:
            return cached[0], cached[1].copy()
        status = 0
        headers: Fields = []
        for name, value in self._decoder.decode(block):
            if name[:1] == b":":
                if name == b":status":
                    status = int(value) if value.isdigit() else -1
            else:
                headers.append((name.decode("ascii", "replace"), value.decode("utf-8", "replace")))
        if block and not block.translate(None, _STATIC_INDEXED) and len(self._static) < _CACHE_LIMIT:
            self._static[bytes(block)] = (status, headers.copy())
        return status, headers
