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

Steps 3 and 4 are in :mod:`pushgate.workers.event_rounds` and the rules
without a database (catalog, quiet hours, predefined events) in
:mod:`pushgate.workers.event_rules`; this module loads the batch, runs
steps 1, 2 and 5, and holds the transaction.

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
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from pushgate.planner.jobs import DeliveryPayload, delivery_job
from pushgate.queue import ClaimedJob, Job, Queue
from pushgate.registry import DeviceSpec, Outcome, ValidationError, register_device, upsert_user
from pushgate.registry.catalog import batches, decide
from pushgate.registry.catalog.messages import get_event_settings, list_messages, message_ids
from pushgate.registry.outcomes import record_outcomes_on
from pushgate.registry.users import ensure_users
from pushgate.registry.validation import DEFAULT_POLICY, ValidationPolicy
from pushgate.service.components import validation_policy
from pushgate.workers import event_rules as rules
from pushgate.workers.event_rounds import Candidate, SendPlan, render_rounds, take_limits
from pushgate.workers.event_rules import CompiledMessage

if TYPE_CHECKING:
    from pushgate.registry import Database
    from pushgate.workers.context import WorkerContext

logger = logging.getLogger("pushgate.workers")


@dataclass(slots=True)
class BatchDecision:
    """What a batch became (stored on the batch, shown by ``GET /v1/events/{id}``)."""

    counts: Counter[str] = field(default_factory=Counter)
    sends: list[str] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    # (message name, reason) → failed (user, message) pairs: why render_failed is not zero.
    render_failures: Counter[tuple[str, str]] = field(default_factory=Counter)

    def outcome(self) -> dict[str, Any]:
        failures = [{"message": message, "reason": reason, "count": count,
                     "detail": rules.render_failure_detail(reason)}
                    for (message, reason), count in self.render_failures.items()]
        return {"counts": dict(sorted(self.counts.items())), "sends": self.sends, "errors": self.errors[:100],
                "render_failures": failures}


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


def _plan(connection: Connection, app_id: int, events: list[tuple[str, int, float, Mapping[str, str]]],
          catalog: list[CompiledMessage], settings: Mapping[str, Any], decision: BatchDecision,
          now: datetime) -> list[SendPlan]:
    """Step 2's checks per (user, message), the users' active devices, then steps 3 and 4
    (:mod:`pushgate.workers.event_rounds`): the send plans."""
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
    candidates: list[Candidate] = []
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
    reasons: Counter[tuple[int, str]] = Counter()
    rounds, failures = render_rounds(candidates, catalog, first, more, settings["default_language"], counts,
                                     reasons)
    for (index, reason), count in reasons.items():
        decision.render_failures[(catalog[index].name, reason)] += count
    plans = {(catalog[index].id, 0): SendPlan(catalog[index], failed=failed)
             for index, failed in failures.items()}  # render failures go with the message's first send
    return take_limits(connection, rounds, catalog, settings, counts, plans, stamp_now, now)


def _store_send(connection: Connection, app_id: int, batch_id: str, plan: SendPlan, decision: BatchDecision,
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
