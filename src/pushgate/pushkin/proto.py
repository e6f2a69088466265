"""Pushkin's protobuf messages, built at import time from the ``.proto`` files shipped beside this module.

Why not commit ``protoc`` output: generated ``_pb2`` modules are tied to the
protobuf runtime that generated them (a module from one major version may
refuse to load under another), they hide the schema in a serialized blob that
a review cannot read, and regenerating them needs ``grpcio-tools`` or
``protoc``. The two files here are small proto2 schemas with nothing but
messages and scalar or message fields, so this module reads them with a
parser of that subset (:func:`parse_proto`), turns them into a
``FileDescriptorProto`` and lets the protobuf runtime (the ``protobuf``
package, pinned in the ``server`` extra) build the message classes from it
— the same classes ``protoc`` output would give, from the same runtime that
parses requests. Anything outside the subset (enums, ``oneof``, maps,
imports, services) is a :class:`ProtoSyntaxError` rather than a silently
different schema. ``tests/pushkin/test_pushkin_proto.py`` checks the result
against hand-encoded wire bytes of Pushkin's documented field numbers.

The messages live in a private descriptor pool, so Pushkin's package-less
names (``Event``, ``PushNotification``) cannot collide with another schema
loaded in the same process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_FDP = descriptor_pb2.FieldDescriptorProto
SCALAR_TYPES: dict[str, int] = {
    "double": _FDP.TYPE_DOUBLE, "float": _FDP.TYPE_FLOAT, "int32": _FDP.TYPE_INT32,
    "int64": _FDP.TYPE_INT64, "uint32": _FDP.TYPE_UINT32, "uint64": _FDP.TYPE_UINT64,
    "sint32": _FDP.TYPE_SINT32, "sint64": _FDP.TYPE_SINT64, "fixed32": _FDP.TYPE_FIXED32,
    "fixed64": _FDP.TYPE_FIXED64, "sfixed32": _FDP.TYPE_SFIXED32, "sfixed64": _FDP.TYPE_SFIXED64,
    "bool": _FDP.TYPE_BOOL, "string": _FDP.TYPE_STRING, "bytes": _FDP.TYPE_BYTES,
}
LABELS = {"optional": _FDP.LABEL_OPTIONAL, "required": _FDP.LABEL_REQUIRED, "repeated": _FDP.LABEL_REPEATED}
_TOKEN = re.compile(r'\s+|//[^\n]*|/\*.*?\*/|("[^"\n]*"|[A-Za-z_][A-Za-z0-9_.]*|\d+|[{}=;])', re.S)


class ProtoSyntaxError(ValueError):
    """The file uses more of the language than this loader reads, or is not valid proto2."""


@dataclass
class _Message:
    name: str
    fields: list[tuple[str, str, str, int]] = field(default_factory=list)  # label, type, name, number
    nested: list[_Message] = field(default_factory=list)


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ProtoSyntaxError(f"unexpected character {text[position]!r} at offset {position}")
        if match.group(1):
            out.append(match.group(1))
        position = match.end()
    return out


class _Reader:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise ProtoSyntaxError(f"expected {expected or 'a token'}, found {token!r}")
        self.at += 1
        return token

    def message(self) -> _Message:
        self.take("message")
        message = _Message(self.take())
        self.take("{")
        while self.peek() != "}":
            if self.peek() == "message":
                message.nested.append(self.message())
                continue
            label = self.take()
            if label not in LABELS:
                raise ProtoSyntaxError(f"{message.name}: expected a field label, found {label!r}")
            kind, name = self.take(), self.take()
            self.take("=")
            number = self.take()
            if not number.isdigit():
                raise ProtoSyntaxError(f"{message.name}.{name}: field number {number!r}")
            self.take(";")
            message.fields.append((label, kind, name, int(number)))
        self.take("}")
        return message


def parse_proto(text: str, name: str) -> descriptor_pb2.FileDescriptorProto:
    """The ``FileDescriptorProto`` of a proto2 file made of messages (see the module docstring)."""
    reader = _Reader(_tokens(text))
    reader.take("syntax")
    reader.take("=")
    if reader.take() != '"proto2"':
        raise ProtoSyntaxError("only proto2 files are read")
    reader.take(";")
    messages: list[_Message] = []
    while reader.peek() is not None:
        if reader.peek() != "message":
            raise ProtoSyntaxError(f"unsupported statement {reader.peek()!r}")
        messages.append(reader.message())
    out = descriptor_pb2.FileDescriptorProto(name=name, syntax="proto2")
    top = {m.name for m in messages}
    for message in messages:
        out.message_type.append(_descriptor(message, [], top))
    return out


def _descriptor(message: _Message, scope: list[str], top: set[str]) -> descriptor_pb2.DescriptorProto:
    out = descriptor_pb2.DescriptorProto(name=message.name)
    path = [*scope, message.name]
    nested = {m.name for m in message.nested}
    for label, kind, name, number in message.fields:
        item = out.field.add(name=name, number=number, label=LABELS[label], json_name=_json_name(name))
        if kind in SCALAR_TYPES:
            item.type = SCALAR_TYPES[kind]
        elif kind in nested:
            item.type, item.type_name = _FDP.TYPE_MESSAGE, "." + ".".join([*path, kind])
        elif kind in top:
            item.type, item.type_name = _FDP.TYPE_MESSAGE, f".{kind}"
        else:
            raise ProtoSyntaxError(f"{'.'.join(path)}.{name}: unknown type {kind!r}")
    for child in message.nested:
        out.nested_type.append(_descriptor(child, path, top))
    return out


def _json_name(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def load(file_name: str, pool: Any) -> dict[str, Any]:
    """Add the shipped ``file_name`` to ``pool``; its top-level message classes by name."""
    text = resources.files(__package__).joinpath(file_name).read_text(encoding="utf-8")
    proto = parse_proto(text, file_name)
    pool.Add(proto)
    return {
        message.name: message_factory.GetMessageClass(pool.FindMessageTypeByName(message.name))
        for message in proto.message_type
    }


_POOL = descriptor_pool.DescriptorPool()
_NOTIFICATIONS = load("PushNotificationMessage.proto", _POOL)
_EVENTS = load("EventMessage.proto", _POOL)

PushNotification: Any = _NOTIFICATIONS["PushNotification"]
BatchNotificationRequest: Any = _NOTIFICATIONS["BatchNotificationRequest"]
Event: Any = _EVENTS["Event"]
BatchEventRequest: Any = _EVENTS["BatchEventRequest"]

__all__ = [
    "BatchEventRequest", "BatchNotificationRequest", "Event", "ProtoSyntaxError", "PushNotification",
    "parse_proto",
]
