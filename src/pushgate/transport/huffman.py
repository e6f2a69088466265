"""HPACK Huffman decoding (RFC 7541 §5.2, Appendix B), a byte at a time.

Servers Huffman-code header values, and APNs answers every request with an
``apns-id`` UUID, so this runs once per response. ``hpack``'s decoder walks
a 4-bit state table with flag checks per nibble (about 12 us for one UUID,
measured here); this one walks a 256-wide table built once from the same
code, one step per input octet (about 3 us; 0.07 us per octet). Table
entries hold the next state already multiplied by 256, so the loop is one
``|``, two indexes and one append per octet.

States are the internal nodes of the code tree plus one *failed* state.
Entry ``state * 256 + octet`` holds the state after those eight bits and
the symbols completed on the way; bits that spell EOS (a decoding error,
§5.2) lead to the failed state, which never leaves and never accepts, so
the loop needs no checks. A string may only end at the root, or at most
seven bits down a path of 1s: that is the padding rule (§5.2), precomputed
in ``_accepting``.

The table is two flat lists, next row and symbols, whose items are shared
objects (257 row offsets, one string per distinct symbol run) rather than
65,792 distinct ``(row, bytes)`` tuples spread over megabytes, which the EC
operations of Web Push encryption, run between two answers, push out of the
CPU caches. Symbols are collected as a latin-1 ``str`` (one octet per
character), the cheapest thing Python appends to.

A Web Push service answers every message with a ``Location`` URL
(docs/protocols/webpush.md §5) whose first twenty-odd characters (scheme,
host, path prefix) are the same every time. Decoding is a state machine, so
the state and output after the first :data:`PREFIX_OCTETS` coded octets
depend on those octets only: they are kept in a small cache, and such a
value is decoded from there (16 of the 42 octets of a typical ``Location``).
With both, the ``Location`` of the benchmark's sink (bench/harness/nginx.py)
reads in 1.9 us instead of 2.65 in a loop, and in about 3.0 us instead of
4.2 inside a bulk Web Push send (py-spy), where it was the largest cost
after the encryption. Since then the Web Push client keeps the coded
``Location`` and decodes it only when its ``message_id`` is read
(:class:`pushgate.providers.webpush.outcomes.Sent`).
"""

from __future__ import annotations

from pushgate.transport.hpack_tables import EOS as _EOS
from pushgate.transport.hpack_tables import HUFFMAN_CODE_LENGTHS, huffman_codes

_next: list[int] = []  # row offset (state * 256) after entry state * 256 + octet
_symbols: list[str] = []  # what that entry completes, latin-1
_accepting: list[bool] = []
PREFIX_OCTETS = 16  # coded octets whose decoding is cached (see above)
PREFIX_CACHE_SIZE = 256  # entries; a full cache takes no more
_prefixes: dict[bytes, tuple[int, str]] = {}


class HuffmanError(ValueError):
    """Not a valid HPACK Huffman string."""


def _build() -> None:
    # The code tree: children[node] = [child for bit 0, child for bit 1];
    # a child >= 0 is an internal node, -1 - symbol a leaf.
    children: list[list[int]] = [[0, 0]]
    depth = [0]
    ones = [True]  # the path from the root is all 1 bits
    missing = -(1 << 20)
    children[0] = [missing, missing]
    for symbol, (code, length) in enumerate(zip(huffman_codes(), HUFFMAN_CODE_LENGTHS, strict=True)):
        node = 0
        for shift in range(length - 1, -1, -1):
            bit = (code >> shift) & 1
            if shift == 0:
                children[node][bit] = -1 - symbol
            else:
                nxt = children[node][bit]
                if nxt == missing:
                    nxt = len(children)
                    children.append([missing, missing])
                    depth.append(depth[node] + 1)
                    ones.append(ones[node] and bit == 1)
                    children[node][bit] = nxt
                node = nxt
    # Four bits at a time first (16 steps per state), then each octet entry
    # is two nibble steps composed: far cheaper than walking 8 bits 65,536 times.
    nibbles: list[tuple[int, bytes] | None] = []
    for state in range(len(children)):
        for nibble in range(16):
            node = state
            out = bytearray()
            failed = False
            for shift in (3, 2, 1, 0):
                nxt = children[node][(nibble >> shift) & 1]
                if nxt < 0:
                    if -1 - nxt == _EOS:
                        failed = True
                        break
                    out.append(-1 - nxt)
                    node = 0
                else:
                    node = nxt
            nibbles.append(None if failed else (node, bytes(out)))
    failed_state = len(children)
    fail = (failed_state, b"")
    table: list[tuple[int, bytes]] = []
    for state in range(len(children)):
        base = state << 4
        for high in range(16):
            first = nibbles[base | high]
            if first is None:
                table.extend([fail] * 16)
                continue
            middle, emitted = first
            row = middle << 4
            for low in range(16):
                second = nibbles[row | low]
                table.append(fail if second is None else (second[0], emitted + second[1]))
    table.extend([fail] * 256)  # the failed state's own row
    rows = [state << 8 for state in range(failed_state + 1)]  # row offsets, not state numbers
    texts: dict[bytes, str] = {}
    for state, symbols in table:
        _next.append(rows[state])
        _symbols.append(texts.setdefault(symbols, symbols.decode("latin-1")))
    _accepting.extend(d <= 7 and o for d, o in zip(depth, ones, strict=True))
    _accepting.append(False)


def _walk(data: bytes, row: int, out: str) -> tuple[int, str]:
    nxt = _next
    symbols = _symbols
    for octet in data:
        entry = row | octet
        row = nxt[entry]
        out += symbols[entry]
    return row, out


def prepare() -> None:
    """Build the decoding table now rather than at the first Huffman-coded string (tens of ms)."""
    if not _next:
        _build()


def huffman_decode_text(data: bytes) -> str:
    """The decoded octets as a latin-1 ``str`` (one character per octet)."""
    if not _next:
        _build()  # some tens of ms, once per process, at the first Huffman-coded string
    if len(data) > PREFIX_OCTETS:
        head = data[:PREFIX_OCTETS]
        known = _prefixes.get(head)
        if known is None:
            known = _walk(head, 0, "")
            if len(_prefixes) < PREFIX_CACHE_SIZE:
                _prefixes[head] = known
        row, out = _walk(data[PREFIX_OCTETS:], *known)
    else:
        row, out = _walk(data, 0, "")
    if not _accepting[row >> 8]:
        raise HuffmanError("EOS inside a Huffman string, or bad padding")
    return out


def huffman_decode(data: bytes) -> bytes:
    return huffman_decode_text(data).encode("latin-1")
