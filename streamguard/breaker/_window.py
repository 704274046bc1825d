"""Sliding windows of call outcomes: the last N calls, or the last N seconds in 1 s buckets.

An outcome is a small int of two bits, so the windows add them up with plain arithmetic:
``FAILED`` (bit 0) and ``SLOW`` (bit 1); ``OK`` is 0. A window answers one question: over the
calls it holds, how many were there, how many failed, how many were slow.
"""

from __future__ import annotations

import math

OK = 0
FAILED = 1
SLOW = 2


class CountWindow:
    """The outcomes of the last *size* calls, in a ring."""

    __slots__ = ("_i", "_ring", "calls", "failures", "size", "slow")

    def __init__(self, size: int) -> None:
        self.size = size
        self._ring = [OK] * size
        self._i = 0
        self.calls = 0
        self.failures = 0
        self.slow = 0

    def record(self, outcome: int, now: float) -> None:
        """Add one outcome, evicting the oldest once the ring is full (*now* is unused)."""
        i = self._i
        if self.calls == self.size:
            old = self._ring[i]
            self.failures -= old & FAILED
            self.slow -= (old & SLOW) >> 1
        else:
            self.calls += 1
        self._ring[i] = outcome
        self.failures += outcome & FAILED
        self.slow += (outcome & SLOW) >> 1
        self._i = i + 1 if i + 1 < self.size else 0

    def totals(self, now: float) -> tuple[int, int, int]:
        """Return ``(calls, failures, slow)`` over the window."""
        return self.calls, self.failures, self.slow

    @property
    def clean(self) -> bool:
        """Full, without a failure or slow call: recording ``OK`` would change nothing."""
        return self.calls == self.size and not self.failures and not self.slow

    def reset(self) -> None:
        """Forget every outcome."""
        self._ring = [OK] * self.size
        self._i = 0
        self.calls = self.failures = self.slow = 0


class TimeWindow:
    """The outcomes of the last *seconds* seconds, in one bucket per whole second.

    The bucket of a call is ``floor(now)``; buckets older than ``seconds`` are subtracted from
    the totals as time moves on, however long the window sat idle.
    """

    __slots__ = ("_buckets", "_epoch", "calls", "failures", "seconds", "slow")

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        # one [calls, failures, slow] triple per second of the window
        self._buckets = [[0, 0, 0] for _ in range(seconds)]
        self._epoch: int | None = None  # the newest second a bucket was opened for
        self.calls = 0
        self.failures = 0
        self.slow = 0

    def _advance(self, now: float) -> list[int]:
        second = math.floor(now)
        epoch = self._epoch
        if epoch is None or second - epoch >= self.seconds:
            self.reset()
        elif second > epoch:
            for s in range(epoch + 1, second + 1):
                self._expire(self._buckets[s % self.seconds])
        elif second < epoch:
            # A clock never goes backwards; a late timestamp lands in the newest bucket.
            second = epoch
        self._epoch = second
        return self._buckets[second % self.seconds]

    def _expire(self, bucket: list[int]) -> None:
        self.calls -= bucket[0]
        self.failures -= bucket[1]
        self.slow -= bucket[2]
        bucket[0] = bucket[1] = bucket[2] = 0

    def record(self, outcome: int, now: float) -> None:
        """Add one outcome at time *now*."""
        bucket = self._advance(now)
        failed = outcome & FAILED
        slow = (outcome & SLOW) >> 1
        bucket[0] += 1
        bucket[1] += failed
        bucket[2] += slow
        self.calls += 1
        self.failures += failed
        self.slow += slow

    def totals(self, now: float) -> tuple[int, int, int]:
        """Return ``(calls, failures, slow)`` over the seconds that end at *now*."""
        self._advance(now)
        return self.calls, self.failures, self.slow

    @property
    def clean(self) -> bool:
        """Always False: even an ``OK`` must be counted in the current second's bucket."""
        return False

    def reset(self) -> None:
        """Forget every outcome."""
        for bucket in self._buckets:
            bucket[0] = bucket[1] = bucket[2] = 0
        self._epoch = None
        self.calls = self.failures = self.slow = 0


Window = CountWindow | TimeWindow
