"""The per-call timeout of the guarded sink: every call in flight on one timer (#11).

``asyncio.timeout`` schedules and cancels a timer handle per call; a guarded sink makes tens
of thousands of calls a second, nearly all of which end long before their timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from ..breaker._timers import start_timer
from ..core._clock import Clock, MonotonicClock

# A call's entry is a list, not an object: one is made per call, and a list is made without
# running an __init__. Fields: its task, its deadline, the task's cancel count at the start
# (a cancel from outside is never taken for a timeout), whether it ended, whether we
# cancelled it.
Entry = list[Any]
_TASK, _WHEN, _CANCELLING, _DONE, _EXPIRED = range(5)


class Deadlines:
    """The per-call timeout of every call in flight, on one timer.

    Every call has the same timeout, so deadlines come in start order: one timer, armed for
    the oldest call still running, serves them all. A call that ends in time costs a list
    entry, not a timer (``asyncio.timeout`` schedules and cancels one per call). An overdue
    call's task is cancelled and the cancellation turned into :class:`TimeoutError`, as
    ``asyncio.timeout`` does it::

        entry = deadlines.start()
        try:
            result = await call()
        except BaseException as exc:
            error = deadlines.end(entry, exc)  # TimeoutError if the cancellation was ours
            ...
        deadlines.end(entry, None)
    """

    __slots__ = ("_calls", "_clock", "_now", "_timer", "seconds")

    def __init__(self, clock: Clock, seconds: float) -> None:
        self._clock = clock
        # The loop's clock is time.monotonic(); reading it directly skips the loop lookup.
        self._now = time.monotonic if type(clock) is MonotonicClock else clock.now
        self.seconds = seconds
        self._calls: deque[Entry] = deque()
        self._timer: Any = None

    def start(self) -> Entry:
        """Start the deadline of a call made by the current task."""
        task = asyncio.current_task()
        assert task is not None
        entry = [task, self._now() + self.seconds, task.cancelling(), False, False]
        self._calls.append(entry)
        if self._timer is None:
            self._timer = start_timer(self._clock, self.seconds, self._fire)
        return entry

    def end(self, entry: Entry, error: BaseException | None) -> BaseException | None:
        """The call of *entry* ended, raising *error* (``None``: it returned). Return the
        error to report: a :class:`TimeoutError` for a cancellation that was ours (taken
        back), otherwise *error*."""
        entry[_DONE] = True
        calls = self._calls
        while calls and calls[0][_DONE]:
            calls.popleft()
        if not entry[_EXPIRED]:
            return error
        task = entry[_TASK]
        if isinstance(error, asyncio.CancelledError):
            if task.uncancel() <= entry[_CANCELLING]:
                return TimeoutError(f"call took longer than timeout={self.seconds:g} s")
            return error  # cancelled from outside too: that cancellation stands
        if task.cancelling() > entry[_CANCELLING]:
            task.uncancel()  # the call swallowed our cancellation: take it back
        return error

    def _fire(self) -> None:
        self._timer = None
        now = self._now()
        calls = self._calls
        while calls and (calls[0][_DONE] or calls[0][_WHEN] <= now):
            entry = calls.popleft()
            if not entry[_DONE]:
                entry[_DONE] = True
                entry[_EXPIRED] = True
                entry[_TASK].cancel()
        if calls:
            self._timer = start_timer(self._clock, calls[0][_WHEN] - now, self._fire)
