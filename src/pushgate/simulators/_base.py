"""What every simulator shares: start/stop, an injectable clock, faults,
latency, the record of accepted deliveries, and the control API.

The control API is served on the simulator's own port under
``/__control/``, as JSON, over HTTP/1.1 or HTTP/2, so tests, the demo and a
shell user (curl) drive it the same way. Python callers use the same
operations as methods.

Common control routes (each simulator adds its own, e.g. token states):

- ``GET /__control/``                  → ``{"routes": [{"method", "path", "description"}]}``
- ``GET /__control/health``            → ``{"name": ..., "url": ...}``
- ``GET /__control/accepted``          → ``{"accepted": [...]}``
- ``DELETE /__control/accepted``       → clears it
- ``POST /__control/faults``           ``{"status": 503, "body": {...}, "headers": {...},
                                         "action": "goaway"|"drop"|"reset"|null,
                                         "debug": "...", "count": 1, "path_contains": "..."}``
- ``DELETE /__control/faults``         → clears queued faults
- ``POST /__control/latency``          ``{"seconds": 0.05}``
- ``POST /__control/reset``            → faults, latency and accepted cleared
"""

from __future__ import annotations

import asyncio
import json
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from pushgate.simulators._server import (
    DropConnection,
    GoAway,
    ResetStream,
    SimAction,
    SimConnection,
    SimRequest,
    SimResponse,
    SimServer,
)
from pushgate.simulators.tls import LocalCA

CONTROL_PREFIX = "/__control/"

ControlHandler = Callable[[dict[str, Any]], Any | Awaitable[Any]]


class ManualClock:
    """A clock tests move by hand: ``clock.advance(3600)``."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(slots=True)
class Fault:
    """A forced answer for the next ``count`` matching requests."""

    status: int | None = None
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    action: str | None = None  # "goaway" | "drop" | "reset"
    debug: bytes = b""  # GOAWAY debug data
    last_stream_id: int | None = None
    count: int = 1
    path_contains: str | None = None

    def matches(self, request: SimRequest) -> bool:
        return self.path_contains is None or self.path_contains in request.path

    def answer(self) -> SimAction:
        if self.action == "goaway":
            return GoAway(self.debug, self.last_stream_id)
        if self.action == "drop":
            return DropConnection()
        if self.action == "reset":
            return ResetStream()
        return SimResponse(self.status or 500, list(self.headers), self.body)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        body = data.get("body", b"")
        if isinstance(body, dict | list):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        headers = data.get("headers") or {}
        debug = data.get("debug", b"")
        if isinstance(debug, dict):
            debug = json.dumps(debug).encode()
        elif isinstance(debug, str):
            debug = debug.encode()
        return cls(
            status=data.get("status"),
            body=body,
            headers=[(k.lower(), str(v)) for k, v in headers.items()],
            action=data.get("action"),
            debug=debug,
            last_stream_id=data.get("last_stream_id"),
            count=int(data.get("count", 1)),
            path_contains=data.get("path_contains"),
        )


class ControlError(Exception):
    """A control request was wrong; answered 400 with this message."""


class Simulator(ABC):
    """Base class: subclasses implement :meth:`handle` and may add control routes."""

    name: ClassVar[str] = "simulator"
    http1: ClassVar[bool] = True
    http2: ClassVar[bool] = True
    alpn: ClassVar[tuple[str, ...]] = ("h2", "http/1.1")

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        ca: LocalCA | None = None,
        tls: bool = True,
        max_concurrent_streams: int = 1000,
        accept_any_token: bool = False,
    ) -> None:
        """
        :param accept_any_token: treat any well-formed device token as an
            active device. Off by default: like the real services, a simulator
            refuses tokens it never issued (through its control API or its
            device / browser side) nor had registered, so a test cannot pass
            by sending to made-up tokens. Benchmarks turn it on for volume
            without set-up. Web Push cannot: an endpoint it never made has no
            keys to decrypt with, so it always answers 404.
        """
        self.clock = clock
        self.accept_any_token = accept_any_token
        self.ca = ca if ca is not None or not tls else LocalCA.create()
        self.tls = tls
        self.max_concurrent_streams = max_concurrent_streams
        self.latency = 0.0
        self.accepted: list[dict[str, Any]] = []
        self.requests = 0
        self._faults: deque[Fault] = deque()
        self._server: SimServer | None = None
        self._control: dict[tuple[str, str], ControlHandler] = {}
        self._descriptions: dict[tuple[str, str], str] = {}
        for method, name, handler, description in (
            ("GET", "", lambda _: {"routes": self.control_index()}, "this list of control routes"),
            ("GET", "health", lambda _: {"name": self.name, "url": self.url}, "the simulator's name and URL"),
            ("GET", "accepted", lambda _: {"accepted": self.accepted}, "every accepted delivery"),
            ("DELETE", "accepted", lambda _: self.accepted.clear(), "forget the accepted deliveries"),
            ("POST", "faults", lambda body: self.queue_fault(Fault.from_json(body)),
             "queue a forced answer (status, body, headers or goaway/drop/reset) for the next requests"),
            ("DELETE", "faults", lambda _: self._faults.clear(), "clear the queued faults"),
            ("POST", "latency", lambda body: self.set_latency(float(body["seconds"])),
             "delay every provider request by {seconds}"),
            ("POST", "reset", lambda _: self.reset(), "clear faults, latency and accepted deliveries"),
            ("POST", "accept_any_token", lambda body: self.set_accept_any_token(bool(body["accept"])),
             "{accept: true}: any well-formed token is a device; false: only issued ones"),
        ):
            self.add_control(method, name, handler, description)

    # -- lifecycle ------------------------------------------------------------------

    def server_ssl_context(self) -> Any:
        """The TLS context to serve with; APNs overrides it for client certificates."""
        return self.ca.server_context(self.alpn) if self.ca is not None else None

    def on_connect(self, connection: SimConnection) -> None:
        """Called for each new connection (APNs lowers its stream limit here)."""
        connection.state.setdefault("opened_at", self.clock())

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._server = SimServer(
            self._dispatch,
            ssl_context=self.server_ssl_context() if self.tls else None,
            http1=self.http1,
            http2=self.http2,
            max_concurrent_streams=self.max_concurrent_streams,
            on_connect=self.on_connect,
        )
        await self._server.start(host, port)
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{self.name} simulator is not running")
        return self._server.url

    @property
    def server(self) -> SimServer:
        if self._server is None:
            raise RuntimeError(f"{self.name} simulator is not running")
        return self._server

    # -- knobs (Python control API) ---------------------------------------------------

    def queue_fault(self, fault: Fault) -> None:
        self._faults.append(fault)

    def set_accept_any_token(self, accept: bool) -> None:
        self.accept_any_token = accept

    def set_latency(self, seconds: float) -> None:
        self.latency = seconds

    def reset(self) -> None:
        self._faults.clear()
        self.latency = 0.0
        self.accepted.clear()

    def add_control(self, method: str, name: str, handler: ControlHandler, description: str) -> None:
        """Serve ``handler`` at ``METHOD /__control/<name>``; ``description`` (one line)
        is what ``GET /__control/`` says about it, so a curl user can find every route."""
        self._control[(method, name)] = handler
        self._descriptions[(method, name)] = description

    def control_routes(self) -> list[tuple[str, str]]:
        """Every control route as (method, name under ``/__control/``)."""
        return list(self._control)

    def control_index(self) -> list[dict[str, str]]:
        index = []
        for method, name in sorted(self._control, key=lambda route: (route[1], route[0])):
            description = self._descriptions[(method, name)]
            index.append({"method": method, "path": CONTROL_PREFIX + name, "description": description})
        return index

    # -- request path -----------------------------------------------------------------

    def _take_fault(self, request: SimRequest) -> Fault | None:
        for fault in self._faults:
            if fault.matches(request):
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    async def _dispatch(self, request: SimRequest) -> SimAction:
        if request.path.startswith(CONTROL_PREFIX):
            return await self._handle_control(request)
        self.requests += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        fault = self._take_fault(request)
        if fault is not None:
            return fault.answer()
        return await self.handle(request)

    async def _handle_control(self, request: SimRequest) -> SimResponse:
        name = request.path[len(CONTROL_PREFIX):].split("?", 1)[0].strip("/")
        handler = self._control.get((request.method, name))
        if handler is None:
            return SimResponse.json(404, {"error": f"no control route {request.method} {name}"})
        try:
            body = json.loads(request.body) if request.body else {}
            if not isinstance(body, dict):
                raise ControlError("control bodies are JSON objects")
            result = handler(body)
            if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
                result = await result
        except (ControlError, KeyError, ValueError, TypeError) as exc:
            return SimResponse.json(400, {"error": str(exc)})
        return SimResponse.json(200, result if result is not None else {"ok": True})

    @abstractmethod
    def issue_token(self) -> Any:
        """A new device token, issued as the real service issues one (so it is known):
        an APNs or FCM token, a Web Push subscription's JSON, a WNS channel URI."""

    @abstractmethod
    async def handle(self, request: SimRequest) -> SimAction:
        """Answer one provider request as the real service would."""
