"""Steps 3 and 4 of deciding an event batch: texts per device, then the frequency cap and cooldown.

docs/events.md §4: the (user, message) candidates that passed the checks
are rendered per device in the user's language (a user without an active
device is counted ``no_devices`` here), grouped in rounds (a
user's k-th candidate of the batch is in round k, so its cap and cooldown
are taken after the earlier rounds'), and each round's cap, then cooldown,
are taken in SQL (:mod:`pushgate.registry.catalog.decide`, docs/events.md
§3 and §6). Rendering comes first so that a failed render spends no cap.
What passes becomes one :class:`SendPlan` per message and round.

Kept apart from :mod:`pushgate.workers.events`, which loads the batch,
runs the per-event checks and stores the sends: this is the part between,
which only reads the compiled catalog and writes the cap and cooldown.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from pushgate.registry import DeliveryStatus, Outcome
from pushgate.registry.catalog import decide
from pushgate.workers import event_rules as rules
from pushgate.workers.event_rules import CompiledMessage


@dataclass(slots=True)
class SendPlan:
    """What one event send gets: devices to deliver to now and later (with their texts), failures."""

    message: CompiledMessage
    deliver: list[tuple[int, str, str, str]] = field(default_factory=list)  # id, provider, title, body
    held: list[tuple[int, str, str, str, float]] = field(default_factory=list)  # … and when it is due
    failed: list[tuple[str, Outcome]] = field(default_factory=list)  # (provider, outcome)


# A (user, message) that passed the checks before rendering: the user, the message's index in the
# catalog, the event's params and when quiet hours release it (None: now). Tuples of plain values
# (and an index rather than the message itself) are untracked by the cyclic garbage collector
# after its first pass, so a batch's thousands of them do not make the full collections of a
# long-running worker more frequent.
Candidate = tuple[decide.EventUser, int, Mapping[str, str], float | None]
# What a candidate's devices got: (device id, provider, title, body), and the failures.
Rendered = tuple[tuple[int, str, str, str], ...]
Round = list[tuple[int, int, float | None, Rendered]]  # (user id, message index, hold, rendered)
# The distinct (message index, reason) render failures a batch's outcome lists: a few are enough to
# say what is wrong (a missing parameter fails every event that lacks it), and the outcome is stored
# with the batch, so a batch of 10,000 events each lacking a different parameter must not list them all.
MAX_FAILURE_REASONS = 10


def render_rounds(candidates: list[Candidate], catalog: list[CompiledMessage],
                  first: Mapping[int, decide.EventDevice], more: Mapping[int, list[decide.EventDevice]],
                  default_language: str | None, counts: Counter[str],
                  reasons: Counter[tuple[int, str]],
                  ) -> tuple[list[Round], dict[int, list[tuple[str, Outcome]]]]:
    """Each candidate's devices rendered in the user's language, by round (a user's k-th candidate
    of the batch is in round k: its cap and cooldown are taken after the earlier rounds'), and the
    failures by message index. ``reasons`` counts the failed candidates by (message index, reason),
    for the first :data:`MAX_FAILURE_REASONS` distinct ones."""
    failures: dict[int, list[tuple[str, Outcome]]] = {}
    rounds: list[Round] = [[]]
    seen: dict[int, int] = {}
    for user, index, params, hold in candidates:
        user_id = user.id
        device = first.get(user_id)
        if device is None:
            counts[rules.NO_DEVICES] += 1
            continue
        message = catalog[index]
        failed: list[tuple[str, Outcome]] | None = None
        rendered: Rendered
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
            _count_reasons(reasons, index, failed)
        if rendered:
            k = seen.get(user_id, 0)
            seen[user_id] = k + 1
            if k == len(rounds):
                rounds.append([])
            rounds[k].append((user_id, index, hold, rendered))
    return rounds, failures


def _count_reasons(reasons: Counter[tuple[int, str]], index: int, failed: list[tuple[str, Outcome]]) -> None:
    """One more candidate for each distinct reason its devices failed with (devices in two
    languages can fail for two), while the reasons listed stay bounded."""
    for reason in {outcome.reason or "" for _, outcome in failed}:
        key = (index, reason)
        if key in reasons or len(reasons) < MAX_FAILURE_REASONS:
            reasons[key] += 1


def _render_devices(message: CompiledMessage, user: decide.EventUser, owned: list[decide.EventDevice],
                    params: Mapping[str, str], default_language: str | None,
                    failed: list[tuple[str, Outcome]]) -> Rendered:
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


def take_limits(connection: Connection, rounds: list[Round], catalog: list[CompiledMessage],
                settings: Mapping[str, Any], counts: Counter[str], plans: dict[tuple[int, int], SendPlan],
                stamp_now: float, now: datetime) -> list[SendPlan]:
    """The frequency cap, then the cooldown, one statement each per round (and message); the plans
    (one per message and round) get what passed."""
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
                plan = plans[(message.id, k)] = SendPlan(message)
            if hold is None:
                plan.deliver.extend(rendered)
            else:
                plan.held.extend((device_id, provider, title, body, hold)
                                 for device_id, provider, title, body in rendered)
        if notified:
            counts["notified"] += notified
    return list(plans.values())
