"""`RateLimiter`: one algorithm, optionally per key, in local or shared storage.

The not-limited path of a local limiter is a handful of float operations on slots: the
state is looked up directly (no storage binding in between) and, when nobody listens for
events, ``acquire`` does not even build a :class:`Decision`.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from streamguard.core._clock import SYSTEM_CLOCK, Clock
from streamguard.core._errors import require
from streamguard.core._events import EventBus

from ._limiter import BaseLimiter, bad_cost
from ._outage import FailureMode
from .algorithms._base import Algorithm, Decision, State
from .storage import Storage
from .storage._memory import KeyTable, MemoryBinding


class RateLimiter(BaseLimiter):
    """A rate limiter: one algorithm, per key when a key is given, in local or shared storage.

    Args:
        name: names the limiter in decisions, events, metrics and storage keys; limiters
            with the same name in the same storage share their state.
        algorithm: the policy, e.g. ``TokenBucket(rate=100, burst=20)``.
        storage: a URI (``"memory://"``, ``"redis://host:6379/0"``) or a shared
            :class:`~streamguard.ratelimit.storage.Storage`.
        failure_mode: while remote storage is down, ``"open"`` (the default) admits
            everything and ``"closed"`` refuses everything; either way it is counted, logged
            once per outage and published as events, and nothing raises.
        outage_probe: seconds between attempts to reach storage during an outage.
        clock: time source (tests pass a ``VirtualClock``).
        bus: where events go (default: :func:`~streamguard.core.default_bus`).

    Example::

        limiter = RateLimiter("api", TokenBucket(rate=10, burst=5))
        decision = limiter.try_acquire(key="alice")
        await limiter.acquire(key="bob")        # waits if bob is over his limit
    """

    def __init__(self, name: str, algorithm: Algorithm, *, storage: str | Storage = "memory://",
                 failure_mode: FailureMode = "open", outage_probe: float = 0.5,
                 clock: Clock = SYSTEM_CLOCK, bus: EventBus | None = None) -> None:
        require(isinstance(algorithm, Algorithm),
                "algorithm must be an Algorithm such as TokenBucket(rate=..., burst=...)",
                algorithm)
        super().__init__([(name, algorithm)], name=name, storage=storage,
                         failure_mode=failure_mode, outage_probe=outage_probe, clock=clock,
                         bus=bus)
        self.algorithm = algorithm
        self._table: KeyTable | None = None
        self._state: State | None = None
        if isinstance(self._binding, MemoryBinding):
            self._table = self._binding.tables[0]
            self._state = self._table.pin(None)

    def __repr__(self) -> str:
        return f"RateLimiter({self.name!r}, {self.algorithm!r}, storage={self.storage.uri!r})"

    def _keys(self, key: Any) -> tuple[Hashable, ...]:
        return (key,)

    def _queue_key(self, key: Any, keys: tuple[Hashable, ...]) -> Hashable:
        return keys[0]

    def _line_of(self, key: Any) -> Hashable:
        return key  # type: ignore[no-any-return]

    def _attempt_nowait(self, cost: float, key: Any) -> Decision:
        now = self._now()
        state = self._local_state(key, now)
        return state.decide(now, cost)

    def _combine(self, decisions: list[Decision]) -> Decision:
        return decisions[0]

    def _after_reset(self) -> None:
        if self._table is not None:
            self._state = self._table.pin(None)

    def _local_state(self, key: Any, now: float) -> State:
        if key is None:
            assert self._state is not None
            return self._state
        assert self._table is not None
        return self._table.get(key, now)

    # The three methods below repeat the base class's logic with the state looked up
    # directly: this is the not-limited fast path (see benchmarks/suite_ratelimit.py).
    def try_acquire(self, cost: float = 1.0, *, key: Any = None) -> Decision:
        """Decide now, synchronously, consuming *cost* if it passes (local storage only;
        see :meth:`BaseLimiter.try_acquire`)."""
        if not cost > 0.0:
            raise bad_cost(cost)
        if not self._local:
            raise self._remote_error("try_acquire")
        now = self._now()
        state = self._state if key is None else self._local_state(key, now)
        assert state is not None
        if self._queues and key in self._queues:
            decision = self._queued_refusal(state.decide(now, cost, commit=False))
        else:
            decision = state.decide(now, cost)
        if decision.allowed:
            self._allowed += 1
            if self._bus.active:
                self._publish("allowed", key, cost, 0.0, decision)
            return decision
        self._rejected += 1
        if self._bus.active:
            self._publish("rejected", key, cost, 0.0, decision)
        return decision

    async def decide(self, cost: float = 1.0, *, key: Any = None) -> Decision:
        """Decide now on any storage, consuming *cost* if it passes; never waits."""
        if self._local:
            return self.try_acquire(cost, key=key)
        return await super().decide(cost, key=key)

    async def acquire(self, cost: float = 1.0, *, key: Any = None,
                      timeout: float | None = None) -> float:  # noqa: ASYNC109
        """Wait until *cost* passes, at most *timeout* seconds (see
        :meth:`BaseLimiter.acquire`)."""
        if not cost > 0.0:
            raise bad_cost(cost)
        table = self._table
        if table is not None and not self._queues and not self._bus.active:
            now = self._now()
            state = self._state if key is None else table.get(key, now)
            assert state is not None
            if state.take(now, cost):
                self._allowed += 1
                return 0.0
        return await super().acquire(cost, key=key, timeout=timeout)

    async def __aenter__(self) -> None:
        """``async with limiter:`` waits for one unit (like aiolimiter)."""
        table = self._table
        if table is not None and not self._queues and not self._bus.active:
            state = self._state
            assert state is not None
            if state.take(self._now(), 1.0):
                self._allowed += 1
                return
        await super().acquire()
