"""HPACK both ways: stateless request blocks, and the response decoder against ``hpack``."""

from __future__ import annotations

import hpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pushgate.transport import HeaderBlock
from pushgate.transport.hpack_decode import HPACKDecodeError, HpackDecoder, ResponseHeaderDecoder
from pushgate.transport.huffman import HuffmanError, huffman_decode

# -- request blocks -------------------------------------------------------------------


def test_header_block_representations() -> None:
    assert HeaderBlock.encode([(":method", "POST"), (":scheme", "https")]) == b"\x83\x87"
    assert HeaderBlock.encode([(":path", "/3/device/ab")]) == b"\x04\x0c/3/device/ab"
    assert HeaderBlock.encode([("apns-topic", "x")]) == b"\x00\x0aapns-topic\x01x"
    encoded = HeaderBlock.encode([("authorization", "v" * 200)])
    assert encoded[:3] == b"\x0f\x08\x7f"  # name index 23 = 15 + 8 (RFC 7541 §5.1)
    assert encoded[3] == 0x49  # length 200 = 127 + 73


def test_header_blocks_concatenate_and_decode_statelessly() -> None:
    pseudo = HeaderBlock.encode([(":method", "POST"), (":scheme", "https"), (":path", "/a")])
    combined = pseudo + HeaderBlock.encode([("Apns-Topic", "com.x"), ("authorization", "bearer t")])
    assert isinstance(combined, HeaderBlock)
    decoder = hpack.Decoder()
    expected = [(":method", "POST"), (":scheme", "https"), (":path", "/a"),
                ("apns-topic", "com.x"), ("authorization", "bearer t")]
    for _ in range(2):  # the same block decodes identically every time: no table state
        assert [tuple(h) for h in decoder.decode(combined)] == expected
    assert len(decoder.header_table.dynamic_entries) == 0


def test_header_block_rejects_what_http2_forbids() -> None:
    with pytest.raises(ValueError, match="CR"):
        HeaderBlock.encode([("x", "a\r\nb")])
    with pytest.raises(ValueError, match="pseudo-header"):
        HeaderBlock.encode([("x", "1"), (":path", "/")])  # RFC 9113 §8.3


# -- response decoding ----------------------------------------------------------------


def test_rfc7541_appendix_c4_huffman_request() -> None:
    block = bytes.fromhex("828684418cf1e3c2e5f23a6ba0ab90f4ff")
    assert HpackDecoder().decode(block) == [
        (b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/"), (b":authority", b"www.example.com")
    ]


_names = st.sampled_from([b":status", b"apns-id", b"content-type", b"date", b"x-a", b"x-b", b"retry-after"])
_values = st.one_of(st.binary(max_size=300), st.uuids().map(lambda u: str(u).encode()), st.just(b"200"))
_block = st.tuples(
    st.lists(st.tuples(_names, _values), max_size=8),
    st.booleans(),  # Huffman
    st.sampled_from([None, 0, 64, 256, 4096]),  # encoder table size change before this block
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_block, min_size=1, max_size=20))
def test_decoder_matches_hpack(blocks: list[tuple[list[tuple[bytes, bytes]], bool, int | None]]) -> None:
    encoder = hpack.Encoder()
    reference = hpack.Decoder()
    decoder = HpackDecoder()
    for fields, huffman, table_size in blocks:
        if table_size is not None:
            encoder.header_table_size = table_size
        block = encoder.encode(fields, huffman=huffman)
        assert decoder.decode(block) == [tuple(f) for f in reference.decode(block, raw=True)]


@given(st.binary(max_size=64))
def test_huffman_round_trip(raw: bytes) -> None:
    encoded = hpack.Encoder().huffman_coder.encode(raw)
    assert huffman_decode(encoded) == raw


@pytest.mark.parametrize(
    ("block", "problem"),
    [
        (b"\x80", "index 0"),
        (b"\xbe", "dynamic index with an empty table"),
        (b"\x40\x01", "truncated literal"),
        (b"\x3f\xe2\x1f", "table size update to 4097, above SETTINGS_HEADER_TABLE_SIZE"),
        (b"\x88\x20", "table size update after a field"),
        (b"\xff\xff\xff\xff\xff\xff\x0f", "integer overflow"),
        (b"\x00\x81\xff\x00", "bad Huffman padding or EOS"),
    ],
)
def test_decoder_rejects_malformed_blocks(block: bytes, problem: str) -> None:
    with pytest.raises((HPACKDecodeError, HuffmanError)):  # a COMPRESSION_ERROR either way
        HpackDecoder().decode(block)


def test_huffman_errors() -> None:
    with pytest.raises(HuffmanError):
        huffman_decode(b"\xff\xff\xff\xff")  # EOS
    with pytest.raises(HuffmanError):
        huffman_decode(b"\x00")  # padding must be 1 bits


def test_response_decoder_splits_status_and_caches_static_blocks() -> None:
    decoder = ResponseHeaderDecoder()
    assert decoder.decode(b"\x88") == (200, [])
    first = decoder.decode(b"\x88")
    first[1].append(("mutated", "x"))
    assert decoder.decode(b"\x88") == (200, [])  # the cache hands out copies
    block = hpack.Encoder().encode([(":status", "410"), ("apns-id", "abc")])
    assert decoder.decode(block) == (410, [("apns-id", "abc")])
    with pytest.raises(HPACKDecodeError):
        decoder.decode(b"\x80")
