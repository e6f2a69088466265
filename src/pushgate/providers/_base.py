"""The provider interface and the bulk-send engine all providers share.

A provider implements two things:

- :meth:`Provider.prepare`: turn a :class:`Notification` into whatever is
  constant across tokens (the encoded payload, pre-encoded headers). It runs
  once per notification and raises :class:`PermanentError` (for example
  :class:`PayloadTooLarge`) before anything is sent.
- :meth:`Provider.submit`: start one request for one token and return a
  future of its :class:`TokenResult`. It never raises for per-token problems.

The engine (:class:`~pushgate.providers._batch.Batch`) keeps up to
``concurrency`` requests in flight without a task per request, retries RETRY
outcomes with backoff (honouring the provider's Retry-After) up to
``max_retries`` times, and keeps each message's id across retries (APNs
``apns-id``).

It starts requests through :meth:`Provider.start`, which reports the outcome
to a plain callback. The default wraps :meth:`submit`'s future; the HTTP/2
providers (APNs, Web Push) override it and call back straight from the
transport's callback, so a request costs no future, no done-callback and no
``call_soon`` at all (two futures and two scheduled callbacks per request
were about 8 us of the 80 us a request cost against nginx before).
"""

from __future__ import annotations

import asyncio
import logging
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar, Generic, Self, TypeVar

from pushgate.errors import PermanentError
from pushgate.notification import Notification, Priority
from pushgate.providers._batch import Batch, Gate
from pushgate.results import BatchResult, Cause, Status, TokenResult

logger = logging.getLogger("pushgate.providers")

TokenT = TypeVar("TokenT")
PreparedT = TypeVar("PreparedT")


@dataclass(slots=True)
class Message(Generic[TokenT]):
    """One notification for one token; ``id`` is kept across retries.

    ``text``, when given, is a (title, body) that replaces the notification's
    own: an event send's per-device rendered text (docs/events.md §4). The
    messages of one notification share its token-independent work
    (:meth:`Provider.text_preparer`) instead of each being prepared anew.
    """

    token: TokenT
    notification: Notification
    id: str | None = None
    text: tuple[str | None, str | None] | None = None


class Provider(ABC, Generic[TokenT, PreparedT]):
    """One push provider behind one small async interface."""

    name: ClassVar[str] = "provider"
    #: Messages the engine reads ahead and hands to :meth:`stage`, in order, before any of
    #: them starts (:mod:`pushgate.providers._batch`); 0: none, each is started as it is read.
    lookahead: int = 0

    def __init__(
        self,
        *,
        concurrency: int = 1000,
        max_retries: int = 3,
        retry_backoff: float = 0.5,
        max_retry_delay: float = 60.0,
        max_payload_size: int | None = None,
        default_ttl: int | None = None,
        default_priority: Priority | None = None,
    ) -> None:
        """
        :param concurrency: requests in flight at once for one send call.
        :param max_retries: how often a RETRY outcome is tried again; 0 hands
            retries to the caller (the server's queue does that).
        :param retry_backoff: first backoff delay in seconds, doubled per try.
        :param max_retry_delay: a Retry-After longer than this is not waited
            for: the outcome is returned as RETRY with its ``retry_after``.
        :param max_payload_size: opt in to trimming: the body text is cut
            (UTF-8 safe) so the payload fits this many bytes (at most the
            provider's limit). Without it an oversized payload raises
            :class:`PayloadTooLarge`.
        :param default_ttl: seconds a notification without ``ttl`` or
            ``expiration`` may be stored by the provider (pushjack used 30
            days); ``None`` leaves it to the provider.
        :param default_priority: the priority of a notification without one.
        """
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.max_retry_delay = max_retry_delay
        self.max_payload_size = max_payload_size
        if default_ttl is not None and default_ttl < 0:
            raise ValueError("default_ttl must be 0 or more seconds")
        self.default_ttl = default_ttl
        self.default_priority = default_priority

    def with_defaults(self, notification: Notification) -> Notification:
        """``notification`` with the client-wide expiry and priority where it names none."""
        changes: dict[str, Any] = {}
        if self.default_ttl is not None and notification.ttl is None and notification.expiration is None:
            changes["ttl"] = self.default_ttl
        if self.default_priority is not None and notification.priority is None:
            changes["priority"] = self.default_priority
        return notification.model_copy(update=changes) if changes else notification

    # -- what a provider implements -------------------------------------------------

    @abstractmethod
    def prepare(self, notification: Notification) -> PreparedT:
        """Build the token-independent part of the request (may raise PermanentError)."""

    def text_preparer(self, notification: Notification) -> Callable[[str | None, str | None], PreparedT]:
        """:meth:`prepare` of ``notification`` with another title and body on each call.

        An event send gives every device its own rendered text and shares the
        rest (docs/events.md §4). This default copies the notification per
        text; a provider may build what the texts share once and put each
        text in (APNs splices it into the encoded JSON body). Both must give
        the same result, including the errors :meth:`prepare` raises.
        """
        def prepare_text(title: str | None, body: str | None) -> PreparedT:
            return self.prepare(notification.model_copy(update={"title": title, "body": body}))

        return prepare_text

    def stage(self, prepared: PreparedT, token: TokenT) -> tuple[TokenT, object]:
        """The token's own work, done ahead of :meth:`start_staged`, which is given what this returns.

        Called only with a :attr:`lookahead`, for several messages in a row before any of
        them starts (Web Push checks the subscription and encrypts there). Returns the token
        to start with (it may be the parsed form of ``token``) and what was made for it; a
        retry of the message is started with the same. Like :meth:`start` it never raises:
        an outcome decided here is for :meth:`start_staged` to report. The default does nothing.
        """
        return token, None

    def start_staged(
        self,
        prepared: PreparedT,
        token: TokenT,
        staged: object,
        message_id: str | None,
        done: Callable[[Any, TokenResult], None],
        tag: object,
    ) -> None:
        """:meth:`start` for a message :meth:`stage` has seen; the default ignores ``staged``."""
        self.start(prepared, token, message_id, done, tag)

    @abstractmethod
    def submit(
        self, prepared: PreparedT, token: TokenT, message_id: str | None
    ) -> asyncio.Future[TokenResult]:
        """Start one request; the future resolves to its outcome and never fails."""

    def start(
        self,
        prepared: PreparedT,
        token: TokenT,
        message_id: str | None,
        done: Callable[[Any, TokenResult], None],
        tag: object,
    ) -> None:
        """Start one request and call ``done(tag, outcome)`` exactly once.

        ``done`` may be called before this returns (an outcome decided
        locally). This default goes through :meth:`submit`'s future.
        """
        future = self.submit(prepared, token, message_id)
        future.add_done_callback(partial(self._future_done, done, tag, token, message_id))

    def _future_done(
        self,
        done: Callable[[Any, TokenResult], None],
        tag: object,
        token: TokenT,
        message_id: str | None,
        future: asyncio.Future[TokenResult],
    ) -> None:
        done(tag, _outcome_of(future, self.token_key(token), message_id))

    def _submit_via_start(
        self, prepared: PreparedT, token: TokenT, message_id: str | None
    ) -> asyncio.Future[TokenResult]:
        """:meth:`submit` for a provider that implements :meth:`start` itself."""
        future: asyncio.Future[TokenResult] = asyncio.get_running_loop().create_future()
        self.start(prepared, token, message_id, _set_result, future)
        return future

    @property
    def auth_refreshes(self) -> int | None:
        """Auth tokens minted so far (JWTs signed, OAuth tokens fetched), for metrics; None: none kept."""
        return None

    def token_key(self, token: TokenT) -> str:
        """The string that names ``token`` in results."""
        return str(token)

    def new_message_id(self) -> str | None:
        """An id for a message that has none, kept across its retries.

        APNs returns a UUID so a retried notification keeps its ``apns-id``;
        providers whose service assigns ids return ``None``.
        """
        return None

    async def aclose(self) -> None:
        """Close connections; the provider may not be used afterwards."""

    # -- the public API -------------------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def send(
        self,
        notification: Notification,
        tokens: Iterable[TokenT],
        *,
        badge: Callable[[TokenT], int | None] | None = None,
        batch_size: int | None = None,
    ) -> BatchResult:
        """Send ``notification`` to every token; one result per token, in order.

        :param badge: per-token badge (django-push-notifications' callable).
        :param batch_size: send in consecutive batches of this many tokens,
            each finished before the next starts.
        :raises PermanentError: the notification cannot be sent to anyone
            (for example its payload is too large); nothing was sent.
        """
        notification = self.with_defaults(notification)
        prepared = self.prepare(notification)
        by_badge: dict[int | None, PreparedT] = {}

        def jobs(chunk: Iterable[TokenT]) -> Iterator[tuple[PreparedT, TokenT, str | None]]:
            for token in chunk:
                if badge is None:
                    yield prepared, token, None
                    continue
                value = badge(token)
                if value not in by_badge:
                    by_badge[value] = self.prepare(notification.with_badge(value))
                yield by_badge[value], token, None

        if batch_size is None:
            return await self._run(jobs(tokens))
        result = BatchResult()
        for chunk in _chunks(tokens, batch_size):
            result.extend((await self._run(jobs(chunk))).results)
        return result

    async def send_one(self, notification: Notification, token: TokenT) -> TokenResult:
        """Send to one token and return its outcome."""
        return (await self.send(notification, [token])).results[0]

    async def send_messages(
        self,
        messages: Iterable[Message[TokenT]],
        *,
        on_result: Callable[[TokenResult], None] | None = None,
        gate: Gate | None = None,
    ) -> BatchResult:
        """Send messages that may each carry another notification and id.

        A notification that cannot be prepared gives a FAILED result for its
        messages instead of an exception, so one bad message does not stop
        the others. ``on_result`` is called with each final outcome as soon
        as it is known (the server records outcomes while a batch is still
        running, so a crash re-sends only what was really in flight).
        ``gate`` may hold messages back beyond ``concurrency`` (the server's
        in-flight window, :mod:`pushgate.workers.window`).
        """
        cache: dict[int, PreparedT | PermanentError] = {}
        preparers: dict[int, Callable[[str | None, str | None], PreparedT]] = {}
        by_text: dict[tuple[int, tuple[str | None, str | None]], PreparedT | PermanentError] = {}
        failed: dict[int, TokenResult] = {}
        keep: list[Notification] = []  # keep ids stable while cached

        def with_text(
            notification: Notification, text: tuple[str | None, str | None]
        ) -> PreparedT | PermanentError:
            key = id(notification)
            try:
                preparer = preparers.get(key)
                if preparer is None:
                    keep.append(notification)
                    preparer = preparers[key] = self.text_preparer(self.with_defaults(notification))
                return preparer(*text)
            except PermanentError as exc:
                return exc

        def jobs() -> Iterator[tuple[PreparedT | None, TokenT, str | None]]:
            for index, message in enumerate(messages):
                prepared: PreparedT | PermanentError
                text = message.text
                if text is not None:
                    text_key = (id(message.notification), text)
                    found = by_text.get(text_key)
                    if found is None:
                        found = by_text[text_key] = with_text(message.notification, text)
                    prepared = found
                else:
                    key = id(message.notification)
                    if key not in cache:
                        keep.append(message.notification)
                        try:
                            cache[key] = self.prepare(self.with_defaults(message.notification))
                        except PermanentError as exc:
                            cache[key] = exc
                    prepared = cache[key]
                if isinstance(prepared, PermanentError):
                    failed[index] = TokenResult(
                        self.token_key(message.token),
                        Status.FAILED,
                        message_id=message.id,
                        reason=type(prepared).__name__,
                        cause=Cause.REQUEST,
                        detail=str(prepared),
                    )
                    yield None, message.token, message.id
                else:
                    yield prepared, message.token, message.id

        return await self._run(jobs(), failed, on_result, gate)

    # -- the engine -----------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        delay: float = self.retry_backoff * 2.0 ** (attempt - 1)
        return min(delay, self.max_retry_delay) * (0.5 + random.random() / 2)

    async def _run(
        self,
        source: Iterable[tuple[PreparedT | None, TokenT, str | None]],
        failed: dict[int, TokenResult] | None = None,
        on_result: Callable[[TokenResult], None] | None = None,
        gate: Gate | None = None,
    ) -> BatchResult:
        return await Batch(self, source, failed, on_result, gate).run()


def _set_result(future: asyncio.Future[TokenResult], outcome: TokenResult) -> None:
    if not future.done():  # the caller may have cancelled it
        future.set_result(outcome)


def _outcome_of(future: asyncio.Future[TokenResult], token: str, message_id: str | None) -> TokenResult:
    """The future's result; a bug in a provider becomes a FAILED outcome, not a lost token."""
    if future.cancelled():
        return TokenResult(token, Status.RETRY, message_id=message_id, cause=Cause.TRANSPORT,
                           reason="Cancelled")
    exc = future.exception()
    if exc is None:
        return future.result()
    logger.error("provider raised for %s: %r", token, exc, exc_info=exc)
    return TokenResult(
        token, Status.FAILED, message_id=message_id, reason=type(exc).__name__,
        cause=Cause.REQUEST, detail=str(exc),
    )


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    if size < 1:
        raise ValueError("batch_size must be at least 1")
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
