"""`RetryBudget`: retries may add at most a fraction of the load, as in Finagle and Envoy.

Over a sliding window of ``window`` seconds (1 s buckets), retries may not exceed
``ratio × first attempts + min_per_second × window``. When a downstream fails everything,
each call still costs one request plus at most ``ratio`` retries, so an outage cannot
multiply the load; the small floor lets a quiet client retry at all. One budget is shared by
every call of a stage (pass the same object to several :class:`~streamguard.retry.Retry`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from ..core._checks import is_int, is_number
from ..core._clock import SYSTEM_CLOCK, Clock, MonotonicClock
from ..core._errors import require


@dataclass(frozen=True, kw_only=True, slots=True)
class BudgetConfig:
    """The size of a :class:`RetryBudget`.

    Attributes:
        ratio: retries allowed per first attempt, >= 0. Default 0.2 (20 %).
        min_per_second: retries always allowed per second of window, >= 0. Default 10.
        window: seconds the budget remembers, an int >= 1. Default 10.
    """

    ratio: float = 0.2
    min_per_second: float = 10.0
    window: int = 10

    def __post_init__(self) -> None:
        require(is_number(self.ratio) and math.isfinite(self.ratio) and self.ratio >= 0,
                "ratio must be a number >= 0", self.ratio)
        require(is_number(self.min_per_second) and math.isfinite(self.min_per_second)
                and self.min_per_second >= 0,
                "min_per_second must be a number >= 0", self.min_per_second)
        require(is_int(self.window) and self.window >= 1,
                "window must be an int >= 1 (seconds)", self.window)


@dataclass(frozen=True, slots=True)
class BudgetStatistics:
    """A snapshot of a :class:`RetryBudget` over its window.

    Attributes:
        calls: first attempts in the window.
        retries: retries spent in the window.
        available: retries that may still be spent now.
        exhausted: retries refused since the budget was made.
    """

    calls: int
    retries: int
    available: float
    exhausted: int


class RetryBudget:
    """A shared allowance of retries.

    Its verbs follow the README's conventions: :meth:`try_acquire` is synchronous and returns
    ``False`` on refusal; it has no ``acquire`` (waiting for retry budget would defeat it)
    and holds nothing to ``aclose``.

    Example::

        budget = RetryBudget(BudgetConfig(ratio=0.1))
        orders = Retry("orders", budget=budget)
        refunds = Retry("refunds", budget=budget)
    """

    __slots__ = ("_buckets", "_clock", "_current", "_epoch", "_next", "_now", "calls", "config",
                 "exhausted", "retries")

    def __init__(self, config: BudgetConfig | None = None, *, clock: Clock | None = None) -> None:
        require(config is None or isinstance(config, BudgetConfig),
                "config must be a BudgetConfig or None", config)
        self.config = config if config is not None else BudgetConfig()
        self._clock: Clock = clock if clock is not None else SYSTEM_CLOCK
        # Every call reads the time: for the loop's clock, time.monotonic() is that time
        # without looking the loop up (half the cost of counting a call).
        self._now = time.monotonic if type(self._clock) is MonotonicClock else self._clock.now
        # one [first attempts, retries] pair per second of the window
        self._buckets = [[0, 0] for _ in range(self.config.window)]
        self._epoch: int | None = None
        self._current = self._buckets[0]
        self._next = -math.inf  # when the current bucket's second ends
        self.calls = 0
        self.retries = 0
        self.exhausted = 0

    def _bucket(self) -> list[int]:
        """The bucket of the current second (the same one until that second is over)."""
        now = self._now()
        if now >= self._next:
            self._roll(math.floor(now))
        return self._current

    def _roll(self, second: int) -> None:
        size = self.config.window
        epoch = self._epoch
        if epoch is None or second - epoch >= size:
            for bucket in self._buckets:
                bucket[0] = bucket[1] = 0
            self.calls = self.retries = 0
        else:
            for s in range(epoch + 1, second + 1):
                old = self._buckets[s % size]
                self.calls -= old[0]
                self.retries -= old[1]
                old[0] = old[1] = 0
            second = max(second, epoch)
        self._epoch = second
        self._next = second + 1
        self._current = self._buckets[second % size]

    def record_call(self) -> None:
        """Count one first attempt (it earns ``ratio`` retries)."""
        if self._now() >= self._next:
            self._roll(math.floor(self._now()))
        self._current[0] += 1
        self.calls += 1

    def available(self) -> float:
        """Retries that may be spent now."""
        self._bucket()
        return self._allowance()

    def _allowance(self) -> float:
        c = self.config
        return c.ratio * self.calls + c.min_per_second * c.window - self.retries

    def try_acquire(self) -> bool:
        """Take one retry from the budget if it allows it (True); False, counted as
        exhausted, if not. Never waits: a retry that must wait for budget is a retry storm."""
        bucket = self._bucket()
        if self._allowance() < 1:
            self.exhausted += 1
            return False
        bucket[1] += 1
        self.retries += 1
        return True

    def statistics(self) -> BudgetStatistics:
        """Return a frozen snapshot."""
        available = self.available()
        return BudgetStatistics(self.calls, self.retries, available, self.exhausted)
