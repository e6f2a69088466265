"""The request-timeout sweep: buckets, no clock read per request, expiry bounds."""

from __future__ import annotations

import asyncio

from pushgate.transport.deadlines import DeadlineSweep
from pushgate.transport.stream import Request


def _request() -> Request:
    return Request(b"", b"", lambda tag, response, error: None)


async def test_requests_expire_after_the_timeout_and_within_one_interval() -> None:
    loop = asyncio.get_running_loop()
    timeout = 0.08
    expired: dict[int, float] = {}
    added: dict[int, float] = {}
    requests: dict[int, Request] = {}

    def on_expire(request: Request) -> None:
        expired[id(request)] = loop.time()

    sweep = DeadlineSweep(loop, timeout, on_expire)
    finished = _request()
    for i in range(40):  # added over about three intervals, in several buckets
        request = _request()
        requests[i] = request
        added[id(request)] = loop.time()
        sweep.add(request)
        if i == 5:
            sweep.add(finished)
            DeadlineSweep.discard(finished)  # answered in time: never expires
        await asyncio.sleep(0.0005 * (i % 3))
    await asyncio.sleep(timeout + 2 * sweep._interval + 0.05)
    assert len(expired) == 40
    assert id(finished) not in expired
    slack = 0.005  # timer resolution and loop latency on a loaded machine
    for key, at in expired.items():
        lived = at - added[key]
        assert timeout - slack <= lived <= timeout + sweep._interval + slack + 0.05
    assert all(request.bucket is None for request in requests.values())
    sweep.close()


async def test_closed_sweep_starts_afresh() -> None:
    loop = asyncio.get_running_loop()
    expired: list[Request] = []
    sweep = DeadlineSweep(loop, 0.02, expired.append)
    sweep.add(_request())
    sweep.close()
    later = _request()
    sweep.add(later)  # a new bucket, not the cleared one
    await asyncio.sleep(0.1)
    assert expired == [later]
    sweep.close()
