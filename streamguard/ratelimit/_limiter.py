"""`BaseLimiter`: what every limiter does — decide, wait in line, penalize, count, publish,
survive a storage outage — whatever its tiers are (see ``_rate_limiter.py`` and
``_composite.py``).

The public shape of every limiter (the README's "API conventions")::

    decision = limiter.try_acquire(cost, key=...)          # local storage: decide now, sync
    decision = await limiter.decide(cost, key=...)         # any storage: decide now, async
    waited = await limiter.acquire(cost, key=..., timeout=...)    # wait; RateLimitExceeded
    await limiter.acquire(cost, key=..., timeout=0)        # any storage: now or raise
    await limiter.penalize(retry_after, key=...)           # honour a downstream's 429

Waiting (a per-key FIFO, :class:`WaitQueue` below) only starts when a cost is refused.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from types import TracebackType
from typing import Any

from streamguard.core._clock import Clock, MonotonicClock
from streamguard.core._errors import ConfigError, StreamGuardError, WouldBlock, require
from streamguard.core._events import EventBus, default_bus

from ._events import DecisionResult, LimiterStatistics, RateLimitDecided
from ._headers import parse_retry_after
from ._outage import FailureMode, OutageGuard
from .algorithms._base import EPSILON, INF, Decision
from .storage import Storage, storage_from_uri
from .storage._base import StorageUnavailable, TierSpec
from .storage._memory import MemoryBinding


class RateLimitExceeded(StreamGuardError):
    """A limiter refused a cost: in ``"error"`` mode, past a wait's timeout, or a cost that
    can never be admitted (larger than the limiter's burst).

    ``decision`` is the refusal, with ``retry_after`` saying when to try again. It is a
    "slow down" signal (``throttled``), so a circuit breaker around the call does not count it
    as a failure and a retry waits ``retry_after`` first.
    """

    throttled = True

    def __init__(self, message: str, *, decision: Decision) -> None:
        super().__init__(message)
        self.decision = decision

    @property
    def retry_after(self) -> float:
        """Seconds until the refused cost could be admitted (from the decision)."""
        return self.decision.retry_after


# ---------------------------------------------------------------- waiting in line
# Waiting in line: one FIFO queue per key, so waiters of a key pass in arrival order and
# waiters of different keys never hold each other up.
#
# A waiter holds a place in the queue, not capacity: only the head of a queue asks the limiter,
# sleeping exactly as long as the refusal's ``retry_after`` says. Nothing is consumed before a
# waiter passes, so a cancelled waiter gives everything back by leaving the queue.

class Waiter:
    """One caller waiting for *cost*."""

    __slots__ = ("cost", "turn")

    def __init__(self, cost: float) -> None:
        self.cost = cost
        self.turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class WaitQueue:
    """The waiters of one key, oldest first, and the cost they wait for."""

    __slots__ = ("cost", "waiters")

    def __init__(self) -> None:
        self.waiters: deque[Waiter] = deque()
        self.cost = 0.0

    def __len__(self) -> int:
        return len(self.waiters)

    def join(self, waiter: Waiter) -> bool:
        """Append *waiter*; True if it is at the head (its turn is now)."""
        self.waiters.append(waiter)
        self.cost += waiter.cost
        if len(self.waiters) == 1:
            waiter.turn.set_result(None)
            return True
        return False

    def leave(self, waiter: Waiter) -> None:
        """Remove *waiter* (passed, gave up or cancelled) and hand the turn to the next one."""
        if self.waiters and self.waiters[0] is waiter:
            self.waiters.popleft()
        else:
            self.waiters.remove(waiter)
        self.cost -= waiter.cost
        if self.waiters:
            head = self.waiters[0]
            if not head.turn.done():
                head.turn.set_result(None)
        else:
            self.cost = 0.0


def bad_cost(cost: object) -> ConfigError:
    """The error for a cost that is not > 0 (a negative one would refill the bucket)."""
    return ConfigError(f"cost must be a number > 0, got {cost!r}")


def never_passes(cost: float, limit: float, limiter: str) -> str:
    """Why *cost* can never pass: it exceeds *limit*, the most the limiter (or tier) named
    *limiter* admits at once. The one wording of this refusal, for ``acquire``, the
    ``rate_limit`` stage and its build-time check."""
    return (f"cost {cost:g} can never pass: it exceeds the limit {limit:g} of {limiter!r}; "
            f"split the item or raise the limit")


def fast_now(clock: Clock) -> Callable[[], float]:
    """The cheapest reader of *clock*: ``MonotonicClock`` reads ``loop.time()``, which for
    asyncio's event loops is ``time.monotonic()``; calling that directly saves 0.15 µs per
    decision. Waiting still sleeps on the loop, which never wakes before that time."""
    return time.monotonic if type(clock) is MonotonicClock else clock.now


class BaseLimiter:
    """Everything a limiter does except naming its tiers' keys (see the subclasses)."""

    def __init__(self, tiers: Sequence[TierSpec], *, name: str, storage: str | Storage,
                 failure_mode: FailureMode, outage_probe: float, clock: Clock,
                 bus: EventBus | None) -> None:
        require(isinstance(name, str) and name != "", "name must be a non-empty string", name)
        require(failure_mode in ("open", "closed"), 'failure_mode must be "open" or "closed"',
                failure_mode)
        require(outage_probe > 0, "outage_probe must be > 0 seconds", outage_probe)
        self.name = name
        self._owns_storage = isinstance(storage, str)
        self.storage: Storage = storage_from_uri(storage) if isinstance(storage, str) else storage
        self._tiers = tuple(tiers)
        self._binding = self.storage.bind(self._tiers)
        self._local = self._binding.local
        self._clock = clock
        self._now = fast_now(clock)
        self._bus = bus if bus is not None else default_bus()
        self._max_queued = min(algorithm.max_queued for _, algorithm in self._tiers)
        self._queues: dict[Hashable, WaitQueue] = {}
        self._outage = OutageGuard(limiter=name, storage=self.storage.uri, tiers=self._tiers,
                                   mode=failure_mode, probe=outage_probe, bus=self._bus)
        self._allowed = 0
        self._delayed = 0
        self._rejected = 0

    # ---------------------------------------------------------------- what subclasses say
    def _keys(self, key: Any) -> tuple[Hashable, ...]:
        """One storage key per tier for the caller's *key*."""
        raise NotImplementedError

    def _combine(self, decisions: list[Decision]) -> Decision:
        """One decision out of the tiers' decisions."""
        raise NotImplementedError

    # ---------------------------------------------------------------- properties
    @property
    def failure_mode(self) -> FailureMode:
        """``"open"`` (admit) or ``"closed"`` (refuse) while the storage is down."""
        return self._outage.mode

    @property
    def local(self) -> bool:
        """True when the state lives in this process (the synchronous ``try_acquire`` works)."""
        return self._local

    # ---------------------------------------------------------------- deciding once
    def _decide_local(self, keys: tuple[Hashable, ...], cost: float, now: float) -> Decision:
        return self._combine(self._binding.decide_nowait(keys, cost, now))

    async def _decide(self, keys: tuple[Hashable, ...], cost: float) -> Decision:
        now = self._now()
        if self._local:
            return self._decide_local(keys, cost, now)
        outage = self._outage
        if outage.skip(now):
            return self._combine(outage.decide(now))
        try:
            decisions = await self._binding.decide(keys, cost, now)
        except StorageUnavailable as exc:
            now = self._now()
            outage.failed(now, exc)
            return self._combine(outage.decide(now))
        if outage.down:
            outage.recovered(self._now())
        return self._combine(decisions)

    def _queued_refusal(self, decision: Decision) -> Decision:
        # Callers already waiting for this key go first: no barging past a queue.
        return decision._replace(allowed=False, retry_after=max(decision.retry_after, 0.0))

    # ---------------------------------------------------------------- public API
    def try_acquire(self, cost: float = 1.0, *, key: Any = None) -> Decision:
        """Decide now, synchronously, consuming *cost* if it passes; never waits, never raises
        a refusal (it is the returned decision's ``allowed=False``). Local storage only.

        Raises :class:`~streamguard.core.WouldBlock` for remote storage, which needs a round
        trip: ``await limiter.decide()`` (the decision) or ``await limiter.acquire(timeout=0)``.
        """
        if not cost > 0.0:
            raise bad_cost(cost)
        if not self._local:
            raise self._remote_error("try_acquire")
        keys = self._keys(key)
        now = self._now()
        if self._queues and self._queue_key(key, keys) in self._queues:
            decision = self._queued_refusal(self._decide_peek(keys, cost, now))
        else:
            decision = self._decide_local(keys, cost, now)
        return self._count(decision, key, cost)

    async def decide(self, cost: float = 1.0, *, key: Any = None) -> Decision:
        """Decide now on any storage (one round trip for Redis), consuming *cost* if it
        passes; never waits for capacity and never raises a refusal. With local storage it
        is :meth:`try_acquire`."""
        if not cost > 0.0:
            raise bad_cost(cost)
        keys = self._keys(key)
        if self._queues and self._queue_key(key, keys) in self._queues:
            decision = self._queued_refusal(await self._decide_peek_async(keys, cost))
        else:
            decision = await self._decide(keys, cost)
        return self._count(decision, key, cost)

    async def acquire(self, cost: float = 1.0, *, key: Any = None,
                      timeout: float | None = None) -> float:  # noqa: ASYNC109
        """Wait until *cost* passes, at most *timeout* seconds (``None``: as long as it
        takes; ``0``: decide now); return the seconds spent waiting (0.0 if it passed at
        once).

        Waiters of one key pass in arrival order. Raises :class:`RateLimitExceeded` (its
        ``decision`` says when to retry) at once when the cost can never pass (it exceeds the
        limit) or the queue is full (a shaper's ``capacity``), and as soon as it is clear that
        it cannot pass within *timeout* (it does not sleep first to find out). Cancelling the
        call while it waits consumes nothing.
        """
        if not cost > 0.0:
            raise bad_cost(cost)
        if timeout is not None:
            require(isinstance(timeout, int | float) and not isinstance(timeout, bool)
                    and timeout >= 0, "acquire timeout must be None or a number >= 0 (seconds)",
                    timeout)
        keys = self._keys(key)
        queue_key = self._queue_key(key, keys)
        if not (self._queues and queue_key in self._queues):
            decision = await self._decide(keys, cost)
            if decision.allowed:
                self._count(decision, key, cost)
                return 0.0
        else:
            decision = await self._decide_peek_async(keys, cost)
        return await self._wait(key, keys, queue_key, cost, decision, timeout)

    async def __aenter__(self) -> None:
        """``async with limiter:`` waits for one unit (like aiolimiter)."""
        await self.acquire()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        """Nothing to release: what passed stays consumed."""

    async def penalize(self, retry_after: float | str, *, key: Any = None) -> float:
        """Refuse everything for *key* during *retry_after* (seconds, or a ``Retry-After``
        header value such as ``"120"`` or an HTTP-date); return the seconds applied.

        This is how a sink hands back a downstream's HTTP 429: waiters then sleep until the
        penalty ends. With remote storage every process sharing the limit honours it. A
        penalty never shortens an earlier, longer one.
        """
        seconds = parse_retry_after(retry_after)
        now = self._now()
        try:
            await self._binding.penalize(self._keys(key), seconds, now)
        except StorageUnavailable as exc:
            self._outage.failed(self._now(), exc)
        return seconds

    async def reset(self, *, key: Any = None) -> None:
        """Forget the state of *key* (it starts over with its full allowance)."""
        try:
            await self._binding.reset(self._keys(key))
        except StorageUnavailable as exc:
            self._outage.failed(self._now(), exc)
        self._after_reset()

    def statistics(self) -> LimiterStatistics:
        """A frozen snapshot of this limiter's counters."""
        binding = self._binding
        keys = sum(len(t) for t in binding.tables) if isinstance(binding, MemoryBinding) else -1
        return LimiterStatistics(
            limiter=self.name, allowed=self._allowed, delayed=self._delayed,
            rejected=self._rejected, waiting=sum(len(q) for q in self._queues.values()),
            waiting_cost=sum(q.cost for q in self._queues.values()), keys=keys,
            outages=self._outage.outages, outage_decisions=self._outage.total_decisions,
            storage_down=self._outage.down,
        )

    async def aclose(self) -> None:
        """Close the storage if this limiter created it from a URI."""
        if self._owns_storage:
            await self.storage.aclose()

    # ---------------------------------------------------------------- for the stream stage
    # The rate_limit stage keeps its own lines and records outcomes itself (a refusal it
    # will retry is not a rejection).
    def _line_of(self, key: Any) -> Hashable:
        """The line (wait queue) that callers with *key* stand in."""
        return self._queue_key(key, self._keys(key))

    def _tightest(self) -> tuple[str, float]:
        """The tier with the smallest limit, as (its name in decisions, its limit): a cost
        above that limit can never pass, whatever the key and the storage."""
        name, algorithm = min(self._tiers, key=lambda tier: tier[1].limit)
        return name, algorithm.limit

    def _attempt_nowait(self, cost: float, key: Any) -> Decision:
        """Local storage: decide now; nothing is counted or published."""
        return self._decide_local(self._keys(key), cost, self._now())

    def _refusal(self, cost: float, key: Any) -> Decision:
        """A refusal for *cost* now, consuming nothing: what the limiter would say (local
        storage) or its estimate (remote storage, which cannot be read without deciding)."""
        keys = self._keys(key)
        if self._local:
            return self._queued_refusal(self._decide_peek(keys, cost, self._now()))
        tier_name, algorithm = self._tiers[0]
        return Decision(False, algorithm.limit, 0.0, 0.0, 0.0, algorithm, tier_name)

    async def _attempt(self, cost: float, key: Any) -> Decision:
        """Any storage (failure mode included): decide now; nothing is counted or published."""
        return await self._decide(self._keys(key), cost)

    def _record(self, result: DecisionResult, decision: Decision, key: Any, cost: float,
                waited: float) -> None:
        """Count and publish an outcome decided through :meth:`_attempt`."""
        if result == "allowed":
            self._allowed += 1
        elif result == "delayed":
            self._delayed += 1
        else:
            self._rejected += 1
        if self._bus.active:
            self._publish(result, key, cost, waited, decision)

    def _admitted(self, count: int, decision: Decision, key: Any, cost: float) -> None:
        """Count (and publish) *count* items of *cost* each that one decision let pass."""
        self._allowed += count
        if self._bus.active:
            for _ in range(count):
                self._publish("allowed", key, cost, 0.0, decision)

    @property
    def clock(self) -> Clock:
        """The clock this limiter reads and waits on."""
        return self._clock

    # ---------------------------------------------------------------- internals
    def _after_reset(self) -> None:
        """Hook: re-read state held directly after a reset."""

    def _queue_key(self, key: Any, keys: tuple[Hashable, ...]) -> Hashable:
        return keys

    def _decide_peek(self, keys: tuple[Hashable, ...], cost: float, now: float) -> Decision:
        assert isinstance(self._binding, MemoryBinding)
        states = [t.get(k, now) for t, k in zip(self._binding.tables, keys, strict=True)]
        return self._combine([s.decide(now, cost, commit=False) for s in states])

    async def _decide_peek_async(self, keys: tuple[Hashable, ...], cost: float) -> Decision:
        if self._local:
            return self._decide_peek(keys, cost, self._now())
        return self._refusal(cost, None)

    def _count(self, decision: Decision, key: Any, cost: float) -> Decision:
        self._record("allowed" if decision.allowed else "rejected", decision, key, cost, 0.0)
        return decision

    def _publish(self, result: DecisionResult, key: Any, cost: float, waited: float,
                 decision: Decision) -> None:
        self._bus.publish(RateLimitDecided(
            source=self.name, limiter=self.name, result=result, key=key, cost=cost,
            waited=waited, decision=decision))

    def _remote_error(self, method: str) -> WouldBlock:
        return WouldBlock(
            f"rate limiter {self.name!r} keeps its state in {self.storage.uri}, which needs a "
            f"round trip: use 'await limiter.decide()' or 'await limiter.acquire(timeout=0)' "
            f"instead of {method}()"
        )

    def _refuse(self, message: str, key: Any, cost: float, decision: Decision,
                waited: float) -> RateLimitExceeded:
        self._record("rejected", decision, key, cost, waited)
        return RateLimitExceeded(f"rate limiter {self.name!r}: {message}", decision=decision)

    async def _wait(self, key: Any, keys: tuple[Hashable, ...], queue_key: Hashable,
                    cost: float, decision: Decision, patience: float | None) -> float:
        if decision.retry_after == INF:
            raise self._refuse(never_passes(cost, decision.limit, decision.limiter), key, cost,
                               decision, 0.0)
        queue = self._queues.get(queue_key)
        if queue is None:
            queue = self._queues[queue_key] = WaitQueue()
        if queue.cost + cost > self._max_queued + EPSILON:
            if not queue:
                del self._queues[queue_key]
            raise self._refuse(
                f"queue of key {key!r} is full ({queue.cost:g} of {self._max_queued:g} waiting,"
                f" cost {cost:g}); slow the producer down or raise the capacity", key, cost,
                decision, 0.0)
        began = self._now()
        deadline = INF if patience is None else began + patience
        waiter = Waiter(cost)
        first = queue.join(waiter)
        try:
            if not first:
                await self._await_turn(waiter, deadline, key, cost, decision, began)
                decision = await self._decide(keys, cost)
            while not decision.allowed:
                if decision.retry_after == INF:
                    raise self._refuse(never_passes(cost, decision.limit, decision.limiter),
                                       key, cost, decision, self._now() - began)
                if self._now() + decision.retry_after > deadline + EPSILON:
                    raise self._refuse(
                        f"cost {cost:g} for key {key!r} cannot pass within timeout="
                        f"{patience:g} s (retry after {decision.retry_after:.3f} s)", key, cost,
                        decision, self._now() - began)
                await self._clock.sleep(decision.retry_after)
                decision = await self._decide(keys, cost)
        finally:
            queue.leave(waiter)
            if not queue and self._queues.get(queue_key) is queue:
                del self._queues[queue_key]
        waited = self._now() - began
        self._delayed += 1
        if self._bus.active:
            self._publish("delayed", key, cost, waited, decision)
        return waited

    async def _await_turn(self, waiter: Waiter, deadline: float, key: Any, cost: float,
                          decision: Decision, began: float) -> None:
        if math.isinf(deadline):
            await waiter.turn
            return
        sleeper = asyncio.ensure_future(self._clock.sleep(deadline - self._now()))
        try:
            await asyncio.wait((waiter.turn, sleeper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
        if not waiter.turn.done():
            raise self._refuse(f"key {key!r} waited in line past its timeout", key, cost,
                               decision, self._now() - began)
