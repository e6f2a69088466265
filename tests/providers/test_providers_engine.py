"""The bulk-send engine: ordering, concurrency bound, retries, ids, badges.

The engine is the unit under test; the provider below is a minimal in-process
one whose answers the test scripts (the real providers are tested against
their simulators over sockets).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from pushgate import Message, Notification, PayloadTooLarge, Status, TokenResult
from pushgate.blocking import Blocking
from pushgate.providers import Provider
from pushgate.results import Cause


class ScriptedProvider(Provider[str, Notification]):
    """Answers per token from a script: a list of statuses consumed per attempt."""

    name = "scripted"

    def __init__(self, script: dict[str, list[Status]] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.script = script or {}
        self.calls: list[tuple[str, str | None, int | None]] = []
        self.inflight = 0
        self.max_inflight = 0
        self._ids = 0

    def new_message_id(self) -> str:
        self._ids += 1
        return f"id-{self._ids}"

    def prepare(self, notification: Notification) -> Notification:
        if notification.body == "too big":
            raise PayloadTooLarge("scripted", 5000, 4096)
        return notification

    def submit(
        self, prepared: Notification, token: str, message_id: str | None
    ) -> asyncio.Future[TokenResult]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[TokenResult] = loop.create_future()
        self.calls.append((token, message_id, prepared.badge))
        self.inflight += 1
        self.max_inflight = max(self.max_inflight, self.inflight)
        steps = self.script.get(token)
        status = steps.pop(0) if steps else Status.SENT
        result = TokenResult(
            token, status, message_id=message_id, retry_after=0.0 if status is Status.RETRY else None
        )

        def finish() -> None:
            self.inflight -= 1
            future.set_result(result)

        loop.call_soon(finish)
        return future


async def test_results_keep_token_order_and_cover_every_token() -> None:
    tokens = [f"t{i}" for i in range(2500)]
    provider = ScriptedProvider(concurrency=64)
    result = await provider.send(Notification(title="hi"), tokens)
    assert result.tokens == tokens
    assert result.ok
    assert provider.max_inflight <= 64


async def test_retry_keeps_the_message_id_and_counts_attempts() -> None:
    provider = ScriptedProvider({"a": [Status.RETRY, Status.RETRY, Status.SENT]}, max_retries=3)
    result = await provider.send_one(Notification(title="x"), "a")
    assert result.status is Status.SENT
    assert result.attempts == 3
    ids = {mid for token, mid, _ in provider.calls if token == "a"}
    assert len(ids) == 1


async def test_retries_exhausted_leave_a_retry_outcome() -> None:
    provider = ScriptedProvider({"a": [Status.RETRY] * 5}, max_retries=2)
    result = await provider.send_one(Notification(title="x"), "a")
    assert result.status is Status.RETRY
    assert result.attempts == 3


async def test_long_retry_after_is_handed_back_instead_of_waited() -> None:
    class Slow(ScriptedProvider):
        def submit(
            self, prepared: Notification, token: str, message_id: str | None
        ) -> asyncio.Future[TokenResult]:
            future = super().submit(prepared, token, message_id)
            out: asyncio.Future[TokenResult] = asyncio.get_running_loop().create_future()

            def relay(f: asyncio.Future[TokenResult]) -> None:
                res = f.result()
                res.status, res.retry_after = Status.RETRY, 3600.0
                out.set_result(res)

            future.add_done_callback(relay)
            return out

    provider = Slow(max_retries=5, max_retry_delay=60)
    result = await provider.send_one(Notification(title="x"), "a")
    assert result.status is Status.RETRY
    assert result.retry_after == 3600.0
    assert len(provider.calls) == 1


async def test_per_token_badge_prepares_once_per_value() -> None:
    provider = ScriptedProvider()
    badges = {"a": 1, "b": 2, "c": 1}
    await provider.send(Notification(title="x"), list(badges), badge=badges.__getitem__)
    assert {token: badge for token, _, badge in provider.calls} == badges


async def test_batch_size_sends_in_consecutive_batches() -> None:
    provider = ScriptedProvider(concurrency=1000)
    result = await provider.send(Notification(title="x"), [str(i) for i in range(95)], batch_size=10)
    assert len(result) == 95
    assert provider.max_inflight <= 10


async def test_oversized_payload_raises_before_anything_is_sent() -> None:
    provider = ScriptedProvider()
    with pytest.raises(PayloadTooLarge):
        await provider.send(Notification(body="too big"), ["a", "b"])
    assert provider.calls == []


async def test_send_messages_isolates_an_unpreparable_message() -> None:
    provider = ScriptedProvider({"b": [Status.DEAD]})
    good, bad = Notification(title="ok"), Notification(body="too big")
    result = await provider.send_messages(
        [Message("a", good, "m1"), Message("x", bad, "m2"), Message("b", good, "m3")]
    )
    assert [r.status for r in result] == [Status.SENT, Status.FAILED, Status.DEAD]
    assert result.results[1].cause is Cause.REQUEST
    assert [r.message_id for r in result] == ["m1", "m2", "m3"]
    assert Counter(t for t, _, _ in provider.calls) == {"a": 1, "b": 1}


async def test_a_provider_bug_becomes_a_failed_outcome_not_a_lost_token() -> None:
    class Broken(ScriptedProvider):
        def submit(
            self, prepared: Notification, token: str, message_id: str | None
        ) -> asyncio.Future[TokenResult]:
            future: asyncio.Future[TokenResult] = asyncio.get_running_loop().create_future()
            future.set_exception(RuntimeError("boom"))
            return future

    result = await Broken().send(Notification(title="x"), ["a", "b"])
    assert [r.status for r in result] == [Status.FAILED, Status.FAILED]
    assert result.token_errors == {"a": "RuntimeError", "b": "RuntimeError"}


def test_blocking_facade_runs_the_async_core() -> None:
    with Blocking(ScriptedProvider({"b": [Status.DEAD]})) as client:
        result = client.send(Notification(title="x"), ["a", "b"])
        assert result.successes == ["a"]
        assert result.dead_tokens == ["b"]
        assert client.send_one(Notification(title="y"), "c").ok


async def test_on_result_sees_every_final_outcome_once() -> None:
    provider = ScriptedProvider({"b": [Status.RETRY, Status.SENT]}, max_retries=2)
    seen: list[tuple[str, Status]] = []
    note = Notification(title="x")
    bad = Notification(body="too big")
    await provider.send_messages(
        [Message("a", note), Message("b", note), Message("c", bad)],
        on_result=lambda r: seen.append((r.token, r.status)),
    )
    assert sorted(seen) == [("a", Status.SENT), ("b", Status.SENT), ("c", Status.FAILED)]


class DirectProvider(ScriptedProvider):
    """A provider that overrides ``start`` (as APNs and Web Push do): outcomes go
    to the engine's callback, some at once (decided locally), some later."""

    def start(
        self, prepared: Notification, token: str, message_id: str | None,
        done: Callable[[Any, TokenResult], None], tag: object,
    ) -> None:
        self.calls.append((token, message_id, prepared.badge))
        if token.startswith("raise"):
            raise RuntimeError("a bug")
        steps = self.script.get(token)
        status = steps.pop(0) if steps else Status.SENT
        outcome = TokenResult(token, status, message_id=message_id,
                              retry_after=0.0 if status is Status.RETRY else None)
        if token.startswith("now"):
            done(tag, outcome)  # before start returns
        else:
            asyncio.get_running_loop().call_soon(done, tag, outcome)

    def submit(
        self, prepared: Notification, token: str, message_id: str | None
    ) -> asyncio.Future[TokenResult]:
        return self._submit_via_start(prepared, token, message_id)


async def test_providers_with_their_own_start_keep_every_engine_rule() -> None:
    tokens = [f"{'now' if i % 3 == 0 else 'later'}-{i}" for i in range(600)]
    script = {"now-3": [Status.RETRY, Status.SENT], "later-4": [Status.RETRY, Status.DEAD]}
    provider = DirectProvider(script, concurrency=16, max_retries=2)
    result = await provider.send(Notification(title="x"), [*tokens, "raise-1"])
    assert result.tokens == [*tokens, "raise-1"]
    assert result.by_token["now-3"].status is Status.SENT
    assert result.by_token["now-3"].attempts == 2
    assert result.by_token["later-4"].status is Status.DEAD
    assert (result.by_token["raise-1"].status, result.by_token["raise-1"].reason) == (
        Status.FAILED, "RuntimeError")
    assert result.count(Status.SENT) == 599  # all but later-4 (dead) and raise-1
    ids = {mid for token, mid, _ in provider.calls if token == "now-3"}
    assert len(ids) == 1
    single = await provider.submit(Notification(title="y"), "later-x", None)
    assert single.status is Status.SENT


class StagingProvider(DirectProvider):
    """A provider with a lookahead (as Web Push encrypts ahead): records what it staged and started."""

    def __init__(self, script: dict[str, list[Status]] | None = None, **kwargs: Any) -> None:
        super().__init__(script, **kwargs)
        self.lookahead = 8
        self.events: list[tuple[str, str]] = []

    def stage(self, prepared: Notification, token: str) -> tuple[str, object]:
        self.events.append(("stage", token))
        if token.startswith("bad"):
            return token, TokenResult(token, Status.FAILED, reason="BadKeys", cause=Cause.REQUEST)
        if token.startswith("raise"):
            raise RuntimeError("a bug")
        return token, f"body of {token}"

    def start_staged(
        self, prepared: Notification, token: str, staged: object, message_id: str | None,
        done: Callable[[Any, TokenResult], None], tag: object,
    ) -> None:
        self.events.append(("start", token))
        assert staged in (f"body of {token}",) or isinstance(staged, TokenResult)
        if isinstance(staged, TokenResult):
            done(tag, staged)
            return
        self.start(prepared, token, message_id, done, tag)


async def test_a_lookahead_stages_messages_in_order_ahead_of_starting_them() -> None:
    tokens = [f"{'now' if i % 3 == 0 else 'later'}-{i}" for i in range(100)]
    tokens[41] = "bad-41"
    tokens[77] = "raise-77"
    provider = StagingProvider({"later-5": [Status.RETRY, Status.SENT]}, concurrency=16, max_retries=2)
    result = await provider.send(Notification(title="x"), tokens)
    assert result.tokens == tokens  # the input's order, across read-aheads
    staged = [token for kind, token in provider.events if kind == "stage"]
    assert staged == tokens  # each staged once, in order; the retry of later-5 is not staged again
    started = [token for kind, token in provider.events if kind == "start"]
    assert started.count("later-5") == 2
    # The first start waits for a few stagings only; then at most the lookahead is staged unstarted.
    first_start = provider.events.index(("start", tokens[0]))
    assert first_start <= 4
    count_staged = count_started = 0
    for kind, _ in provider.events:
        count_staged += kind == "stage"
        count_started += kind == "start"
        assert count_staged - count_started <= provider.lookahead + 2  # + bad-41 and raise-77, never started
    assert (result.by_token["bad-41"].status, result.by_token["bad-41"].reason) == (Status.FAILED, "BadKeys")
    assert (result.by_token["raise-77"].status, result.by_token["raise-77"].reason) == (
        Status.FAILED, "RuntimeError")
    assert result.by_token["later-5"].attempts == 2
    assert result.count(Status.SENT) == 98


class SlotGate:
    """The server's in-flight window in small: the source takes a slot per message it yields,
    an outcome gives it back (pushgate.workers.window)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.most = 0
        self.wakers: list[Callable[[], None]] = []

    def open(self) -> bool:
        return self.held < self.limit

    def bind(self, wake: Callable[[], None]) -> None:
        self.wakers.append(wake)

    def take(self) -> None:
        self.held += 1
        self.most = max(self.most, self.held)

    def release(self) -> None:
        self.held -= 1
        for wake in self.wakers:
            wake()


async def test_a_lookahead_reads_no_further_than_the_gate_allows() -> None:
    gate = SlotGate(limit=5)
    provider = StagingProvider({"later-7": [Status.RETRY, Status.SENT]}, concurrency=100, max_retries=2)

    def messages() -> Any:
        for i in range(200):
            gate.take()
            yield Message(f"{'now' if i % 4 == 0 else 'later'}-{i}", Notification(title="x"))

    def on_result(result: TokenResult) -> None:
        gate.release()

    result = await asyncio.wait_for(provider.send_messages(messages(), on_result=on_result, gate=gate), 10)
    assert result.ok
    assert len(result.results) == 200
    assert gate.most <= gate.limit  # staged messages hold slots: never more read than the window
    assert gate.held == 0
