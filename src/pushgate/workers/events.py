"""An event batch job: events → the messages they trigger → per-device texts and delivery jobs.

One job per accepted batch (queue ``events``, id ``events:<batch id>``).
The whole batch is decided in **one transaction** (docs/events.md §4):

1. predefined events first, in their order: a login registers or updates
   the user's device and language (as ``POST /v1/devices`` does); an
   opt-out snapshot replaces the user's set of refused messages;
2. every other event is matched with the messages it triggers, and each
   (user, message) is checked: the user is known, not opted out, the event
   not older than the message's expiry, the user's quiet hours (hold or
   drop), and at least one active device;
3. each device's title and body are rendered in the user's language; a
   missing parameter or language fails that delivery with its reason,
   before any cooldown or cap is spent;
4. the frequency cap, then the cooldown, are taken atomically in SQL
   (:mod:`pushgate.registry.catalog.decide`); a user refused by the
   cooldown gets the cap back;
5. one send per message and batch (``sending``, counted like any send),
   the texts, the failed outcomes, the delivery jobs (held ones due when
   the quiet window ends) and the batch's ``done`` mark are written, and
   committed together.

A crash before the commit leaves nothing behind and the job runs again; a
re-run after it finds the batch done. The per-event work is a handful of
statements per batch, not per event, so a batch of 1,000 events costs
about as much as a few queries and the rendering.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from pushgate.planner.jobs import DeliveryPayload, delivery_job
from pushgate.queue import ClaimedJob, Job, Queue
from pushgate.registry import (
    DeliveryStatus,
    DeviceSpec,
    Outcome,
    ValidationError,
    register_device,
    upsert_user,
)
from pushgate.registry.catalog import batches, decide
from pushgate.registry.catalog.messages import get_event_settings, list_messages, message_ids
from pushgate.registry.outcomes import record_outcomes_on
from pushgate.registry.users import ensure_users
from pushgate.registry.validation import DEFAULT_POLICY, ValidationPolicy
from pushgate.service.components import validation_policy
from pushgate.workers import event_rules as rules
from pushgate.workers.event_rules import CompiledMessage

if TYPE_CHECKING:
    from pushgate.registry import Database
    from pushgate.workers.context import WorkerContext

logger = logging.getLogger("pushgate.workers")


@dataclass(slots=True)
class _SendPlan:
    """What one event send gets: devices to deliver to now and later (with their texts), failures."""

    message: CompiledMessage
    deliver: list[tuple[int, str, str, str]] = field(default_factory=list)  # id, provider, title, body
    held: list[tuple[int, str, str, str, float]] = field(default_factory=list)  # … and when it is due
    failed: list[tuple[str, Outcome]] = field(default_factory=list)  # (provider, outcome)


@dataclass(slots=True)
class BatchDecision:
    """What a batch became (stored on the batch, shown by ``GET /v1/events/{id}``)."""

    counts: Counter[str] = field(default_factory=Counter)
    sends: list[str] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def outcome(self) -> dict[str, Any]:
        return {"counts": dict(sorted(self.counts.items())), "sends": self.sends, "errors": self.errors[:100]}


async def run_event_batch(ctx: WorkerContext, job: ClaimedJob) -> None:
    """Run one ``events`` job (see the module docstring)."""
    batch_id = str(job.payload["batch_id"])
    async with ctx.heartbeat(job):
        decision = await asyncio.to_thread(
            decide_batch, ctx.db, ctx.queue, batch_id, chunk_size=ctx.settings.chunk_size,
            max_tries=ctx.settings.max_tries, policy=validation_policy(ctx.settings),
        )
    if decision is not None and decision.jobs:
        ctx.notify()
    await asyncio.to_thread(ctx.queue.complete, [job.id])


def decide_batch(
    db: Database,
    queue: Queue,
    batch_id: str,
    *,
    chunk_size: int,
    max_tries: int,
    policy: ValidationPolicy = DEFAULT_POLICY,
    now: datetime | None = None,
) -> BatchDecision | None:
    """Decide and store a batch in one transaction; None when it was done already or is gone."""
    stored = batches.load_batch(db, batch_id)
    if stored is None or stored.status != batches.BATCH_QUEUED:
        return None
    app_id, events = stored.app_id, stored.events
    del stored  # the events' lists go as soon as they are read (below), not at the end
    now = now or datetime.now(UTC)
    decision = BatchDecision()
    with db.session() as session:
        connection = session.connection()
        if not batches.claim_batch(connection, batch_id):
            return None
        settings = get_event_settings(session, app_id)
        catalog = [rules.compile_message(view, settings) for view in list_messages(session, app_id)]
        login, optout = settings["login_event_id"], settings["optout_event_id"]
        others = []
        for index, (user, event_id, stamp, params) in enumerate(events):
            if event_id == login:
                _login(session, app_id, index, user, params, decision, policy, now)
            elif event_id == optout:
                _optout_snapshot(session, app_id, user, params, decision)
            else:
                others.append((user, event_id, float(stamp), params))
        del events
        plans = _plan(connection, app_id, others, catalog, settings, decision, now)
        for plan in plans:
            _store_send(connection, app_id, batch_id, plan, decision, chunk_size, max_tries, now)
        if decision.jobs:
            queue.enqueue_with(session, decision.jobs)
        batches.finish_batch(connection, batch_id, decision.outcome(), now=now)
    return decision


def _login(session: Session, app_id: int, index: int, user: str, params: Mapping[str, str],
           decision: BatchDecision, policy: ValidationPolicy, now: datetime) -> None:
    """Pushkin's login event: register the device as ``POST /v1/devices`` would, keep the language."""
    try:
        f = rules.login_fields(params)
        spec = DeviceSpec(provider=f.provider, token=f.token, user=user, platform=f.platform,
                          app_version=f.app_version, locale=f.locale, timezone=f.timezone,
                          device_id=f.device_id)
        with session.begin_nested():  # a bad login fails alone, not the batch
            if f.locale or f.timezone:
                upsert_user(session, app_id, user, locale=f.locale, timezone=f.timezone, now=now)
            register_device(session, app_id, spec, policy=policy, now=now)
        decision.counts["logins"] += 1
    except (ValueError, ValidationError) as exc:
        decision.counts["login_errors"] += 1
        decision.errors.append({"index": index, "reason": str(exc)[:200]})


def _optout_snapshot(session: Session, app_id: int, user: str, params: Mapping[str, str],
                     decision: BatchDecision) -> None:
    """Pushkin's blacklist event: the values are message ids (or names); keys do not matter."""
    values = [str(v) for v in params.values()]
    ids = {int(v) for v in values if v.isdigit()}
    named = message_ids(session, app_id, [v for v in values if not v.isdigit()])
    user_id = ensure_users(session, app_id, [user])[user]
    decide.replace_optouts(session.connection(), user_id, ids | set(named.values()))
    decision.counts["optout_snapshots"] += 1


# A (user, message) that passed the checks before rendering: the user, the message's index in the
# catalog, the event's params and when quiet hours release it (None: now). Tuples of plain values
# (and an index rather than the message itself) are untracked by the cyclic garbage collector
# after its first pass, so a batch's thousands of them do not make the full collections of a
# long-running worker more frequent.
_Candidate = tuple[decide.EventUser, int, Mapping[str, str], float | None]
# What a candidate's devices got: (device id, provider, title, body), and the failures.
_Rendered = tuple[tuple[int, str, str, str], ...]


def _plan(connection: Connection, app_id: int, events: list[tuple[str, int, float, Mapping[str, str]]],
          catalog: list[CompiledMessage], settings: Mapping[str, Any], decision: BatchDecision,
          now: datetime) -> list[_SendPlan]:
    if not events:
        return []
    by_event: dict[int, list[int]] = defaultdict(list)
    for index, message in enumerate(catalog):
        for event_id in message.events:
            by_event[event_id].append(index)
    users = decide.find_users(connection, app_id, [e[0] for e in events])
    everything, pairs = decide.refused(connection, [u.id for u in users.values()],
                                       {m.name: m.id for m in catalog})
    counts = decision.counts
    stamp_now = now.timestamp()
    start, end = settings["quiet_start"], settings["quiet_end"]
    # Messages that need no per-event check beyond the opt-outs (no expiry, quiet hours ignored).
    plain = [m.expiry is None and m.quiet_hours == "deliver" for m in catalog]
    candidates: list[_Candidate] = []
    add = candidates.append
    for external, event_id, stamp, params in events:
        user = users.get(external)
        if user is None:
            counts[rules.UNKNOWN_USER] += 1
            continue
        indexes = by_event.get(event_id)
        if not indexes:
            counts[rules.NO_MESSAGE] += 1
            continue
        for index in indexes:
            message = catalog[index]
            if user.id in everything or (user.id, message.id) in pairs:
                counts[rules.OPTED_OUT] += 1
                continue
            if plain[index]:
                add((user, index, params, None))
                continue
            deadline = stamp + message.expiry if message.expiry is not None else None
            if deadline is not None and deadline < stamp_now:
                counts[rules.EXPIRED] += 1
                continue
            hold = None
            if message.quiet_hours != "deliver":
                until = rules.quiet_until(user.timezone, now, start, end)
                if until is not None:
                    if message.quiet_hours == "drop":
                        counts[rules.QUIET_DROPPED] += 1
                        continue
                    hold = until.timestamp()
                    if deadline is not None and deadline < hold:
                        counts[rules.EXPIRED] += 1
                        continue
            add((user, index, params, hold))
    first: dict[int, decide.EventDevice] = {}  # a user's first device; most users have one
    more: dict[int, list[decide.EventDevice]] = {}  # all devices of users with several
    for device in decide.active_devices(connection, app_id, {c[0].id for c in candidates}):
        owner = device.user_id
        if owner not in first:
            first[owner] = device
        elif owner in more:
            more[owner].append(device)
        else:
            more[owner] = [first[owner], device]
    rounds, failures = _render(candidates, catalog, first, more, settings["default_language"], decision)
    plans = {(catalog[index].id, 0): _SendPlan(catalog[index], failed=failed)
             for index, failed in failures.items()}  # render failures go with the message's first send
    return _take(connection, rounds, catalog, settings, decision, plans, stamp_now, now)


_Round = list[tuple[int, int, float | None, _Rendered]]  # (user id, message index, hold, rendered)


def _render(candidates: list[_Candidate], catalog: list[CompiledMessage],
            first: Mapping[int, decide.EventDevice], more: Mapping[int, list[decide.EventDevice]],
            default_language: str | None,
            decision: BatchDecision) -> tuple[list[_Round], dict[int, list[tuple[str, Outcome]]]]:
    """Each candidate's devices rendered in the user's language, by round (a user's k-th candidate
    of the batch is in round k: its cap and cooldown are taken after the earlier rounds'), and the
    failures by message index."""
    counts = decision.counts
    failures: dict[int, list[tuple[str, Outcome]]] = {}
    rounds: list[_Round] = [[]]
    seen: dict[int, int] = {}
    for user, index, params, hold in candidates:
        user_id = user.id
        device = first.get(user_id)
        if device is None:
            counts[rules.NO_DEVICES] += 1
            continue
        message = catalog[index]
        failed: list[tuple[str, Outcome]] | None = None
        rendered: _Rendered
        if user_id not in more:  # the common case: one device, one rendering
            text = message.render(user.locale or device.locale, default_language, params)
            if isinstance(text, str):
                failed = [(device.provider, Outcome(device.id, DeliveryStatus.FAILED, text, attempts=0))]
                rendered = ()
            else:
                rendered = ((device.id, device.provider, text[0], text[1]),)
        else:
            failed = []
            rendered = _render_devices(message, user, more[user_id], params, default_language, failed)
        if failed:
            counts["render_failed"] += 1
            failures.setdefault(index, []).extend(failed)
        if rendered:
            k = seen.get(user_id, 0)
            seen[user_id] = k + 1
            if k == len(rounds):
                rounds.append([])
            rounds[k].append((user_id, index, hold, rendered))
    return rounds, failures


def _take(connection: Connection, rounds: list[_Round], catalog: list[CompiledMessage],
          settings: Mapping[str, Any], decision: BatchDecision, plans: dict[tuple[int, int], _SendPlan],
          stamp_now: float, now: datetime) -> list[_SendPlan]:
    """The frequency cap, then the cooldown, one statement each per round (and message); the plans
    (one per message and round) get what passed."""
    counts = decision.counts
    cap = settings["frequency_cap"]
    window = rules.window_start(stamp_now, settings["frequency_window"]) if cap else 0
    for k, round_ in enumerate(rounds):
        passed: set[int] | None = None  # None: everyone (no cap)
        if cap and round_:
            passed = decide.take_cap(connection, sorted({entry[0] for entry in round_}), window_start=window,
                                     cap=cap)
        cooled: set[tuple[int, int]] = set()
        refunds: list[int] = []
        by_message: dict[int, list[int]] = defaultdict(list)
        for user_id, index, _, _ in round_:
            if catalog[index].cooldown > 0 and (passed is None or user_id in passed):
                by_message[index].append(user_id)
        for index, user_ids in by_message.items():
            message = catalog[index]
            ok = decide.take_cooldown(connection, message.id, user_ids, now=now,
                                      since=now - timedelta(seconds=message.cooldown))
            for user_id in user_ids:
                if user_id not in ok:
                    cooled.add((user_id, message.id))
                    refunds.append(user_id)
        if cap and refunds:
            decide.refund_cap(connection, refunds, window_start=window)
        notified = 0
        for user_id, index, hold, rendered in round_:
            message = catalog[index]
            if passed is not None and user_id not in passed:
                counts[rules.FREQUENCY_CAP] += 1
                continue
            if cooled and (user_id, message.id) in cooled:
                counts[rules.COOLDOWN] += 1
                continue
            notified += 1
            plan = plans.get((message.id, k))
            if plan is None:
                plan = plans[(message.id, k)] = _SendPlan(message)
            if hold is None:
                plan.deliver.extend(rendered)
            else:
                plan.held.extend((device_id, provider, title, body, hold)
                                 for device_id, provider, title, body in rendered)
        if notified:
            counts["notified"] += notified
    return list(plans.values())


def _render_devices(message: CompiledMessage, user: decide.EventUser, owned: list[decide.EventDevice],
                    params: Mapping[str, str], default_language: str | None,
                    failed: list[tuple[str, Outcome]]) -> _Rendered:
    """A user's devices rendered once per locale among them (the user's own locale wins)."""
    cache: dict[str | None, tuple[str, str] | str] = {}
    rendered = []
    for device in owned:
        locale = user.locale or device.locale
        text = cache.get(locale)
        if text is None:
            text = cache[locale] = message.render(locale, default_language, params)
        if isinstance(text, str):
            failed.append((device.provider, Outcome(device.id, DeliveryStatus.FAILED, text, attempts=0)))
        else:
            rendered.append((device.id, device.provider, text[0], text[1]))
    return tuple(rendered)


def _store_send(connection: Connection, app_id: int, batch_id: str, plan: _SendPlan, decision: BatchDecision,
                chunk_size: int, max_tries: int, now: datetime) -> None:
    targeted = len(plan.deliver) + len(plan.held) + len(plan.failed)
    if not targeted:
        return
    target = {"event_batch": batch_id, "message": plan.message.name}
    send_id = batches.create_event_send(connection, app_id, plan.message.notification, target, targeted,
                                        now=now)
    decision.sends.append(send_id)
    decision.counts["deliveries"] += len(plan.deliver) + len(plan.held)
    batches.insert_texts(connection, send_id, [(d[0], d[2], d[3]) for d in plan.deliver]
                         + [(d[0], d[2], d[3]) for d in plan.held])
    failed_by_provider: dict[str, list[Outcome]] = defaultdict(list)
    for provider, outcome in plan.failed:
        failed_by_provider[provider].append(outcome)
    for provider, outcomes in sorted(failed_by_provider.items()):
        record_outcomes_on(connection, send_id, provider, outcomes, now=now)
    lanes: dict[tuple[str, float | None], list[int]] = defaultdict(list)
    for device_id, provider, _, _ in plan.deliver:
        lanes[(provider, None)].append(device_id)
    for device_id, provider, _, _, due in plan.held:
        lanes[(provider, due)].append(device_id)
    chunk = 0
    for (provider, hold), ids in sorted(lanes.items(), key=lambda item: (item[0][0], item[0][1] or 0.0)):
        for start in range(0, len(ids), chunk_size):
            payload = DeliveryPayload(send_id, app_id, provider, tuple(ids[start:start + chunk_size]))
            job = delivery_job(payload, chunk, direct=True, max_tries=max_tries)
            job.run_at = hold
            decision.jobs.append(job)
            chunk += 1


__all__ = ["BatchDecision", "decide_batch", "run_event_batch"]
