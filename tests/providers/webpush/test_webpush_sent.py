"""A SENT Web Push outcome decodes its ``Location`` (the message id) only when it is read,
and is otherwise a plain TokenResult: equal, shown, copied and pickled as one."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import hpack
import pytest

from pushgate.providers.webpush import outcomes
from pushgate.providers.webpush.outcomes import Sent
from pushgate.results import Status, TokenResult
from pushgate.transport.response import Response, header_text

LOCATION = "https://updates.push.services.mozilla.com/m/gAAAAABn-é"
CODED = ("location", hpack.Encoder().huffman_coder.encode(LOCATION.encode()), True)
PLAIN = TokenResult("https://push.example/ep", Status.SENT, message_id=LOCATION, http_status=201)


def sent(location: tuple[str, bytes, bool] | None = CODED) -> Sent:
    return Sent.from_location("https://push.example/ep", 201, location)


def test_the_location_is_decoded_on_first_read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[bytes] = []

    def counting(value: bytes, coded: bool) -> str:
        decoded.append(value)
        return header_text(value, coded)

    monkeypatch.setattr(outcomes, "header_text", counting)
    result = sent()
    assert result.status is Status.SENT
    assert result.http_status == 201
    assert decoded == []
    assert result.message_id == LOCATION
    assert result.message_id == LOCATION
    assert decoded == [CODED[1]]


def test_no_location_and_a_plain_or_bad_one() -> None:
    assert sent(None).message_id is None
    assert sent(("location", b"https://a/m/1", False)).message_id == "https://a/m/1"
    assert sent(("location", b"\xff\xff\xff\xff", True)).message_id == "\ufffd"  # as Response.header


def test_setting_the_message_id_replaces_the_coded_one() -> None:
    result = sent()
    result.message_id = "other"
    assert result.message_id == "other"


def test_it_equals_shows_copies_and_pickles_as_the_plain_result() -> None:
    assert sent() == PLAIN
    assert sent() == PLAIN
    assert sent() == sent()
    assert sent() != dataclasses.replace(PLAIN, message_id="other")
    assert sent(None) != PLAIN
    assert repr(sent()) == repr(PLAIN)
    assert dataclasses.asdict(sent()) == dataclasses.asdict(PLAIN)
    for clone in (copy.copy(sent()), copy.deepcopy(sent()), pickle.loads(pickle.dumps(sent()))):
        assert type(clone) is TokenResult
        assert clone == PLAIN
    assert dataclasses.replace(sent(), status=Status.DEAD) == dataclasses.replace(PLAIN, status=Status.DEAD)
    with pytest.raises(TypeError):
        hash(sent())


def test_response_field_gives_the_undecoded_octets() -> None:
    fields = [("ttl", b"60", False), CODED, ("location", b"second", False)]
    response = Response.from_fields(201, fields, b"")
    assert response.field("location") is CODED
    assert response.field("absent") is None
    built = Response(201, [("location", LOCATION)])  # made from text: its octets, not coded
    assert built.field("location") == ("location", LOCATION.encode(), False)
    assert built.field("absent") is None
