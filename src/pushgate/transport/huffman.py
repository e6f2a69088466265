"""HPACK Huffman decoding (RFC 7541 §5.2, Appendix B), a byte at a time.

Servers Huffman-code header values, and APNs answers every request with an
``apns-id`` UUID, so this runs once per response. ``hpack``'s decoder walks
a 4-bit state table with flag checks per nibble (about 12 us for one UUID,
measured here); this one walks a 256-wide table built once from the same
code, one lookup per input octet (about 3 us; 0.07 us per octet). Table
entries hold the next state already multiplied by 256, so the loop is one
``|``, one index and one append per octet.

States are the internal nodes of the code tree plus one *failed* state.
Entry ``state * 256 + octet`` holds the state after those eight bits and
the symbols completed on the way; bits that spell EOS (a decoding error,
§5.2) lead to the failed state, which never leaves and never accepts, so
the loop needs no checks. A string may only end at the root, or at most
seven bits down a path of 1s: that is the padding rule (§5.2), precomputed
in ``_accepting``.
"""

from __future__ import annotations

from pushgate.transport.hpack_tables import EOS as _EOS
from pushgate.transport.hpack_tables import HUFFMAN_CODE_LENGTHS, huffman_codes

_table: list[tuple[int, bytes]] = []
_accepting: list[bool] = []


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
    table = [(state << 8, symbols) for state, symbols in table]  # row offsets, not state numbers
    _accepting.extend(d <= 7 and o for d, o in zip(depth, ones, strict=True))
    _accepting.append(False)
    _table.extend(table)


def huffman_decode(data: bytes) -> bytes:
    if not _table:
        _build()  # some tens of ms, once per process, at the first Huffman-coded string
    table = _table
    row = 0
    out = bytearray()
    for octet in data:
        row, symbols = table[row | octet]
        out += symbols
    if not _accepting[row >> 8]:
        raise HuffmanError("EOS inside a Huffman string, or bad padding")
    return bytes(out)
