"""Concurrency limits learned from the downstream's answers (Netflix concurrency-limits' idea).

A limit algorithm is pure math: given the current limit, its small memory and one sample — the
round-trip time of a call, how many calls were in flight when it started, and whether it was
dropped (failed, timed out, answered "overloaded") — it returns the next limit. The runtime
:class:`AdaptiveLimit` owns the state, tells subscribers when the limit moves, and is what a
stage takes as ``concurrency=``: a slower downstream lowers the limit, the stage asks upstream
for less, and the slowdown reaches the source (and pauses Kafka partitions) without any
number to tune.

* :class:`AIMD` — additive increase while the limit is in use, multiplicative decrease on a
  drop (or a call slower than ``timeout``). Needs drops to find the ceiling.
* :class:`Vegas` — TCP Vegas' delay-based estimate: ``queue = limit × (1 − rtt_noload / rtt)``
  calls are waiting at the downstream; grow while the queue is short, shrink while it is long.
  It finds a downstream's capacity from latency alone, before anything fails.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core._clock import SYSTEM_CLOCK, Clock
from ..core._errors import require
from ..core._events import Event, EventBus, default_bus

MIN_WINDOW = 8
"""Samples averaged per step at least (fewer when the limit is smaller). A quarter of a small
limit is one or two calls, whose noise alone moved a limit of 8 by ±2 — outside ±25 % of the
capacity it had found; averaging eight made a capacity drop 32 → 8 settle within half a
second instead of wandering for four (a simulated FIFO downstream, 1 ms of loop jitter)."""


def _check_bounds(initial: object, min_limit: object, max_limit: object) -> None:
    for field_name, value in (("initial", initial), ("min_limit", min_limit),
                              ("max_limit", max_limit)):
        require(isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                f"{field_name} must be an int >= 1", value)
    assert isinstance(min_limit, int)
    assert isinstance(max_limit, int)
    assert isinstance(initial, int)
    # The bounds first: with min_limit > max_limit no initial fits, and saying so about
    # initial would send the reader to the wrong field.
    require(min_limit <= max_limit, f"min_limit must be <= max_limit (max_limit={max_limit})",
            min_limit)
    require(min_limit <= initial <= max_limit,
            f"initial must lie in [min_limit, max_limit] = [{min_limit}, {max_limit}]", initial)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True, slots=True)
class Sample:
    """One finished call: its round-trip time, the calls in flight when it started, and
    whether it was dropped (an error, a timeout, an "overloaded" answer)."""

    rtt: float
    in_flight: int
    dropped: bool = False


@dataclass(slots=True)
class _Memory:
    """What an algorithm remembers between samples (owned by :class:`AdaptiveLimit`)."""

    rtt_noload: float = 0.0
    samples_since_probe: int = 0
    slow_start: bool = True
    window_rtt: float = 0.0
    window_n: int = 0
    window_in_flight: int = 0
    window_dropped: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class AIMD:
    """Additive increase, multiplicative decrease.

    Attributes:
        initial: the limit before any sample (20).
        min_limit, max_limit: bounds of the limit (1, 1000).
        backoff: factor applied on a drop, in (0.5, 1) (0.9).
        timeout: a call slower than this counts as a drop (``None``: only errors do).
    """

    initial: int = 20
    min_limit: int = 1
    max_limit: int = 1000
    backoff: float = 0.9
    timeout: float | None = None

    def __post_init__(self) -> None:
        _check_bounds(self.initial, self.min_limit, self.max_limit)
        require(_is_number(self.backoff) and 0.5 <= self.backoff < 1,
                "backoff must be a number in [0.5, 1)", self.backoff)
        require(self.timeout is None or (_is_number(self.timeout) and self.timeout > 0),
                "timeout must be None or a number > 0", self.timeout)

    def next_limit(self, limit: float, sample: Sample, memory: _Memory) -> float:
        """The limit after *sample*."""
        if sample.dropped or (self.timeout is not None and sample.rtt > self.timeout):
            return max(float(self.min_limit), math.floor(limit * self.backoff))
        if sample.in_flight * 2 >= limit:  # only grow a limit that is actually in use
            return min(float(self.max_limit), limit + 1)
        return limit


@dataclass(frozen=True, kw_only=True, slots=True)
class Vegas:
    """TCP Vegas' delay-based limit.

    The lowest round-trip time seen is the no-load time ``noload``; with ``limit`` calls in
    flight and a round trip of ``rtt``, ``queue = limit × (1 − noload / rtt)`` calls are
    waiting at the downstream. With ``log = max(1, log10(limit))``:

    * a queue under ``alpha·log`` grows the limit — doubling it until the first queue shows
      (slow start, as TCP's), by ``log`` after that;
    * a queue over ``beta·log`` sets the limit to ``limit − queue + alpha·log``: the
      capacity the sample shows, plus the small queue the limit aims to keep;
    * a drop (an error, an "overloaded" answer) multiplies it by ``backoff``;
    * in between, it holds.

    So the limit settles ``alpha·log`` to ``beta·log`` calls above the downstream's capacity:
    enough to keep it busy, few enough that latency stays near the no-load time. TCP Vegas
    uses 3 and 6 with steps of ``log`` only; the lower bounds keep the settled limit within
    25 % of a capacity as small as 8, and the jump back to the capacity estimate lets the
    limit follow a capacity drop within one round trip.

    The no-load time only falls. A downstream that became slower for good looks like a queue
    and lowers the limit; ``probe_every`` (samples per unit of limit) measures it afresh now
    and then, at the cost of one overshoot per probe (off by default).

    Attributes:
        initial, min_limit, max_limit: the start and bounds of the limit (20, 1, 1000).
        alpha, beta: the queue to keep, in units of ``log``, 0 < alpha < beta (1, 2).
        backoff: factor applied on a drop, in [0.5, 1) (0.9).
        smoothing: weight of the new estimate, in (0, 1] (1.0: no smoothing).
        probe_every: ``None`` (default) or an int >= 1.
    """

    initial: int = 20
    min_limit: int = 1
    max_limit: int = 1000
    alpha: float = 1.0
    beta: float = 2.0
    backoff: float = 0.9
    smoothing: float = 1.0
    probe_every: int | None = None

    def __post_init__(self) -> None:
        _check_bounds(self.initial, self.min_limit, self.max_limit)
        require(_is_number(self.alpha) and _is_number(self.beta) and 0 < self.alpha < self.beta,
                "alpha and beta must be numbers with 0 < alpha < beta", (self.alpha, self.beta))
        require(_is_number(self.backoff) and 0.5 <= self.backoff < 1,
                "backoff must be a number in [0.5, 1)", self.backoff)
        require(_is_number(self.smoothing) and 0 < self.smoothing <= 1,
                "smoothing must be a number in (0, 1]", self.smoothing)
        require(self.probe_every is None or (
            isinstance(self.probe_every, int) and not isinstance(self.probe_every, bool)
            and self.probe_every >= 1), "probe_every must be None or an int >= 1",
            self.probe_every)

    def next_limit(self, limit: float, sample: Sample, memory: _Memory) -> float:
        """The limit after *sample*."""
        rtt = sample.rtt
        if rtt <= 0:
            return limit
        if self.probe_every is not None:
            memory.samples_since_probe += 1
            if memory.samples_since_probe >= self.probe_every * limit:
                memory.samples_since_probe = 0
                memory.rtt_noload = rtt
                return limit
        if memory.rtt_noload <= 0:
            memory.rtt_noload = rtt
        log = max(1.0, math.log10(limit))
        if sample.dropped:
            memory.slow_start = False
            target = limit * self.backoff
        elif sample.in_flight * 2 < limit:
            return limit  # the caller does not use the limit: nothing learned about capacity
        else:
            queue = limit * (1 - min(1.0, memory.rtt_noload / rtt))
            if queue < self.alpha * log:
                # Slow start: double until the first queue shows (as TCP does), then one
                # step of log per round trip.
                target = limit * 2 if memory.slow_start else limit + log
            elif queue > self.beta * log:
                memory.slow_start = False
                target = limit - queue + self.alpha * log
            else:
                memory.slow_start = False
                return limit
        target = min(float(self.max_limit), max(float(self.min_limit), target))
        return (1 - self.smoothing) * limit + self.smoothing * target


Algorithm = AIMD | Vegas


@dataclass(frozen=True, slots=True)
class LimitChanged(Event):
    """An adaptive limit moved from *previous* to *limit* after a sample of *rtt* seconds."""

    limit: int
    previous: int
    rtt: float
    dropped: bool


@dataclass(frozen=True, slots=True)
class AdaptiveStatistics:
    """A frozen snapshot of an :class:`AdaptiveLimit`."""

    name: str
    limit: int
    samples: int
    drops: int
    rtt_noload: float
    changes: int = field(default=0)


class AdaptiveLimit:
    """A concurrency limit that follows the downstream; pass it as ``concurrency=``.

    Example::

        from streamguard.adaptive import AdaptiveLimit, Vegas

        limit = AdaptiveLimit("orders-api", Vegas(initial=16, max_limit=512))
        stream.pipe(op.map_async(post, concurrency=limit))
        limit.on_event(lambda e: print(e.limit))   # LimitChanged, typed
    """

    __slots__ = ("_algorithm", "_bus", "_changed_at", "_changes", "_clock", "_drops", "_limit",
                 "_listeners", "_memory", "_samples", "name")

    def __init__(self, name: str, algorithm: Algorithm | None = None, *,
                 clock: Clock = SYSTEM_CLOCK, bus: EventBus | None = None) -> None:
        require(isinstance(name, str) and name != "", "name must be a non-empty str", name)
        algorithm = Vegas() if algorithm is None else algorithm
        require(isinstance(algorithm, AIMD | Vegas), "algorithm must be AIMD(...) or Vegas(...)",
                algorithm)
        self.name = name
        self._algorithm = algorithm
        self._clock = clock
        self._bus = default_bus() if bus is None else bus
        self._limit = float(algorithm.initial)
        self._memory = _Memory()
        self._samples = 0
        self._drops = 0
        self._changes = 0
        self._changed_at = -math.inf
        self._listeners: tuple[Callable[[LimitChanged], Any], ...] = ()

    def __repr__(self) -> str:
        return f"AdaptiveLimit({self.name!r}, {self._algorithm!r}, limit={self.limit})"

    @property
    def limit(self) -> int:
        """The current limit: how many calls may be in flight now."""
        return max(1, int(self._limit))

    @property
    def clock(self) -> Clock:
        """The clock a stage reads to time calls."""
        return self._clock

    def record(self, rtt: float, *, in_flight: int, dropped: bool = False) -> None:
        """Feed one finished call; listeners hear of it when the whole-number limit moves.

        Samples are taken a round trip at a time, as TCP Vegas' window is: a call that
        started before the limit last moved says nothing about the new limit and is not
        counted (it only lowers the no-load time); the others are gathered until a quarter
        of the limit has finished — and at least a whole round trip's worth at small limits
        (the limit itself, up to ``MIN_WINDOW``) — and the algorithm sees their mean round
        trip: one step per round trip, on an average rather than on one or two noisy calls.
        """
        self._samples += 1
        self._drops += dropped
        now = self._clock.now()
        memory = self._memory
        if rtt > 0 and (memory.rtt_noload <= 0 or rtt < memory.rtt_noload):
            memory.rtt_noload = rtt
        if now - rtt < self._changed_at:
            return
        memory.window_rtt += rtt
        memory.window_n += 1
        memory.window_in_flight = max(memory.window_in_flight, in_flight)
        memory.window_dropped = memory.window_dropped or dropped
        if memory.window_n * 4 < self._limit or memory.window_n < min(self._limit, MIN_WINDOW):
            return
        sample = Sample(memory.window_rtt / memory.window_n, memory.window_in_flight,
                        memory.window_dropped)
        memory.window_rtt, memory.window_n = 0.0, 0
        memory.window_in_flight, memory.window_dropped = 0, False
        before = self.limit
        self._limit = self._algorithm.next_limit(self._limit, sample, memory)
        after = self.limit
        if after != before:
            self._changes += 1
            self._changed_at = now
            if self._listeners or self._bus.active:
                event = LimitChanged(source=self.name, limit=after, previous=before,
                                     rtt=sample.rtt, dropped=sample.dropped)
                for listener in self._listeners:
                    listener(event)
                self._bus.publish(event)

    def on_event(self, listener: Callable[[LimitChanged], Any]) -> Callable[[], None]:
        """Call *listener* with every :class:`LimitChanged`; return the unsubscribe function."""
        self._listeners = (*self._listeners, listener)

        def unsubscribe() -> None:
            self._listeners = tuple(x for x in self._listeners if x is not listener)

        return unsubscribe

    def statistics(self) -> AdaptiveStatistics:
        """A frozen snapshot: limit, samples, drops, the no-load rtt, changes."""
        return AdaptiveStatistics(self.name, self.limit, self._samples, self._drops,
                                  self._memory.rtt_noload, self._changes)
