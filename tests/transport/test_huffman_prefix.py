"""The Huffman decoder's cache of long values' first octets (``huffman.PREFIX_OCTETS``)."""

from __future__ import annotations

import secrets

import hpack
import pytest

from pushgate.transport import huffman
from pushgate.transport.huffman import PREFIX_OCTETS, HuffmanError, huffman_decode
from pushgate.transport.response import Response

_encode = hpack.Encoder().huffman_coder.encode
_BASE = b"https://updates.push.services.mozilla.com/m/"  # one push service's Location prefix


def test_values_sharing_a_cached_head_each_decode_to_their_own_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(huffman, "_prefixes", {})
    values = [_BASE + secrets.token_urlsafe(40).encode() for _ in range(20)]
    coded = [_encode(value) for value in values]
    assert len({c[:PREFIX_OCTETS] for c in coded}) == 1  # the same head: one cache entry serves all
    assert [huffman_decode(c) for c in coded] == values
    assert coded[0][:PREFIX_OCTETS] in huffman._prefixes
    assert [huffman_decode(c) for c in reversed(coded)] == values[::-1]  # from the cache this time


def test_a_head_ending_mid_symbol_continues_in_the_right_state() -> None:
    # Every split of the same text at the cache boundary: the cached state must be the
    # decoder's state in the middle of a symbol, not the start of the next one.
    for cut in range(1, 12):
        text = b"e" * cut + b"https://fcm.googleapis.com/fcm/send/" + b"Zq9%" * 5
        assert huffman_decode(_encode(text)) == text


def test_values_no_longer_than_the_head_are_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(huffman, "_prefixes", {})
    short = _encode(b"0123456789abcdef")
    assert len(short) <= PREFIX_OCTETS
    assert huffman_decode(short) == b"0123456789abcdef"
    assert huffman._prefixes == {}


def test_bad_coding_after_or_inside_a_cached_head_is_still_an_error() -> None:
    good = _encode(_BASE + b"gAAAAABn")
    for _ in range(2):  # the first time fills the cache, the second reads it
        with pytest.raises(HuffmanError):
            huffman_decode(good + b"\xff\xff\xff\xff")  # EOS after the head
        with pytest.raises(HuffmanError):
            huffman_decode(b"\xff\xff\xff\xff" + good)  # EOS inside the head
        with pytest.raises(HuffmanError):
            huffman_decode(good[:-1] + b"\x00")  # padding that is not all 1 bits


def test_a_full_cache_takes_no_more_and_still_decodes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(huffman, "_prefixes", {})
    values = [secrets.token_hex(32).encode() for _ in range(huffman.PREFIX_CACHE_SIZE + 50)]
    assert [huffman_decode(_encode(value)) for value in values] == values
    assert len(huffman._prefixes) == huffman.PREFIX_CACHE_SIZE


def test_response_header_text_from_a_coded_value() -> None:
    location = _BASE + b"gAAAAABn-\xc3\xa9"  # UTF-8 that is not ASCII decodes as UTF-8
    fields = [("location", _encode(location), True), ("ttl", b"60", False)]
    response = Response.from_fields(201, fields, b"")
    assert response.header("location") == location.decode("utf-8")
    assert response.header("ttl") == "60"
