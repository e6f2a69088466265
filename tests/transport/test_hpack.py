"""HPACK both ways: stateless request blocks, and the response decoder against ``hpack``."""

from __future__ import annotations

from typing import Any, cast

import hpack
import pytest
from hpack.table import HeaderTable
from hypothesis import given, settings
from hypothesis import strategies as st

from pushgate.transport import HeaderBlock, LiteralField, Response
from pushgate.transport.hpack_decode import (
    STRING_CACHE_SIZE,
    HPACKDecodeError,
    HpackDecoder,
    ResponseHeaderDecoder,
)
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
        decoded: list[tuple[object, ...]] = [tuple(h) for h in decoder.decode(combined)]
        assert decoded == expected
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
    first[1].append(cast(Any, ("mutated", "x")))
    assert decoder.decode(b"\x88") == (200, [])  # the cache hands out copies
    block = hpack.Encoder().encode([(":status", "410"), ("apns-id", "abc")], huffman=False)
    assert decoder.decode(block) == (410, [("apns-id", b"abc", False)])
    with pytest.raises(HPACKDecodeError):
        decoder.decode(b"\x80")


# -- lazy values ----------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.lists(_block, min_size=1, max_size=20))
def test_lazy_values_decode_to_what_hpack_decodes(
    blocks: list[tuple[list[tuple[bytes, bytes]], bool, int | None]],
) -> None:
    """Values left coded decode to hpack's; fields entering the table are never left coded."""
    encoder = hpack.Encoder()
    reference = hpack.Decoder()
    decoder = HpackDecoder()
    for fields, huffman, table_size in blocks:
        if table_size is not None:
            encoder.header_table_size = table_size
        block = encoder.encode(fields, huffman=huffman)
        lazy = decoder.decode_lazy(block)
        expected = [tuple(f) for f in reference.decode(block, raw=True)]
        assert [(n, huffman_decode(v) if coded else v) for n, v, coded in lazy] == expected
        if not huffman:
            assert not any(coded for _, _, coded in lazy)


def test_only_values_outside_the_table_stay_coded() -> None:
    encoder = hpack.Encoder()
    # §6.2.2 literal without indexing, new name: both strings Huffman-coded.
    name, value = encoder.huffman_coder.encode(b"x-lazy"), encoder.huffman_coder.encode(b"abcdefg")
    block = bytes((0x00, 0x80 | len(name))) + name + bytes((0x80 | len(value),)) + value
    decoder = HpackDecoder()
    [(name, value, coded)] = decoder.decode_lazy(block)
    assert (name, coded) == (b"x-lazy", True)  # the name is decoded, the value is not
    assert huffman_decode(value) == b"abcdefg"


def test_huffman_string_cache_is_bounded_and_correct() -> None:
    encoder = hpack.Encoder()
    decoder = HpackDecoder(max_table_size=4096)
    for i in range(3 * STRING_CACHE_SIZE):
        block = encoder.encode([("x-n", f"value number {i % 400}")], huffman=True)
        assert decoder.decode(block) == [(b"x-n", f"value number {i % 400}".encode())]
        assert len(decoder._strings) <= STRING_CACHE_SIZE


def test_response_decodes_header_values_on_demand() -> None:
    coded = hpack.Encoder().huffman_coder.encode(b"0f5c0e2e-5b7a-4c1d-9d2e-111111111111")
    response = Response.from_fields(200, [("server", b"nginx", False), ("apns-id", coded, True)], b"")
    assert response.header("apns-id") == "0f5c0e2e-5b7a-4c1d-9d2e-111111111111"
    assert response.header("missing") is None
    assert response.headers == [("server", "nginx"), ("apns-id", "0f5c0e2e-5b7a-4c1d-9d2e-111111111111")]
    assert response.header("server") == "nginx"  # after .headers, from the decoded list
    assert response == Response(200, response.headers, b"")
    broken = Response.from_fields(200, [("x", b"\xff\xff\xff\xff", True)], b"")
    assert broken.header("x") == "\ufffd"  # EOS in the string: never raises on read


def test_response_decoder_with_nginx_answers() -> None:
    """nginx indexes server/date/content-type/content-length in every answer and
    sends apns-id without indexing: the status and names come out, the id stays coded."""
    block = bytes.fromhex(
        "887684aa6355e76196d07abe94132a693f75040138a05fb827ae01953168df5f8b1d75d0620d263d4c"
        "7441ea5c013000851d752163499a08421084215842109669965959e69a6966db6db6db6db6db6c1f"
    )
    reference = hpack.Decoder()
    decoder = ResponseHeaderDecoder()
    for _ in range(50):  # the same answer again and again: table churn and string caches
        expected = [(n.decode(), v.decode()) for n, v in reference.decode(block, raw=True)]
        status, fields = decoder.decode(block)
        assert status == 200
        assert Response.from_fields(status, fields, b"").headers == expected[1:]
        assert [coded for _, _, coded in fields] == [False, False, False, False, True]


def test_literal_field_matches_header_block_encode() -> None:
    path = LiteralField(":path")
    for value in ["/3/device/" + "ab" * 32, "/wpush/x?y=1", "/" + "p" * 300, "/ünïcode", ""]:
        assert path.encode(value) == HeaderBlock.encode([(":path", value)])
        assert path.encode(value) == HeaderBlock.encode([(":path", value)])  # from the cached prefix
    assert LiteralField("apns-id").encode("x") == HeaderBlock.encode([("apns-id", "x")])
    for bad in ["/a\r\nx: y", "/a\0"]:
        with pytest.raises(ValueError, match="CR"):
            path.encode(bad)


# -- replayed prefixes (nginx-style answers) ------------------------------------------

_huff = hpack.Encoder().huffman_coder.encode


def _string(raw: bytes, huffman: bool) -> bytes:
    data = _huff(raw) if huffman else raw
    return _int(len(data), 7, 0x80 if huffman else 0) + data


def _int(value: int, bits: int, pattern: int) -> bytes:
    limit = (1 << bits) - 1
    if value < limit:
        return bytes((pattern | value,))
    out = bytearray((pattern | limit,))
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_op = st.one_of(
    st.tuples(st.just("static"), st.integers(1, 61)),
    st.tuples(st.just("inc"), st.sampled_from([b"server", b"date", b"x-a", b":status"]),
              st.sampled_from([b"nginx", b"Mon, 23 Nov 2026 19:28:03 GMT", b"410", b"v" * 200]),
              st.booleans()),
    st.tuples(st.just("inc-static-name"), st.sampled_from([8, 28, 31, 33, 54]),
              st.sampled_from([b"0", b"201", b"application/json"]), st.booleans()),
    st.tuples(st.just("plain"), st.sampled_from([b"apns-id", b"location"]), st.binary(max_size=40),
              st.booleans()),
    st.tuples(st.just("dynamic"), st.integers(0, 40)),
    st.tuples(st.just("size"), st.sampled_from([0, 100, 256, 4096])),
)


def _encode(ops: list[tuple[object, ...]], model: HeaderTable) -> bytes:
    """Encode ``ops`` as written (the table model keeps dynamic references valid)."""
    out = bytearray()
    for position, op in enumerate(ops):
        kind = op[0]
        if kind == "static":
            out += _int(int(op[1]), 7, 0x80)  # type: ignore[call-overload]
        elif kind == "inc":
            _, name, value, huffman = op
            out += b"\x40" + _string(name, bool(huffman)) + _string(value, bool(huffman))  # type: ignore[arg-type]
            model.add(cast(bytes, name), cast(bytes, value))
        elif kind == "inc-static-name":
            _, index, value, huffman = op
            out += _int(int(index), 6, 0x40) + _string(value, bool(huffman))  # type: ignore[call-overload, arg-type]
            model.add(HeaderTable.STATIC_TABLE[int(index) - 1][0], cast(bytes, value))  # type: ignore[call-overload]
        elif kind == "plain":
            _, name, value, huffman = op
            out += b"\x00" + _string(name, bool(huffman)) + _string(value, bool(huffman))  # type: ignore[arg-type]
        elif kind == "dynamic" and model.dynamic_entries:
            out += _int(62 + int(op[1]) % len(model.dynamic_entries), 7, 0x80)  # type: ignore[call-overload]
        elif kind == "size" and position == 0:
            out += _int(int(op[1]), 5, 0x20)  # type: ignore[call-overload]
            model.maxsize = int(op[1])  # type: ignore[call-overload]
    return bytes(out)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(_op, min_size=1, max_size=6), min_size=1, max_size=4),  # prefixes
    st.lists(st.tuples(st.integers(0, 3), st.lists(_op, max_size=3)), min_size=1, max_size=40),
)
def test_replayed_prefixes_match_hpack(
    prefixes: list[list[tuple[object, ...]]], blocks: list[tuple[int, list[tuple[object, ...]]]]
) -> None:
    """Blocks that repeat a few prefixes (as nginx does), with varying tails, dynamic
    references and size updates: the response decoder agrees with hpack on every one."""
    model = HeaderTable()
    reference = hpack.Decoder()
    decoder = ResponseHeaderDecoder()
    for choice, tail in blocks:
        block = _encode(prefixes[choice % len(prefixes)] + tail, model)
        try:
            expected = reference.decode(block, raw=True)
        except hpack.HPACKError:
            return  # e.g. an oversized header list; the generator is not that careful
        status_raw = [v for n, v in expected if n == b":status"]
        status, fields = decoder.decode(block)
        got = [(n, huffman_decode(v) if coded else v) for n, v, coded in fields]
        assert got == [(n.decode(), v) for n, v in expected if not n.startswith(b":")]
        if status_raw:
            last = status_raw[-1]  # the last wins; RFC 9113 §8.3.2: three digits or malformed (-1)
            assert status == (int(last) if len(last) == 3 and last.isdigit() else -1)
