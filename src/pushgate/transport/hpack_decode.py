"""Response header blocks → ``(status, fields)``: a purpose-built HPACK decoder.

Why not ``hpack.Decoder``: against a sink that answers like APNs
(``:status 200`` plus a fresh, Huffman-coded ``apns-id``; see
bench/h2_transport.py ``--apns-answers``) it was the largest cost of the
whole client, about 28 us per response on this machine, more than the rest
of a request's work together. ``hpack`` stays the reference: the tests
decode the output of ``hpack.Encoder`` with both and compare.

What makes this one cheap (measured on nginx's answers, which carry
``server``, ``date``, ``content-type`` and ``content-length`` with
incremental indexing, Huffman-coded, in every response, plus the echoed
``apns-id`` or a ``location``: 26 us per block before, about 4 us after):

- one pass over the block, one-octet integers and short strings inline, no
  per-field objects or logging;
- Huffman strings that must be decoded at once (names, and values that
  enter the dynamic table, whose size counts decoded octets, RFC 7541
  §4.1) go through a small per-connection cache keyed by the coded octets:
  servers send the same few strings again and again;
- every other value is *not* decoded here: :meth:`HpackDecoder.decode_lazy`
  returns it as coded octets with a flag, and it is decoded only if someone
  reads it (:class:`~pushgate.transport.response.Response`). APNs echoes the
  ``apns-id`` the client generated, so a success never decodes it.

It is stateful like any HPACK decoder (RFC 7541 §2.3.2): every block of a
connection must pass through it in order, even for streams nobody waits
for any more. Blocks whose every octet is 0x81-0xBD are runs of indexed
static-table fields (§6.1, Appendix A), e.g. ``0x88`` for ``:status 200``;
they neither read nor change the dynamic table, so their result is cached.

Limits, so a hostile server cannot make us allocate without bound: the
dynamic table never exceeds our SETTINGS_HEADER_TABLE_SIZE (4,096, the
default we advertise, §4.2), a header list is capped at
:data:`MAX_HEADER_LIST_SIZE` octets (§4.1 accounting, counting coded
lengths for values left coded), integers at 2^28, and the string caches
hold at most :data:`STRING_CACHE_SIZE` short strings.
"""

from __future__ import annotations

from collections import deque

from pushgate.transport.hpack_tables import STATIC_TABLE
from pushgate.transport.huffman import huffman_decode

STATIC: tuple[tuple[bytes, bytes], ...] = STATIC_TABLE  # RFC 7541 Appendix A
_STATIC_COUNT = len(STATIC)
_STATIC_INDEXED = bytes(range(0x81, 0x81 + _STATIC_COUNT))
DEFAULT_TABLE_SIZE = 4096  # SETTINGS_HEADER_TABLE_SIZE we allow (RFC 9113 §6.5.2 default)
MAX_HEADER_LIST_SIZE = 1 << 18
STRING_CACHE_SIZE = 256  # entries per cache; a full cache is emptied, not grown
CACHED_STRING_MAX = 96  # longer coded strings are decoded every time
_CACHE_LIMIT = 64
_PLAN_LIMIT = 32  # replayable prefixes kept per connection (a full set is emptied)
_PLAN_SIZES = 4  # prefix lengths tried per block
_PENDING_LIMIT = 256  # replayed table entries kept before they are applied

# A decoded field: (name, value, coded). ``coded`` means ``value`` is still
# Huffman-coded octets (RFC 7541 §5.2); decode with ``huffman_decode``.
RawField = tuple[bytes, bytes, bool]
# What a response hands on: the name as text, the value maybe still coded.
Field = tuple[str, bytes, bool]


class HPACKDecodeError(ValueError):
    """The header block is not valid HPACK (a COMPRESSION_ERROR, RFC 9113 §4.3)."""


class HpackDecoder:
    """RFC 7541 decoding of header blocks into ``(name, value)`` octet pairs.

    The dynamic table is kept in two parts: ``_table``, applied, and
    ``_pending``, entries added by replayed prefixes (:meth:`replay`) that
    are applied only when the table is read or grows too long (:meth:`_sync`).
    """

    def __init__(self, max_table_size: int = DEFAULT_TABLE_SIZE) -> None:
        self._settings_limit = max_table_size
        self._limit = max_table_size  # current size, lowered by dynamic table size updates (§6.3)
        self._size = 0
        self._table: deque[tuple[bytes, bytes]] = deque()  # newest first (§2.3.3)
        self._pending: list[tuple[bytes, bytes]] = []  # added after _table, oldest first
        self._strings: dict[bytes, bytes] = {}  # coded octets -> decoded, see _huffman
        # Of the last block decoded: where its state-independent prefix ends,
        # how many fields it holds and what they added to the table (see prefix()).
        self._prefix_end = 0
        self._prefix_count = 0
        self._prefix_adds: list[tuple[bytes, bytes]] = []

    def decode(self, block: bytes) -> list[tuple[bytes, bytes]]:
        """Every field fully decoded."""
        return [
            (name, huffman_decode(value) if coded else value)
            for name, value, coded in self.decode_lazy(block)
        ]

    def decode_lazy(self, block: bytes, pos: int = 0, total: int = 0) -> list[RawField]:
        """Every field, values outside the dynamic table left Huffman-coded (flagged).

        ``pos`` and ``total`` continue a block whose first ``pos`` octets were
        replayed (:meth:`replay`), with ``total`` header-list octets so far.
        """
        # One-octet integers, short strings, cache hits and table insertion
        # are inline: this runs once per response, and calls were most of its cost.
        fields: list[RawField] = []
        append = fields.append
        strings = self._strings
        table = self._table
        end = len(block)
        started = pos
        prefix = pos == 0  # still in the state-independent prefix (see prefix())
        prefix_adds: list[tuple[bytes, bytes]] = []
        self._prefix_end = self._prefix_count = 0
        try:
            while pos < end:
                first = block[pos]
                if first & 0x80:  # §6.1 indexed field
                    index = first & 0x7F
                    if index == 0x7F:
                        index, pos = _integer(block, pos, 0x7F)
                    else:
                        pos += 1
                    if 0 < index <= _STATIC_COUNT:
                        name, value = STATIC[index - 1]
                    else:
                        name, value = self._get(index)
                        prefix = False
                    coded = False
                else:
                    if first & 0x40:  # §6.2.1 literal with incremental indexing
                        mask = 0x3F
                    elif first & 0x20:  # §6.3 dynamic table size update
                        if fields or started:
                            raise HPACKDecodeError("table size update after a field (§4.2)")
                        size, pos = _integer(block, pos, 0x1F)
                        if size > self._settings_limit:
                            raise HPACKDecodeError(f"table size {size} above our SETTINGS value")
                        self._sync()
                        self._limit = size
                        self._evict(0)
                        prefix = False
                        continue
                    else:  # §6.2.2 without indexing, §6.2.3 never indexed
                        mask = 0x0F
                        prefix = False
                    index = first & mask
                    if index == mask:
                        index, pos = _integer(block, pos, mask)
                    else:
                        pos += 1
                    if index:
                        if index <= _STATIC_COUNT:
                            name = STATIC[index - 1][0]
                        else:
                            name = self._get(index)[0]
                            prefix = False
                    else:
                        octet = block[pos]
                        length = octet & 0x7F
                        if length == 0x7F:
                            length, pos = _integer(block, pos, 0x7F)
                        else:
                            pos += 1
                        stop = pos + length
                        if stop > end:
                            raise HPACKDecodeError("truncated string")
                        name = block[pos:stop]
                        if octet & 0x80:
                            name = strings.get(name) or self._huffman(name)
                        pos = stop
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
                    value = block[pos:stop]
                    pos = stop
                    coded = octet & 0x80 != 0
                    if mask == 0x3F:  # enters the table: its decoded size counts (§4.1)
                        if coded:
                            value = strings.get(value) or self._huffman(value)
                            coded = False
                        if self._pending:
                            self._sync()
                        # §4.4: evict from the oldest end until it fits; too big empties the table
                        self._size += len(name) + len(value) + 32
                        table.appendleft((name, value))
                        if self._size > self._limit:
                            self._evict(0)
                        if prefix:
                            prefix_adds.append((name, value))
                total += len(name) + len(value) + 32
                if total > MAX_HEADER_LIST_SIZE:
                    raise HPACKDecodeError("header list too large")
                append((name, value, coded))
                if prefix:
                    self._prefix_end = pos
                    self._prefix_count += 1
        except IndexError:
            raise HPACKDecodeError("truncated header block") from None
        self._prefix_adds = prefix_adds
        return fields

    def prefix(self) -> tuple[int, int, tuple[tuple[bytes, bytes], ...]]:
        """Of the last block :meth:`decode_lazy` read from its start: the end
        offset and field count of its longest prefix whose fields decode the
        same whatever the dynamic table holds (static-table fields, and
        literals with incremental indexing whose name is not a dynamic
        reference), and the entries that prefix added to the table.

        Such a prefix can be *replayed* on a later block that starts with the
        same octets: same fields, same table additions (:meth:`replay`).
        """
        return self._prefix_end, self._prefix_count, tuple(self._prefix_adds)

    def replay(self, adds: tuple[tuple[bytes, bytes], ...]) -> None:
        """Add a replayed prefix's entries to the table (applied lazily, in order)."""
        pending = self._pending
        pending += adds
        if len(pending) > _PENDING_LIMIT:
            self._sync()

    def _sync(self) -> None:
        """Apply pending entries (§4.4) by the rule that FIFO eviction amounts to:
        the table ends up as the longest run of newest entries that fits, and
        an entry larger than the table empties it and is not added."""
        pending = self._pending
        if not pending:
            return
        limit = self._limit
        kept: list[tuple[bytes, bytes]] = []  # newest first
        size = 0
        for entry in reversed(pending):
            octets = len(entry[0]) + len(entry[1]) + 32
            if size + octets > limit:
                break
            kept.append(entry)
            size += octets
        else:  # every pending entry fits: the older table entries follow while they fit
            for entry in self._table:
                octets = len(entry[0]) + len(entry[1]) + 32
                if size + octets > limit:
                    break
                kept.append(entry)
                size += octets
        self._table.clear()
        self._table.extend(kept)
        self._size = size
        pending.clear()

    def _huffman(self, coded: bytes) -> bytes:
        """Decode a Huffman string, remembering short ones: servers repeat them."""
        strings = self._strings
        decoded = strings.get(coded)
        if decoded is None:
            decoded = huffman_decode(coded)
            if len(coded) <= CACHED_STRING_MAX:
                if len(strings) >= STRING_CACHE_SIZE:
                    strings.clear()
                strings[coded] = decoded
        return decoded

    def _get(self, index: int) -> tuple[bytes, bytes]:
        if 0 < index <= _STATIC_COUNT:
            return STATIC[index - 1]
        if self._pending:
            self._sync()
        dynamic = index - _STATIC_COUNT - 1
        if index == 0 or dynamic >= len(self._table):
            raise HPACKDecodeError(f"header table index {index} out of range")
        return self._table[dynamic]

    def _evict(self, room: int) -> None:
        """Drop the oldest entries until ``room`` more octets fit (§4.4)."""
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


_STATUS: dict[bytes, int] = {str(code).encode(): code for code in range(100, 600)}
# (status, fields, table additions, header-list octets) of a replayable prefix
_Plan = tuple[int, list[Field], tuple[tuple[bytes, bytes], ...], int]


class ResponseHeaderDecoder:
    """One per connection: ``(status, regular fields)`` for each response header block.

    Fields are ``(name, value, coded)`` with the name as text and the value
    as octets, still Huffman-coded when ``coded`` (see the module docstring);
    :class:`~pushgate.transport.response.Response` decodes on demand.
    """

    def __init__(self) -> None:
        self._decoder = HpackDecoder()
        self._static: dict[bytes, tuple[int, list[Field]]] = {}
        self._names: dict[bytes, str] = {}
        self._plans: dict[bytes, _Plan] = {}
        self._plan_sizes: list[int] = []  # prefix lengths seen, newest first

    def decode(self, block: bytes) -> tuple[int, list[Field]]:
        """``(status, regular fields)``; status 0 when absent, -1 when not a number.

        Raises :class:`HPACKDecodeError` (a ``ValueError``) for a bad block.
        """
        cached = self._static.get(block)
        if cached is not None:
            return cached[0], cached[1].copy()
        decoder = self._decoder
        plans = self._plans
        for size in self._plan_sizes:
            plan = plans.get(block[:size])
            if plan is not None:
                status, head, adds, total = plan
                decoder.replay(adds)
                fields = head.copy()
                if size < len(block):
                    status = self._convert(decoder.decode_lazy(block, size, total), fields, status)
                return status, fields
        fields = []
        raw = decoder.decode_lazy(block)
        status = self._convert(raw, fields, 0)
        if block and not block.translate(None, _STATIC_INDEXED):
            if len(self._static) < _CACHE_LIMIT:
                self._static[bytes(block)] = (status, fields.copy())
        else:
            end, count, adds = decoder.prefix()
            if count >= 2 and end < len(block):  # a prefix worth replaying, and a varying rest
                self._remember(block[:end], raw[:count], adds, end)
        return status, fields

    def _remember(
        self, key: bytes, raw: list[RawField], adds: tuple[tuple[bytes, bytes], ...], end: int
    ) -> None:
        if len(self._plans) >= _PLAN_LIMIT:
            self._plans.clear()
            self._plan_sizes.clear()
        head: list[Field] = []
        status = self._convert(raw, head, 0)
        total = sum(len(name) + len(value) + 32 for name, value, _ in raw)
        self._plans[key] = (status, head, adds, total)
        sizes = self._plan_sizes
        if end in sizes:
            sizes.remove(end)
        sizes.insert(0, end)
        del sizes[_PLAN_SIZES:]

    def _convert(self, raw: list[RawField], fields: list[Field], status: int) -> int:
        """Append ``raw``'s regular fields to ``fields`` (names as text); the status."""
        names = self._names
        append = fields.append
        for name, value, coded in raw:
            text = names.get(name)
            if text is None:
                if name[:1] == b":":
                    if name == b":status":
                        if coded:
                            value = huffman_decode(value)
                        found = _STATUS.get(value)
                        if found is not None:
                            status = found
                        else:  # RFC 9113 §8.3.2: exactly three digits, else malformed (-1)
                            status = int(value) if len(value) == 3 and value.isdigit() else -1
                    continue
                text = name.decode("ascii", "replace")
                if len(names) >= STRING_CACHE_SIZE:
                    names.clear()
                names[name] = text
            append((text, value, coded))
        return status
