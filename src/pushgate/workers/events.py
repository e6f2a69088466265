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
class _Candidate:
    user: decide.EventUser
    message: CompiledMessage
    params: Mapping[str, str]
    hold_until: float | None


@dataclass(slots=True)
class _SendPlan:
    """What one event send gets: devices to deliver to (with text and due time) and failures."""

    message: CompiledMessage
    deliver: list[tuple[int, str, str, str, float | None]] = field(default_factory=list)  # id, provider, …
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
    now = now or datetime.now(UTC)
    decision = BatchDecision()
    with db.session() as session:
        connection = session.connection()
        if not batches.claim_batch(connection, batch_id):
            return None
        settings = get_event_settings(session, stored.app_id)
        catalog = [rules.compile_message(view, settings) for view in list_messages(session, stored.app_id)]
        predefined = {settings["login_event_id"], settings["optout_event_id"]}
        others = []
        for index, (user, event_id, stamp, params) in enumerate(stored.events):
            if event_id == settings["login_event_id"]:
                _login(session, stored.app_id, index, user, params, decision, policy, now)
            elif event_id == settings["optout_event_id"]:
                _optout_snapshot(session, stored.app_id, user, params, decision)
            if event_id not in predefined:
                others.append((user, event_id, float(stamp), params))
        plans = _plan(connection, stored.app_id, others, catalog, settings, decision, now)
        for plan in plans:
            _store_send(connection, stored.app_id, batch_id, plan, decision, chunk_size, max_tries, now)
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


def _plan(connection: Connection, app_id: int, events: list[tuple[str, int, float, Mapping[str, str]]],
          catalog: list[CompiledMessage], settings: Mapping[str, Any], decision: BatchDecision,
          now: datetime) -> list[_SendPlan]:
    if not events:
        return []
    by_event: dict[int, list[CompiledMessage]] = defaultdict(list)
    for message in catalog:
        for event_id in message.events:
            by_event[event_id].append(message)
    users = decide.find_users(connection, app_id, [e[0] for e in events])
    everything, pairs = decide.refused(connection, [u.id for u in users.values()],
                                       {m.name: m.id for m in catalog})
    counts = decision.counts
    stamp_now = now.timestamp()
    start, end = settings["quiet_start"], settings["quiet_end"]
    candidates: list[_Candidate] = []
    for external, event_id, stamp, params in events:
        messages = by_event.get(event_id)
        user = users.get(external)
        if user is None:
            counts[rules.UNKNOWN_USER] += 1
            continue
        if not messages:
            counts[rules.NO_MESSAGE] += 1
            continue
        for message in messages:
            if user.id in everything or (user.id, message.id) in pairs:
                counts[rules.OPTED_OUT] += 1
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
            candidates.append(_Candidate(user, message, params, hold))
    devices: dict[int, list[decide.EventDevice]] = defaultdict(list)
    for device in decide.active_devices(connection, app_id, {c.user.id for c in candidates}):
        devices[device.user_id].append(device)
    return _render_and_take(connection, candidates, devices, settings, decision, stamp_now, now)


def _render_and_take(connection: Connection, candidates: list[_Candidate],
                     devices: Mapping[int, list[decide.EventDevice]], settings: Mapping[str, Any],
                     decision: BatchDecision, stamp_now: float, now: datetime) -> list[_SendPlan]:
    counts = decision.counts
    default_language = settings["default_language"]
    rounds: list[list[tuple[_Candidate, list[tuple[decide.EventDevice, str, str]]]]] = []
    seen: Counter[int] = Counter()
    plans: dict[tuple[int, int], _SendPlan] = {}

    def plan_for(message: CompiledMessage, round_: int) -> _SendPlan:
        key = (message.id, round_)
        if key not in plans:
            plans[key] = _SendPlan(message)
        return plans[key]

    for candidate in candidates:
        owned = devices.get(candidate.user.id)
        if not owned:
            counts[rules.NO_DEVICES] += 1
            continue
        rendered: list[tuple[decide.EventDevice, str, str]] = []
        failed: list[tuple[str, Outcome]] = []
        if len(owned) == 1:  # the common case: one device, one rendering
            device = owned[0]
            text = candidate.message.render(candidate.user.locale or device.locale, default_language,
                                            candidate.params)
            if isinstance(text, str):
                failed.append((device.provider, Outcome(device.id, DeliveryStatus.FAILED, text, attempts=0)))
            else:
                rendered.append((device, text[0], text[1]))
        else:
            _render_devices(candidate, owned, default_language, rendered, failed)
        if failed:
            counts["render_failed"] += 1
            plan_for(candidate.message, 0).failed.extend(failed)
        if rendered:
            k = seen[candidate.user.id]
            seen[candidate.user.id] += 1
            while len(rounds) <= k:
                rounds.append([])
            rounds[k].append((candidate, rendered))
    cap = settings["frequency_cap"]
    window = rules.window_start(stamp_now, settings["frequency_window"]) if cap else 0
    for k, round_ in enumerate(rounds):
        passed = {c.user.id for c, _ in round_}
        if cap:
            passed = decide.take_cap(connection, sorted(passed), window_start=window, cap=cap)
        refunds: list[int] = []
        cooled: set[tuple[int, int]] = set()
        by_message: dict[int, list[_Candidate]] = defaultdict(list)
        for candidate, _ in round_:
            if candidate.user.id in passed and candidate.message.cooldown > 0:
                by_message[candidate.message.id].append(candidate)
        for group in by_message.values():
            message = group[0].message
            ok = decide.take_cooldown(connection, message.id, [c.user.id for c in group], now=now,
                                      since=now - timedelta(seconds=message.cooldown))
            for candidate in group:
                if candidate.user.id not in ok:
                    cooled.add((candidate.user.id, message.id))
                    refunds.append(candidate.user.id)
        if cap and refunds:
            decide.refund_cap(connection, refunds, window_start=window)
        for candidate, rendered in round_:
            user_id, message = candidate.user.id, candidate.message
            if user_id not in passed:
                counts[rules.FREQUENCY_CAP] += 1
                continue
            if (user_id, message.id) in cooled:
                counts[rules.COOLDOWN] += 1
                continue
            counts["notified"] += 1
            plan = plan_for(message, k)
            plan.deliver.extend((device.id, device.provider, title, body, candidate.hold_until)
                                for device, title, body in rendered)
    return list(plans.values())


def _render_devices(
    candidate: _Candidate, owned: list[decide.EventDevice], default_language: str | None,
    rendered: list[tuple[decide.EventDevice, str, str]], failed: list[tuple[str, Outcome]],
) -> None:
    """A user's devices rendered once per locale among them (the user's own locale wins)."""
    cache: dict[str | None, tuple[str, str] | str] = {}
    for device in owned:
        locale = candidate.user.locale or device.locale
        text = cache.get(locale)
        if text is None:
            text = cache[locale] = candidate.message.render(locale, default_language, candidate.params)
        if isinstance(text, str):
            failed.append((device.provider, Outcome(device.id, DeliveryStatus.FAILED, text, attempts=0)))
        else:
            rendered.append((device, text[0], text[1]))


def _store_send(connection: Connection, app_id: int, batch_id: str, plan: _SendPlan, decision: BatchDecision,
                chunk_size: int, max_tries: int, now: datetime) -> None:
    targeted = len(plan.deliver) + len(plan.failed)
    if not targeted:
        return
    target = {"event_batch": batch_id, "message": plan.message.name}
    send_id = batches.create_event_send(connection, app_id, plan.message.notification, target, targeted,
                                        now=now)
    decision.sends.append(send_id)
    decision.counts["deliveries"] += len(plan.deliver)
    batches.insert_texts(connection, send_id, [(d[0], d[2], d[3]) for d in plan.deliver])
    failed_by_provider: dict[str, list[Outcome]] = defaultdict(list)
    for provider, outcome in plan.failed:
        failed_by_provider[provider].append(outcome)
    for provider, outcomes in sorted(failed_by_provider.items()):
        record_outcomes_on(connection, send_id, provider, outcomes, now=now)
    lanes: dict[tuple[str, float | None], list[int]] = defaultdict(list)
    for device_id, provider, _, _, hold in plan.deliver:
        lanes[(provider, hold)].append(device_id)
    chunk = 0
    for (provider, hold), ids in sorted(lanes.items(), key=lambda item: (item[0][0], item[0][1] or 0.0)):
        for start in range(0, len(ids), chunk_size):
            payload = DeliveryPayload(send_id, app_id, provider, tuple(ids[start:start + chunk_size]))
            job = delivery_job(payload, chunk, direct=True, max_tries=max_tries)
            job.run_at = hold
            decision.jobs.append(job)
            chunk += 1


__all__ = ["BatchDecision", "decide_batch", "run_event_batch"]
