"""The simulators are a second, independent implementation of each protocol.

They must not import the client side: a limit or token format shared by
import would be wrong on both sides at once and no test would notice. So
every simulator module is imported here with ``pushgate.providers`` (and the
former ``pushgate.payloads``) blocked, and the simulators' own copies of the
wire limits are compared with the clients': a drift on either side fails.

``pushgate.crypto`` stays shared on purpose: it is the RFC 8188/8291 and JWT
primitives (the simulator decrypts and verifies what the client encrypts and
signs), not a provider's rules.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pushgate.simulators
from pushgate.crypto import ece
from pushgate.providers.apns import payload as apns_payload
from pushgate.providers.fcm import payload as fcm_payload
from pushgate.providers.webpush import payload as webpush_payload
from pushgate.providers.wns import bodies as wns_bodies
from pushgate.providers.wns import payload as wns_payload
from pushgate.simulators import _apns_checks, _fcm_wire, _webpush_checks, _wns_checks
from pushgate.simulators import fcm as fcm_simulator
from pushgate.simulators import webpush as webpush_simulator

SIMULATOR_MODULES = sorted(
    f"pushgate.simulators.{info.name}"
    for info in pkgutil.iter_modules([str(Path(pushgate.simulators.__file__).parent)])
)

BLOCKED = """
import importlib, importlib.abc, sys

BLOCKED = ("pushgate.providers", "pushgate.payloads")

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ImportError(f"a simulator imported the client side: {name}")
        return None

sys.meta_path.insert(0, Block())
for module in sys.argv[1:]:
    importlib.import_module(module)
leaked = sorted(m for m in sys.modules if m.startswith(BLOCKED))
assert not leaked, leaked
print("ok", len(sys.argv) - 1)
"""


def test_every_simulator_module_imports_without_the_client_side() -> None:
    assert "pushgate.simulators.apns" in SIMULATOR_MODULES
    assert len(SIMULATOR_MODULES) > 10
    done = subprocess.run([sys.executable, "-c", BLOCKED, *SIMULATOR_MODULES], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ok", str(len(SIMULATOR_MODULES))]


def test_apns_limits_agree() -> None:
    assert _apns_checks.PAYLOAD_LIMIT == apns_payload.PAYLOAD_LIMIT == 4096
    assert _apns_checks.VOIP_PAYLOAD_LIMIT == apns_payload.VOIP_PAYLOAD_LIMIT == 5120
    assert _apns_checks.COLLAPSE_ID_LIMIT == apns_payload.COLLAPSE_ID_LIMIT == 64
    assert dict(_apns_checks.TOPIC_SUFFIXES) == dict(apns_payload.TOPIC_SUFFIXES)
    assert _apns_checks.PUSH_TYPES == apns_payload.PUSH_TYPES


def test_fcm_limits_and_formats_agree() -> None:
    assert _fcm_wire.MAX_TTL == fcm_payload.MAX_TTL
    assert _fcm_wire.RESERVED_DATA_KEYS == fcm_payload.RESERVED_DATA_KEYS
    assert _fcm_wire.RESERVED_DATA_PREFIXES == fcm_payload.RESERVED_DATA_PREFIXES
    assert _fcm_wire.MAX_CONDITION_TOPICS == fcm_payload.MAX_CONDITION_TOPICS
    assert _fcm_wire.TARGET_FIELDS == fcm_payload.TARGET_FIELDS
    assert _fcm_wire.TOPIC_RE.pattern == fcm_payload.TOPIC_RE.pattern
    assert _fcm_wire.MESSAGE_SIZE_LIMIT == fcm_payload.MESSAGE_LIMIT
    assert _fcm_wire.TOPIC_MESSAGE_SIZE_LIMIT == fcm_payload.TOPIC_LIMIT
    simulator = fcm_simulator.FCMSimulator.__init__.__kwdefaults__ or {}
    assert simulator["size_limit"] == fcm_payload.MESSAGE_LIMIT
    assert simulator["topic_size_limit"] == fcm_payload.TOPIC_LIMIT
    for token in ("abc_DEF-123:xyz", "x" * 300):
        assert fcm_payload.TOKEN_RE.fullmatch(token)
        assert fcm_simulator.WELL_FORMED_TOKEN.fullmatch(token)
    for token in ("with space", "slash/", ""):
        assert not fcm_payload.TOKEN_RE.fullmatch(token)
        assert not fcm_simulator.WELL_FORMED_TOKEN.fullmatch(token)


def test_fcm_condition_grammar_agrees() -> None:
    conditions = [
        "'a' in topics", "'a' in topics && ('b' in topics || !'c' in topics)", '"d" in topics',
        "'a' in topics && 'b' in topics && 'c' in topics && 'd' in topics && 'e' in topics",
        "'a' in topics && 'b' in topics && 'c' in topics && 'd' in topics && 'e' in topics || 'f' in topics",
        "('a' in topics", "'a' in topics &&", "'bad topic' in topics", "a in topics", "'a' in topics junk",
    ]
    for condition in conditions:
        assert _outcome(_fcm_wire.condition_topics, condition) == _outcome(
            fcm_payload.condition_topics, condition
        ), condition


def _outcome(parse: Callable[[str], object], condition: str) -> object:
    try:
        return parse(condition)
    except ValueError:
        return ValueError


def test_webpush_limits_agree() -> None:
    # The client fills one RFC 8188 record of 4096 bytes; the simulator must accept that body.
    record = webpush_payload.MAX_PLAINTEXT + ece.HEADER_SIZE + ece.TAG_SIZE + 1
    assert record == webpush_simulator.DEFAULT_MAX_BODY == 4096
    assert webpush_payload.DEFAULT_TTL <= _webpush_checks.MAX_TTL


def test_wns_limits_agree() -> None:
    assert _wns_checks.MAX_BODY == wns_payload.WNS_MAX_PAYLOAD == 5000
    assert _wns_checks.LABEL_MAX == wns_payload.LABEL_MAX
    assert _wns_checks.CACHE_POLICIES == wns_payload.CACHE_POLICIES
    for text in ("<toast/>", "<!DOCTYPE x><toast/>", "<toast>", "<a>&lt;</a>"):
        simulated, client = _outcome(_wns_checks.parse_xml, text), _outcome(wns_bodies.parse_xml, text)
        assert simulated.__class__ is client.__class__, text
