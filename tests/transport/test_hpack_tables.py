"""pushgate's copies of HPACK's fixed tables (RFC 7541 Appendices A and B)
against the RFC's own text and examples (Appendix C)."""

from __future__ import annotations

import itertools

import pytest

from pushgate.transport.hpack_decode import HpackDecoder
from pushgate.transport.hpack_tables import EOS, HUFFMAN_CODE_LENGTHS, STATIC_TABLE, huffman_codes
from pushgate.transport.huffman import huffman_decode


def _huffman_encode(raw: bytes) -> bytes:
    """RFC 7541 §5.2: the codes of ``raw``, padded to an octet with the high bits of EOS."""
    codes = huffman_codes()
    value = bits = 0
    for octet in raw:
        value = (value << HUFFMAN_CODE_LENGTHS[octet]) | codes[octet]
        bits += HUFFMAN_CODE_LENGTHS[octet]
    pad = -bits % 8
    value = (value << pad) | ((1 << pad) - 1)
    return (value).to_bytes((bits + pad) // 8, "big")


def test_static_table_entries_of_appendix_a() -> None:
    assert len(STATIC_TABLE) == 61
    by_index = dict(enumerate(STATIC_TABLE, start=1))
    assert by_index[1] == (b":authority", b"")
    assert by_index[2] == (b":method", b"GET")
    assert by_index[7] == (b":scheme", b"https")
    assert by_index[8] == (b":status", b"200")
    assert by_index[14] == (b":status", b"500")
    assert by_index[16] == (b"accept-encoding", b"gzip, deflate")
    assert by_index[23] == (b"authorization", b"")
    assert by_index[61] == (b"www-authenticate", b"")


def test_static_table_decodes_appendix_c3_1() -> None:
    block = bytes.fromhex("828684410f7777772e6578616d706c652e636f6d")
    assert HpackDecoder().decode(block) == [
        (b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b":authority", b"www.example.com")
    ]


def test_huffman_codes_of_appendix_b() -> None:
    codes = huffman_codes()
    assert len(codes) == len(HUFFMAN_CODE_LENGTHS) == 257
    assert (codes[ord("0")], HUFFMAN_CODE_LENGTHS[ord("0")]) == (0x0, 5)
    assert (codes[ord(" ")], HUFFMAN_CODE_LENGTHS[ord(" ")]) == (0x14, 6)
    assert (codes[ord("a")], HUFFMAN_CODE_LENGTHS[ord("a")]) == (0x3, 5)
    assert (codes[0], HUFFMAN_CODE_LENGTHS[0]) == (0x1FF8, 13)
    assert (codes[255], HUFFMAN_CODE_LENGTHS[255]) == (0x3FFFFEE, 26)
    assert (codes[EOS], HUFFMAN_CODE_LENGTHS[EOS]) == (0x3FFFFFFF, 30)
    # A prefix code: no code is the beginning of another.
    words = sorted(format(c, f"0{n}b") for c, n in zip(codes, HUFFMAN_CODE_LENGTHS, strict=True))
    assert all(not b.startswith(a) for a, b in itertools.pairwise(words))


@pytest.mark.parametrize(
    ("text", "coded"),
    [  # RFC 7541 Appendix C.4 (requests) and C.6 (responses)
        (b"www.example.com", "f1e3c2e5f23a6ba0ab90f4ff"),
        (b"no-cache", "a8eb10649cbf"),
        (b"custom-key", "25a849e95ba97d7f"),
        (b"custom-value", "25a849e95bb8e8b4bf"),
        (b"302", "6402"),
        (b"307", "640eff"),
        (b"private", "aec3771a4b"),
        (b"Mon, 21 Oct 2013 20:13:21 GMT", "d07abe941054d444a8200595040b8166e082a62d1bff"),
        (b"https://www.example.com", "9d29ad171863c78f0b97c8e9ae82ae43d3"),
        (b"gzip", "9bd9ab"),
        (
            b"foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
            "94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
        ),
    ],
)
def test_huffman_strings_of_appendix_c(text: bytes, coded: str) -> None:
    assert _huffman_encode(text).hex() == coded
    assert huffman_decode(bytes.fromhex(coded)) == text
