"""The per-call timeout of the guarded sink: every call in flight on one timer (#11).

``asyncio.timeout`` schedules and cancels a timer handle per call; a guarded sink makes tens
of thousands of calls a second, nearly all of which end long before their timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from ..breaker._breaker import start_timer
from ..core._clock import Clock, MonotonicClock


class _Deadline:
    __slots__ = ("cancelling", "done", "expired", "task", "when")

    def __init__(self, task: asyncio.Task[Any], when: float) -> None:
        self.task = task
        self.when = when
        self.cancelling = task.cancelling()
        self.done = False
        self.expired = False


class Deadlines:
    """The per-call timeout of every call in flight, on one timer.

    Every call has the same timeout, so deadlines come in start order: one timer, armed for
    the oldest call still running, serves them all. A call that ends in time costs a list
    entry, not a timer (``asyncio.timeout`` schedules and cancels one per call). An overdue
    call's task is cancelled and the cancellation turned into :class:`TimeoutError`, as
    ``asyncio.timeout`` does it.
    """

    __slots__ = ("_calls", "_clock", "_now", "_timer", "seconds")

    def __init__(self, clock: Clock, seconds: float) -> None:
        self._clock = clock
        # The loop's clock is time.monotonic(); reading it directly skips the loop lookup.
        self._now = time.monotonic if type(clock) is MonotonicClock else clock.now
        self.seconds = seconds
        self._calls: deque[_Deadline] = deque()
        self._timer: Any = None

    def start(self) -> _Deadline:
        task = asyncio.current_task()
        assert task is not None
        entry = _Deadline(task, self._now() + self.seconds)
        self._calls.append(entry)
        if self._timer is None:
            self._timer = start_timer(self._clock, self.seconds, self._fire)
        return entry

    def finish(self, entry: _Deadline) -> None:
        entry.done = True
        calls = self._calls
        while calls and calls[0].done:
            calls.popleft()
        if entry.expired and entry.task.cancelling() > entry.cancelling:
            entry.task.uncancel()  # the call swallowed our cancellation: take it back

    def expired(self, entry: _Deadline) -> bool:
        """Whether *entry*'s cancellation was ours (then it is taken back)."""
        if not entry.expired:
            return False
        entry.expired = False  # taken back here: finish() must not take it again
        return entry.task.uncancel() <= entry.cancelling

    def _fire(self) -> None:
        self._timer = None
        now = self._now()
        calls = self._calls
        while calls and (calls[0].done or calls[0].when <= now):
            entry = calls.popleft()
            if not entry.done:
                entry.done = True
                entry.expired = True
                entry.task.cancel()
        if calls:
            self._timer = start_timer(self._clock, calls[0].when - now, self._fire)
