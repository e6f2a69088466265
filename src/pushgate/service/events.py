"""Accepting a batch of events: checked one by one, the accepted ones stored with their job.

``POST /v1/events`` (and any other front end, such as a Pushkin-compatible
route) calls :func:`submit_events`. Each event is checked on its own and a
bad one is answered as a rejection (its index and the reason) without
failing the others. The accepted events are stored as one batch together
with its job in **one transaction** (:meth:`Queue.enqueue_with`), so the
202 means they are durable; a worker then decides them
(:mod:`pushgate.workers.events`, docs/events.md §4).

The checks here are the ones that can be made without the catalog's state
at processing time: the user id's shape, the event id (positive, and not
in the reserved range 4000-4999 unless it is one of the app's predefined
events), an aware timestamp, parameter names (letters, digits,
underscore) and, for a login event, a device registration that would be
accepted (provider or platform, token shape, language tag). Whether a
message exists for the event, or the user is known, is decided when the
batch is processed, because a login earlier in the same batch may create
the user.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from pushgate.planner.jobs import EVENTS_QUEUE, event_batch_job
from pushgate.registry import ValidationError
from pushgate.registry.catalog.batches import store_batch
from pushgate.registry.catalog.messages import get_event_settings
from pushgate.registry.catalog.tables import RESERVED_EVENTS
from pushgate.registry.constants import MAX_EXTERNAL_ID_LENGTH
from pushgate.registry.device_specs import check_text_field
from pushgate.registry.endpoint_hosts import with_app_hosts
from pushgate.registry.text import CONTROL, CONTROL_IN_TEXT, check_text
from pushgate.registry.users import validate_external_id
from pushgate.registry.validation import ValidationPolicy, validate_locale, validate_timezone, validate_token
from pushgate.service.admission import admit
from pushgate.service.catalog import MAX_EVENT_ID
from pushgate.service.components import Services
from pushgate.workers.event_rules import login_fields

MAX_EVENTS = 10_000  # events in one request
MAX_PARAMS = 100  # parameters of one event
MAX_PARAM_VALUE = 2000  # characters of one parameter value
_PARAM_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
_GOOD_NAMES: set[str] = set()  # parameter names that passed _PARAM_NAME
_GOOD_NAMES_KEPT = 4096
_CONTROL, _CONTROL_IN_TEXT = CONTROL, CONTROL_IN_TEXT


class EventIn(NamedTuple):
    """One event as a front end parsed it. A named tuple of plain values: a request's thousands of
    them are untracked by the cyclic garbage collector once it has seen them (a class instance
    would be tracked until freed, and counted towards its full collections)."""

    user_id: str  # the app's external user id (Pushkin's integer ids arrive as decimal strings)
    event_id: int
    timestamp: datetime  # aware, UTC
    params: dict[str, str]


@dataclass(frozen=True, slots=True)
class EventRejection:
    index: int
    reason: str


@dataclass(frozen=True, slots=True)
class EventBatchResult:
    accepted: int
    rejected: list[EventRejection]


@dataclass(frozen=True, slots=True)
class StoredEvents:
    """:class:`EventBatchResult` and the stored batch's id (None when nothing was accepted)."""

    result: EventBatchResult
    batch_id: str | None


async def submit_events(components: Services, app_id: int, events: Sequence[EventIn]) -> EventBatchResult:
    """Check and store a batch of events (see the module docstring).

    :raises ValidationError: the batch as a whole is refused (empty or too large).
    :raises Backpressure: the queue is full; nothing was stored.
    """
    return (await accept_events(components, app_id, events)).result


async def accept_events(components: Services, app_id: int, events: Sequence[EventIn]) -> StoredEvents:
    """:func:`submit_events`, also naming the stored batch (``GET /v1/events/{id}`` shows it)."""
    stored = await asyncio.to_thread(store_events, components, app_id, events)
    if stored.batch_id is not None and components.on_enqueue is not None:
        components.on_enqueue(EVENTS_QUEUE)
    return stored


def store_events(components: Services, app_id: int, events: Sequence[EventIn]) -> StoredEvents:
    """The synchronous body of :func:`submit_events` (the command line calls it directly)."""
    if not events or len(events) > MAX_EVENTS:
        raise ValidationError("events", f"1 to {MAX_EVENTS} events")
    db = components.db
    policy = components.policy
    with db.session(write=False) as session:
        settings = get_event_settings(session, app_id)
        if any(event.event_id == settings["login_event_id"] for event in events):
            # A login registers its device: the app's own credentials may allow its endpoint.
            policy = with_app_hosts(session, app_id, policy)
    rows: list[tuple[Any, ...]] = []
    rejected: list[EventRejection] = []
    for index, event in enumerate(events):
        try:
            rows.append(_checked(event, settings, policy))
        except ValidationError as exc:
            rejected.append(EventRejection(index, f"{exc.field}: {exc.message}"))
    result = EventBatchResult(len(rows), rejected)
    if not rows:
        return StoredEvents(result, None)
    # Events not yet decided are deliveries on their way too (at least one each): they count with
    # the direct lanes against max_direct_queue_depth.
    admit(db, components.queue, components.settings, direct=True, adding=len(rows),
          also_waiting=components.queue.depth(EVENTS_QUEUE))
    with db.session() as session:
        batch_id = store_batch(session.connection(), app_id, rows)
        job = event_batch_job(batch_id, len(rows), max_tries=components.settings.max_tries)
        components.queue.enqueue_with(session, [job])
    return StoredEvents(result, batch_id)


def _checked(event: EventIn, settings: Mapping[str, Any], policy: ValidationPolicy) -> tuple[Any, ...]:
    user = event.user_id
    if type(user) is not str or not 0 < len(user) <= MAX_EXTERNAL_ID_LENGTH or _CONTROL.search(user):
        user = validate_external_id(user, "user_id")  # raises, saying why
    event_id = event.event_id
    if not isinstance(event_id, int) or isinstance(event_id, bool) or not 0 < event_id <= MAX_EVENT_ID:
        raise ValidationError("event_id", f"an integer from 1 to {MAX_EVENT_ID}")
    login, optout = settings["login_event_id"], settings["optout_event_id"]
    if event_id in RESERVED_EVENTS and event_id not in (login, optout):
        raise ValidationError("event_id", f"{event_id} is in the reserved range {RESERVED_EVENTS.start} to "
                              f"{RESERVED_EVENTS.stop - 1} and is not a predefined event of this app")
    stamp = event.timestamp
    if not isinstance(stamp, datetime) or stamp.tzinfo is None:
        raise ValidationError("timestamp", "a time with a time zone")
    params = event.params or {}
    if len(params) > MAX_PARAMS:
        raise ValidationError("params", f"at most {MAX_PARAMS} parameters")
    for name, value in params.items():
        if name not in _GOOD_NAMES:  # a batch repeats a few names: check each once
            if not isinstance(name, str) or not _PARAM_NAME.fullmatch(name):
                raise ValidationError(f"params.{name}", "names are 1 to 64 letters, digits or underscores")
            if len(_GOOD_NAMES) < _GOOD_NAMES_KEPT:
                _GOOD_NAMES.add(name)
        if not isinstance(value, str) or len(value) > MAX_PARAM_VALUE:
            raise ValidationError(f"params.{name}", f"a string of at most {MAX_PARAM_VALUE} characters")
        if _CONTROL_IN_TEXT.search(value):
            check_text(value, f"params.{name}")  # raises, naming the field
    if event_id == login:
        _check_login(params, policy)
    # A tuple of plain values (and a dict of strings): untracked by the cyclic garbage collector.
    return (user, event_id, stamp.timestamp(), params if type(params) is dict else dict(params))


def _check_login(params: Mapping[str, str], policy: ValidationPolicy) -> None:
    """A login whose device registration would be refused is rejected now, with the reason."""
    try:
        fields = login_fields(params)
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        raise ValidationError(field, message) from None
    validate_token(fields.provider, fields.token, policy=policy)
    if fields.locale:
        validate_locale(fields.locale, "params.language")
    if fields.timezone:
        validate_timezone(fields.timezone, "params.timezone")
    if fields.app_version:
        check_text_field(fields.app_version, "app_version", "params.application_version")
    if fields.device_id:
        check_text_field(fields.device_id, "device_id", "params.device_id")


__all__ = [
    "MAX_EVENTS",
    "EventBatchResult",
    "EventIn",
    "EventRejection",
    "StoredEvents",
    "accept_events",
    "store_events",
    "submit_events",
]
