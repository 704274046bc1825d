"""`GuardedSinkStage`: deliver every item through a breaker, retries and a timeout.

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
from collections.abc import Awaitable, Callable
from typing import Any, Literal, Never, TypeAlias, TypeVar

from ..breaker._breaker import CircuitBreaker
from ..breaker._errors import CircuitOpenError
from ..breaker._state import State
from ..core._clock import Clock
from ..core._concurrent import ConcurrentStage
from ..core._protocol import ChunkSubscriber
from ..retry._backoff import ceiling
from ..retry._budget import RetryBudget
from ..retry._config import RetryConfig
from ..retry._errors import RetryError
from ..retry._retry import Retry, describe_call
from ._errors import DeliveryError
from ._events import ItemDeadLettered, ItemFellBack
from ._timeout import deadline

T = TypeVar("T")

OnOpen: TypeAlias = Literal["backpressure", "fail", "dead_letter", "fallback"]
DeadLetter: TypeAlias = Callable[[Any, BaseException], Any]
"""``(item, error) -> None`` or an awaitable: takes an item that could not be delivered."""
Fallback: TypeAlias = Callable[[Any, BaseException], Any]
"""``(item, error) -> anything`` or an awaitable: handles an item the breaker refused."""

_FREE = (State.CLOSED, State.DISABLED)


class GuardedSinkStage(ConcurrentStage[T, Never]):
    """The stage behind :func:`~streamguard.guard.guarded_sink`."""

    kind = "guarded_sink"

    def __init__(
        self, downstream: ChunkSubscriber[Never], call: Callable[[T], Awaitable[Any]], *,
        breaker: CircuitBreaker | None, retry: Retry | RetryConfig | None,
        budget: RetryBudget | None, timeout: float | None,
        concurrency: int, on_open: OnOpen, dead_letter: DeadLetter | None,
        fallback: Fallback | None, clock: Clock, name: str | None,
    ) -> None:
        super().__init__(downstream, concurrency=concurrency, ordered=False, on_error="fail",
                         name=name, emits=False)
        self._call = call
        self._breaker = breaker
        # A Retry built here publishes on this pipeline's bus, like the stage itself.
        self._retry = retry if not isinstance(retry, RetryConfig) else Retry(
            self.name, retry, budget=budget, clock=clock, bus=self._rt.bus)
        self._timeout = timeout
        self._on_open = on_open
        self._dead_letter = dead_letter
        self._fallback = fallback
        self._clock = clock
        retry_config = self._retry.config if self._retry is not None else RetryConfig()
        self._grace = ceiling(retry_config, retry_config.attempts)
        self._watcher: asyncio.Task[None] | None = None

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
        while True:
            generation = 0 if self._breaker is None else self._breaker.generation
            try:
                return await self._deliver_once(item)
            except CircuitOpenError as refused:
                error: Exception = refused
                reason = "breaker open"
            except RetryError as exc:
                error, reason = exc, "retries exhausted"
            except Exception as exc:
                error, reason = exc, "call failed" if self._retry is None else "not retryable"
            breaker = self._breaker
            if breaker is not None and await self._waits(reason, breaker, generation):
                await breaker.wait_permitted()
                continue
            if reason == "breaker open":
                return await self._when_open(item, error)
            return await self._undeliverable(item, error, reason)

    async def _waits(self, reason: str, breaker: CircuitBreaker, generation: int) -> bool:
        """In backpressure mode an item waits for the breaker when it refused, and also when
        the item's tries ran out because the downstream is down: only a downstream that still
        takes calls can make an item give up (a poison item, not an outage)."""
        if self._on_open != "backpressure" or reason == "not retryable":
            return False
        if reason == "breaker open" or self._disturbed(breaker, generation):
            return True
        # At the start of an outage an item's tries can run out before the breaker has seen
        # enough failures to open. Give it one more backoff to judge before giving up.
        await self._clock.sleep(self._grace)
        return self._disturbed(breaker, generation)

    @staticmethod
    def _disturbed(breaker: CircuitBreaker, generation: int) -> bool:
        return breaker.state not in _FREE or breaker.generation != generation

    async def _deliver_once(self, item: T) -> Any:
        if self._retry is None:
            return await self._attempt(item)
        return await self._retry.run(lambda: self._attempt(item),
                                     describe_call(self._call, (item,)))

    async def _attempt(self, item: T) -> Any:
        breaker, clock = self._breaker, self._clock
        if breaker is None:
            async with deadline(clock, self._timeout):
                return await self._call(item)
        permit = breaker.acquire()
        start = clock.now()
        try:
            async with deadline(clock, self._timeout):
                result = await self._call(item)
        except BaseException as exc:  # cancellation too: the breaker then counts nothing
            breaker.on_failure(permit, exc, clock.now() - start)
            raise
        breaker.on_success(permit, clock.now() - start)
        return result

    async def _when_open(self, item: T, refused: Exception) -> Any:
        if self._on_open == "dead_letter":
            return await self._to_dead_letter(item, refused, "breaker open")
        if self._on_open == "fallback" and self._fallback is not None:
            await _maybe_await(self._fallback(item, refused))
            bus = self._rt.bus
            if bus.active:
                bus.publish(ItemFellBack(source=f"{self._rt.name}/{self.name}",
                                         pipeline=self._rt.name, stage=self.name,
                                         error=refused))
            return None
        raise refused  # "fail": the stream fails, naming the item and (in the cause) the breaker

    async def _undeliverable(self, item: T, error: Exception, reason: str) -> Any:
        if self._dead_letter is not None:
            return await self._to_dead_letter(item, error, reason)
        breaker = self._breaker
        raise DeliveryError(None if breaker is None else breaker.name,
                            None if breaker is None else breaker.state.value, error)

    async def _to_dead_letter(self, item: T, error: BaseException, reason: str) -> Any:
        if self._dead_letter is None:
            raise error
        await _maybe_await(self._dead_letter(item, error))
        bus = self._rt.bus
        if bus.active:
            bus.publish(ItemDeadLettered(source=f"{self._rt.name}/{self.name}",
                                         pipeline=self._rt.name, stage=self.name,
                                         reason=reason, error=error))
        return ConcurrentStage.REJECTED  # completes at its source, counted as rejected


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value
