"""Pushkin's protobuf messages: the classes built from the shipped .proto files speak Pushkin's wire format.

The expected bytes are written by hand from Pushkin's documented field
numbers and types (docs/pushkin.md §2): tag = field number << 3 | wire type
(0 varint, 2 length-delimited), per the protobuf encoding spec
(protobuf.dev/programming-guides/encoding).
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from google.protobuf import descriptor_pb2

from pushgate.pushkin import proto
from pushgate.pushkin.proto import ProtoSyntaxError, parse_proto

# BatchNotificationRequest{notifications: [PushNotification{
#     login_id 1337, title "Hi", content "Yo", screen "s"}]}
NOTIFICATION = b"\x08\xb9\x0a" + b"\x12\x02Hi" + b"\x1a\x02Yo" + b"\x22\x01s"
BATCH_NOTIFICATION = b"\x0a" + bytes([len(NOTIFICATION)]) + NOTIFICATION
# Event{user_id 7, event_id 4001, event_type 1, timestamp 1458823448000, pairs [{"a": "b"}]}
PAIR = b"\x0a\x01a" + b"\x12\x01b"
EVENT = (b"\x08\x07" + b"\x10\xa1\x1f" + b"\x18\x01" + b"\x20\xc0\x8b\x9d\xc5\xba\x2a"
         + b"\x2a" + bytes([len(PAIR)]) + PAIR)
BATCH_EVENT = b"\x0a" + bytes([len(EVENT)]) + EVENT


def test_a_notification_batch_serializes_to_pushkins_bytes() -> None:
    batch = proto.BatchNotificationRequest()
    item = batch.notifications.add()
    item.login_id, item.title, item.content, item.screen = 1337, "Hi", "Yo", "s"
    assert batch.SerializeToString() == BATCH_NOTIFICATION

    parsed = proto.BatchNotificationRequest.FromString(BATCH_NOTIFICATION)
    (only,) = parsed.notifications
    assert (only.login_id, only.title, only.content, only.screen) == (1337, "Hi", "Yo", "s")


def test_an_event_batch_serializes_to_pushkins_bytes() -> None:
    batch = proto.BatchEventRequest()
    event = batch.events.add()
    event.user_id, event.event_id, event.event_type, event.timestamp = 7, 4001, 1, 1458823448000
    pair = event.pairs.add()
    pair.key, pair.value = "a", "b"
    assert batch.SerializeToString() == BATCH_EVENT

    (parsed,) = proto.BatchEventRequest.FromString(BATCH_EVENT).events
    assert (parsed.user_id, parsed.event_id, parsed.timestamp) == (7, 4001, 1458823448000)
    assert [(p.key, p.value) for p in parsed.pairs] == [("a", "b")]


def _fields(message: Any) -> dict[str, tuple[int, int, int]]:
    f = descriptor_pb2.FieldDescriptorProto
    return {
        d.name: (d.number, d.type, f.LABEL_REQUIRED if d.is_required else
                 f.LABEL_REPEATED if d.is_repeated else f.LABEL_OPTIONAL)
        for d in message.DESCRIPTOR.fields
    }


def test_field_numbers_types_and_labels_are_pushkins() -> None:
    f = descriptor_pb2.FieldDescriptorProto
    opt, req, rep = f.LABEL_OPTIONAL, f.LABEL_REQUIRED, f.LABEL_REPEATED
    assert _fields(proto.PushNotification) == {
        "login_id": (1, f.TYPE_INT64, opt), "title": (2, f.TYPE_STRING, opt),
        "content": (3, f.TYPE_STRING, opt), "screen": (4, f.TYPE_STRING, opt),
    }
    assert _fields(proto.BatchNotificationRequest) == {"notifications": (1, f.TYPE_MESSAGE, rep)}
    assert _fields(proto.Event) == {
        "user_id": (1, f.TYPE_INT64, opt), "event_id": (2, f.TYPE_INT32, opt),
        "event_type": (3, f.TYPE_INT32, opt), "timestamp": (4, f.TYPE_INT64, opt),
        "pairs": (5, f.TYPE_MESSAGE, rep),
    }
    assert _fields(proto.Event.Pair) == {"key": (1, f.TYPE_STRING, req), "value": (2, f.TYPE_STRING, req)}
    assert proto.Event.Pair.DESCRIPTOR.full_name == "Event.Pair"  # nested, as in Pushkin
    assert _fields(proto.BatchEventRequest) == {"events": (1, f.TYPE_MESSAGE, rep)}


@pytest.mark.parametrize(("text", "problem"), [
    ('syntax = "proto3"; message A { int32 a = 1; }', "only proto2"),
    ('syntax = "proto2"; enum E { X = 0; }', "unsupported statement 'enum'"),
    ('syntax = "proto2"; message A { optional Missing m = 1; }', "unknown type 'Missing'"),
    ('syntax = "proto2"; message A { optional int32 a = x; }', "field number 'x'"),
    ('syntax = "proto2"; message A { oneof o { int32 a = 1; } }', "expected a field label"),
    ('syntax = "proto2"; message A { optional int32 a = 1 }', "expected ;"),
    ('syntax = "proto2"; message A { optional int32 a = 1; } ?', "unexpected character '?'"),
])
def test_the_loader_refuses_what_it_does_not_read(text: str, problem: str) -> None:
    with pytest.raises(ProtoSyntaxError, match=problem):
        parse_proto(text, "x.proto")


def test_the_loader_resolves_nested_and_top_level_message_types() -> None:
    text = """
    syntax = "proto2";  // a comment
    /* a block comment */
    message Outer { message Inner { required bytes b = 1; } repeated Inner inner = 1; optional Other o = 2; }
    message Other { optional bool flag_value = 1; }
    """
    file = parse_proto(text, "t.proto")
    outer, other = file.message_type
    assert [(f.name, f.type_name) for f in outer.field] == [("inner", ".Outer.Inner"), ("o", ".Other")]
    assert other.field[0].json_name == "flagValue"


def test_an_idle_server_does_not_load_protobuf() -> None:
    # Its classes are built on the first protobuf request (pushgate.pushkin.requests): idle RSS stays lower.
    probe = (
        "import sys; from pushgate.server import create_app; from pushgate.service.settings import Settings;"
        "create_app(Settings()); print('google.protobuf' in sys.modules)"
    )
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "False"
