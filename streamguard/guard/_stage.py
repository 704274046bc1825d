"""`GuardedSinkStage`: deliver every item through a breaker, retries and a timeout; the
guarded sink's error (:class:`DeliveryError`) and events.

While the breaker refuses, the stage asks upstream for nothing (a Kafka source upstream
pauses); in the default ``backpressure`` mode the items it already holds wait for the breaker,
and the first to wake becomes the half-open probe. An item completes at its source only once
delivered (or handled by the fallback) or dead-lettered.

In ``backpressure`` mode an item gives up (dead letter, or the stream fails) only when its
tries ran out while the breaker kept letting calls through, one backoff later still closed and
in the same generation: an outage makes items wait, only a poison item is given up.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Literal, Never, TypeAlias, TypeVar, get_args

from ..breaker._breaker import CircuitBreaker
from ..breaker._state import CircuitOpenError, State
from ..core._clock import Clock
from ..core._concurrent import AwaitableResult, ConcurrencyLimit, ConcurrentStage
from ..core._errors import StreamGuardError, failure_of
from ..core._protocol import ChunkSubscriber
from ..core._stage import StageEvent
from ..retry._budget import RetryBudget
from ..retry._config import PROGRAMMING_ERRORS, RetryConfig, ceiling
from ..retry._retry import GiveUpReason, Retry, RetryError, describe_call
from ._deadlines import Deadlines

T = TypeVar("T")

OnOpen: TypeAlias = Literal["backpressure", "fail", "dead_letter", "fallback"]
"""What an item does when the breaker refuses it (see :func:`~streamguard.guard.guarded_sink`)."""
ItemCallback: TypeAlias = Callable[[Any, BaseException], Any]
"""``(item, error)``, sync or async: a dead-letter sink or a fallback."""

DeadLetterReason: TypeAlias = Literal["breaker_open", "not_retryable", "call_failed",
                                      GiveUpReason]
"""Why a guarded sink gave an item up: the breaker refused it (``breaker_open``), its error is
not retryable (``not_retryable``), it failed with no retry configured (``call_failed``), or
its retry gave up, for the retry's own :data:`~streamguard.retry.GiveUpReason`
(``attempts_exhausted``, ``retry_after_too_long``, ``budget_exhausted``): one vocabulary for
both packages' metrics and events."""

DEAD_LETTER_REASONS: tuple[DeadLetterReason, ...] = get_args(DeadLetterReason)
"""Every :data:`DeadLetterReason`."""

_FREE = (State.CLOSED, State.DISABLED)


class DeliveryError(StreamGuardError):
    """An item could not be delivered downstream.

    The guarded sink raises it for an item it gave up with no dead-letter sink to take it:
    the stream fails with an :class:`~streamguard.core.ItemFailedError` naming the stage and
    the item, caused by this error, which names the stage, why it gave up, the breaker and its
    state (or that none is configured); its own cause is the last error of the call (often a
    :class:`~streamguard.retry.RetryError`). The Kafka sink raises it when its producer could
    not deliver a record.

    Attributes:
        breaker: the breaker's name (``None`` without a breaker, or outside a guarded sink).
        state: the breaker's state when the item was given up, as a string.
    """

    def __init__(self, message: str, *, breaker: str | None = None,
                 state: str | None = None) -> None:
        super().__init__(message)
        self.breaker = breaker
        self.state = state


def _undelivered(stage: str, call: object, breaker: CircuitBreaker | None,
                 reason: DeadLetterReason, cause: BaseException) -> DeliveryError:
    # What happened first (the stage gave up, and why), then the last error: the missing
    # breaker is context, never the cause.
    guard = "no breaker configured" if breaker is None else (
        f"CircuitBreaker {breaker.name!r} is {breaker.state.value}")
    root = cause.last_error if isinstance(cause, RetryError) else cause
    if isinstance(root, PROGRAMMING_ERRORS):
        name = getattr(call, "__qualname__", None) or type(call).__qualname__
        hint = (f"{type(root).__name__} is a programming error, never retried by default: fix "
                f"{name} (RetryConfig.never_retry_on lists such errors)")
    else:
        hint = "pass dead_letter= to route such items instead of failing the stream"
    error = DeliveryError(f"guarded_sink {stage!r} did not deliver the item "
                          f"({reason.replace('_', ' ')}; {guard});"
                          f" last error: {type(cause).__name__}: {cause}; {hint}",
                          breaker=None if breaker is None else breaker.name,
                          state=None if breaker is None else breaker.state.value)
    error.__cause__ = cause
    return error


@dataclass(frozen=True, slots=True)
class ItemDeadLettered(StageEvent):
    """An item went to the dead-letter sink; *reason* says why, as a
    :data:`DeadLetterReason` code (``"breaker_open"``, ``"attempts_exhausted"``,
    ``"not_retryable"`` …); *error* is the error that sent it there (for a retry that gave up,
    a :class:`~streamguard.retry.RetryError` whose ``detail`` has the values that decided
    it)."""

    reason: DeadLetterReason
    error: BaseException


@dataclass(frozen=True, slots=True)
class ItemFellBack(StageEvent):
    """The breaker refused an item and the fallback handled it instead."""

    error: BaseException


class GuardedSinkStage(ConcurrentStage[T, Never]):
    """The stage behind :func:`~streamguard.guard.guarded_sink`."""

    kind = "guarded_sink"
    _op = "guarded_sink"
    # An adaptive limit learns from each try of the call (_learned_call), not from process(),
    # whose duration holds breaker waits and retry backoffs and whose outcome is a success
    # when a failed item was dead-lettered: the limit would read them as the downstream's.
    _times_process = False

    def __init__(
        self, downstream: ChunkSubscriber[Never], call: Callable[[T], Awaitable[Any]], *,
        breaker: CircuitBreaker | None, retry: Retry | RetryConfig | None,
        budget: RetryBudget | None, timeout: float | None,
        concurrency: int | ConcurrencyLimit, on_open: OnOpen, dead_letter: ItemCallback | None,
        fallback: ItemCallback | None, clock: Clock, name: str | None,
        key: Callable[[T], Hashable] | None = None, max_per_key: int | None = None,
    ) -> None:
        super().__init__(downstream, concurrency=concurrency, ordered=False, on_error="fail",
                         name=name, emits=False, key=key, max_per_key=max_per_key)
        self._call = call
        self._breaker = breaker
        # Durations matter to the breaker only when it judges slow calls: read the clock then.
        self._timed = breaker is not None and breaker.config.slow_call_duration is not None
        # A Retry built here publishes on this pipeline's bus, like the stage itself.
        self._retry = retry if not isinstance(retry, RetryConfig) else Retry(
            self.name, retry, budget=budget, clock=clock, bus=self._rt.bus)
        self._budget = None if self._retry is None else self._retry.budget
        self._deadlines = None if timeout is None else Deadlines(clock, timeout)
        self._on_open = on_open
        self._dead_letter = dead_letter
        self._fallback = fallback
        self._clock = clock
        retry_config = self._retry.config if self._retry is not None else RetryConfig()
        self._grace = ceiling(retry_config, retry_config.attempts)
        self._watcher: asyncio.Task[None] | None = None
        self._learning = self._concurrency_limit
        self._tries = 0  # tries of the call under way (counted under an adaptive limit)
        self._try_waiters: list[asyncio.Future[None]] = []

    def _result_source(self) -> tuple[str, object]:
        return "call", self._call

    # ---------------------------------------------------------------- demand
    def _may_request(self) -> bool:
        if self._breaker_blocks():
            self._watch_breaker()
            return False
        return True

    def _breaker_blocks(self) -> bool:
        """In backpressure mode, no new demand while the breaker refuses; in half-open, only
        if no item we hold can be the probe. (The other modes route refused items, so they
        keep taking them.)"""
        if self._breaker is None or self._on_open != "backpressure":
            return False
        state = self._breaker.state
        if state in _FREE:
            return False
        holding = (self._in_flight_count > 0 or self._outstanding_count > 0
                   or self._waiting_count > 0)
        return holding or state is not State.HALF_OPEN

    def _watch_breaker(self) -> None:
        # Held items wake the stage when they finish; with none held, a watcher must.
        if (self._watcher is not None or self._in_flight_count > 0 or self._waiting_count > 0
                or self._done or not self._has_started or self._is_upstream_done
                or self._breaker is None):
            return
        self._watcher = self._spawn_tracked(self._wait_for_breaker(self._breaker))

    async def _wait_for_breaker(self, breaker: CircuitBreaker) -> None:
        await breaker.wait_permitted()
        self._watcher = None
        self._request_more()

    def _on_cancel(self) -> None:
        super()._on_cancel()
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None

    # ---------------------------------------------------------------- items
    async def process(self, item: T) -> Any:
        """Deliver *item*: wait for the breaker, retry, time out, or route it elsewhere."""
        if self._learning is not None:
            return await self._process_learning(item)
        # The first try, inline: for a healthy downstream it is the only one, so it costs a
        # permit, the call and a verdict — no retry loop, no closures, no extra coroutine.
        if self._deadlines is not None:
            return await self._process_timed(item, self._deadlines)
        if self._budget is not None:
            self._budget.record_call()
        breaker = self._breaker
        if breaker is None:
            try:
                return await self._call(item)
            except Exception as exc:
                return await self._recover(item, exc, 0)
        if breaker.awaiting_shared:  # a shared breaker's answer may open it: wait for it
            await breaker.wait_shared()
        generation = breaker.generation
        permit = breaker.try_acquire()
        if permit is None:
            return await self._recover(item, breaker.open_error(), generation)
        start = self._clock.now() if self._timed else 0.0
        try:
            result = await self._call(item)
        except BaseException as exc:  # cancellation too: the breaker then counts nothing
            breaker.on_failure(permit, exc, self._clock.now() - start if self._timed else 0.0)
            if not isinstance(exc, Exception):
                raise
            return await self._recover(item, exc, generation)
        breaker.on_success(permit, self._clock.now() - start if self._timed else 0.0)
        return result

    async def _process_timed(self, item: T, deadlines: Deadlines) -> Any:
        """:meth:`process` with a timeout: the same first try, its deadline on the shared
        timer (an overdue call's cancellation becomes a ``TimeoutError``)."""
        if self._budget is not None:
            self._budget.record_call()
        breaker = self._breaker
        generation = permit = 0
        if breaker is not None:
            if breaker.awaiting_shared:
                await breaker.wait_shared()
            generation = breaker.generation
            granted = breaker.try_acquire()
            if granted is None:
                return await self._recover(item, breaker.open_error(), generation)
            permit = granted
        start = self._clock.now() if self._timed else 0.0
        entry = deadlines.start()
        try:
            result = await self._call(item)
        except BaseException as exc:  # cancellation too: the breaker then counts nothing
            error = deadlines.end(entry, exc)
            assert error is not None
            if breaker is not None:
                breaker.on_failure(permit, error,
                                   self._clock.now() - start if self._timed else 0.0)
            if not isinstance(error, Exception):
                raise
            return await self._recover(item, error, generation)
        deadlines.end(entry, None)
        if breaker is not None:
            breaker.on_success(permit, self._clock.now() - start if self._timed else 0.0)
        return result

    async def _process_learning(self, item: T) -> Any:
        """:meth:`process` under an adaptive limit: every try, the first too, goes through
        :meth:`_attempt`, which reports it to the limit."""
        if self._budget is not None:
            self._budget.record_call()
        breaker = self._breaker
        generation = 0
        if breaker is not None:
            if breaker.awaiting_shared:
                await breaker.wait_shared()
            generation = breaker.generation
        try:
            return await self._attempt(item)
        except Exception as exc:
            return await self._recover(item, exc, generation)

    async def _recover(self, item: T, first: Exception, generation: int) -> Any:
        """The first try failed with *first*: retry it, wait for the breaker, or route it."""
        error: Exception = first
        retry = self._retry
        if retry is not None and retry.retryable(first):
            try:
                return await retry.resume(lambda: self._attempt(item), first,
                                          lambda: describe_call(self._call, (item,)))
            except Exception as exc:
                error = exc
        while True:
            reason: DeadLetterReason
            if isinstance(error, CircuitOpenError):
                reason = "breaker_open"
            elif isinstance(error, RetryError):
                reason = error.reason
            else:
                reason = "call_failed" if retry is None else "not_retryable"
            breaker = self._breaker
            if breaker is not None and await self._waits(reason, breaker, generation):
                await breaker.wait_permitted()
                generation = breaker.generation
                try:
                    if retry is None:
                        return await self._attempt(item)
                    return await retry.run(lambda: self._attempt(item),
                                           lambda: describe_call(self._call, (item,)))
                except Exception as exc:
                    error = exc
                continue
            if reason == "breaker_open":
                return await self._when_open(item, error)
            return await self._undeliverable(item, error, reason)

    async def _waits(self, reason: DeadLetterReason, breaker: CircuitBreaker,
                     generation: int) -> bool:
        """In backpressure mode an item waits for the breaker when it refused, and also when
        the item's tries ran out because the downstream is down: only a downstream that still
        takes calls can make an item give up (a poison item, not an outage)."""
        if self._on_open != "backpressure" or reason == "not_retryable":
            return False
        if reason == "breaker_open" or self._disturbed(breaker, generation):
            return True
        # At the start of an outage an item's tries can run out before the breaker has seen
        # enough failures to open. Give it one more backoff to judge before giving up.
        await self._clock.sleep(self._grace)
        return self._disturbed(breaker, generation)

    @staticmethod
    def _disturbed(breaker: CircuitBreaker, generation: int) -> bool:
        return breaker.state not in _FREE or breaker.generation != generation

    async def _attempt(self, item: T) -> Any:
        breaker = self._breaker
        if breaker is None:
            return await self._one_try(item)
        permit = breaker.try_acquire()
        if permit is None:
            raise breaker.open_error()
        start = self._clock.now() if self._timed else 0.0
        try:
            result = await self._one_try(item)
        except BaseException as exc:  # cancellation too: the breaker then counts nothing
            breaker.on_failure(permit, exc, self._clock.now() - start if self._timed else 0.0)
            raise
        breaker.on_success(permit, self._clock.now() - start if self._timed else 0.0)
        return result

    def _one_try(self, item: T) -> Awaitable[Any]:
        learning = self._learning
        if learning is None:
            return self._timed_call(item)
        return self._learned_call(item, learning)

    async def _learned_call(self, item: T, limit: ConcurrencyLimit) -> Any:
        """One try reported to the adaptive limit, as ``sink`` reports each call of its
        function: its duration, the tries in flight, and a failure or timeout as a drop. A
        refusal by the breaker makes no call and reports nothing.

        The workers follow the limit, but a retry (or a try after a breaker wait) of an item
        admitted before the limit fell would start above it: a try waits until the tries in
        flight are below the limit of the moment."""
        while self._tries >= limit.limit:
            waiter = asyncio.get_running_loop().create_future()
            self._try_waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._try_waiters:
                    self._try_waiters.remove(waiter)
        now = limit.clock.now
        self._tries += 1
        in_flight = self._tries
        began = now()
        try:
            result = await self._timed_call(item)
        except asyncio.CancelledError:
            raise  # the stage was cancelled: nothing learned about the downstream
        except Exception:
            limit.record(now() - began, in_flight=in_flight, dropped=True)
            raise
        finally:
            self._tries -= 1
            self._wake_tries()
        limit.record(now() - began, in_flight=in_flight)
        return result

    def _wake_tries(self) -> None:
        # Every waiter looks again: the limit may have grown by more than one.
        waiters, self._try_waiters = self._try_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _timed_call(self, item: T) -> Any:
        deadlines = self._deadlines
        if deadlines is None:
            return await self._call(item)
        entry = deadlines.start()
        try:
            result = await self._call(item)
        except BaseException as exc:
            error = deadlines.end(entry, exc)
            if error is exc:
                raise
            assert error is not None
            raise error from None
        deadlines.end(entry, None)
        return result

    async def _when_open(self, item: T, refused: Exception) -> Any:
        if self._on_open == "dead_letter":
            return await self._to_dead_letter(item, refused, "breaker_open")
        if self._on_open == "fallback" and self._fallback is not None:
            with failure_of(self.name):
                await _maybe_await("fallback", self._fallback, self._fallback(item, refused))
            bus = self._rt.bus
            if bus.active:
                bus.publish(ItemFellBack(source=f"{self._rt.name}/{self.name}",
                                         pipeline=self._rt.name, stage=self.name,
                                         error=refused))
            return None
        raise refused  # "fail": the stream fails, naming the item and (in the cause) the breaker

    async def _undeliverable(self, item: T, error: Exception, reason: DeadLetterReason) -> Any:
        if self._dead_letter is not None:
            return await self._to_dead_letter(item, error, reason)
        raise _undelivered(self.name, self._call, self._breaker, reason, error)

    async def _to_dead_letter(self, item: T, error: BaseException,
                              reason: DeadLetterReason) -> Any:
        if self._dead_letter is None:
            raise error
        with failure_of(self.name):
            await _maybe_await("dead_letter", self._dead_letter,
                               self._dead_letter(item, error))
        bus = self._rt.bus
        if bus.active:
            bus.publish(ItemDeadLettered(source=f"{self._rt.name}/{self.name}",
                                         pipeline=self._rt.name, stage=self.name,
                                         reason=reason, error=error))
        return ConcurrentStage.REJECTED  # completes at its source, counted as rejected


async def _maybe_await(field: str, fn: object, value: Any) -> None:
    # A sync callback is called as it is (KafkaSource.dead_letter schedules its write);
    # an async one is awaited. Its result is thrown away, so what the await gave must not be
    # work still to do (`return store(x)` without `await`): the stage refuses it.
    if inspect.isawaitable(value):
        value = await value
        if value is not None and inspect.isawaitable(value):
            raise AwaitableResult(field, fn, value)
