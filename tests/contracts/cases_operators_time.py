"""Contract cases of the state, processing-time and event-time operators and the ``interval``
source (#12). The contract tests run on the event loop's own clock: the time operators are
registered with periods far longer than a test, so their output is fixed by the end of the
input (windows close, ``debounce``/``sample`` emit the last item), and their timers must be
cancelled on every ending. Virtual-time behaviour is tested in ``tests/operators_time``."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

from streamguard import operators as op
from streamguard.core import Stream

from .registry import AckFactory, simple_source, source, stage

LONG = 3600.0  # seconds: no timer fires during a contract test


def _keep(acc: int, x: int) -> int:
    return x


def _add(acc: int, x: int) -> int:
    return acc + x


def _ts(x: int) -> float:
    return float(x)


def _items(w: op.EventWindow[Any, int]) -> list[int]:
    return w.items


def _running(items: list[int]) -> list[Any]:
    out, total = [], 0
    for x in items:
        total += x
        out.append(total)
    return out


def _chunks(k: int) -> Any:
    return lambda items: [items[i:i + k] for i in range(0, len(items), k)]


def _sliding(items: list[int]) -> list[Any]:  # count=5, step=2, Akka's tail rule
    out = [items[i:i + 5] for i in range(0, len(items) - 4, 2)]
    covered = (len(out) - 1) * 2 + 5 if out else 0
    if len(items) > covered:
        out.append(items[len(out) * 2:] if out else items)
    return out


def _whole(items: list[int]) -> list[Any]:
    return [items] if items else []


def _last(items: list[int]) -> list[Any]:
    return items[-1:]


def _first(items: list[int]) -> list[Any]:
    return items[:1]


def _pairs(items: list[int]) -> list[Any]:
    return list(itertools.pairwise(items))


stage("scan", lambda: op.scan(_keep, 0), random=True)
stage("scan_sum", lambda: op.scan(_add, 0), expect=_running)
stage("reduce", lambda: op.reduce(_add, 0), expect=lambda items: [sum(items)])
stage("distinct", lambda: op.distinct(capacity=8), random=True)
stage("pairwise", lambda: op.pairwise(), expect=_pairs)
stage("window_count", lambda: op.window(count=5), expect=_chunks(5))
stage("window_sliding_count", lambda: op.window(count=5, step=2), expect=_sliding)
stage("window_duration", lambda: op.window(7, duration=LONG), expect=_chunks(7))
stage("window_sliding_time", lambda: op.window(duration=LONG, every=LONG / 2),
      expect=_whole)
stage("debounce", lambda: op.debounce(LONG), expect=_last)
stage("sample", lambda: op.sample(LONG), expect=_last)
stage("throttle_first", lambda: op.throttle_first(LONG), expect=_first)
stage("timeout", lambda: op.timeout(LONG), random=True)
stage("timeout_idle", lambda: op.timeout(LONG, per="idle"), random=True)
stage("delay", lambda: op.delay(0.0001, capacity=8))
stage("tumbling_window", lambda: lambda s: s.pipe(
    op.tumbling_window(5, timestamp=_ts, max_items=16), op.map(_items)), expect=_chunks(5))
stage("hopping_window", lambda: lambda s: s.pipe(
    op.hopping_window(10, 5, timestamp=_ts, lateness=2, max_items=64), op.map(_items)),
    expect=lambda items: [items[max(0, s):s + 10] for s in range(-5, len(items), 5)
                          if items[max(0, s):s + 10]])
stage("session_window", lambda: lambda s: s.pipe(
    op.session_window(1.5, timestamp=_ts, delay=1), op.map(_items)), expect=_whole)


def _count(seen: int, _tick: int) -> int:
    return seen + 1


class _EagerClock:
    """Time that runs as fast as the loop turns: a timer fires on the next turn and moves
    the clock to its deadline (the contract tests count loop turns, not seconds)."""

    def __init__(self) -> None:
        self._now = 0.0

    def now(self) -> float:
        return self._now

    async def sleep(self, delay: float) -> None:
        self._now += max(0.0, delay)
        await asyncio.sleep(0)

    def call_later(self, delay: float, callback: Callable[[], None]) -> asyncio.Handle:
        when = self._now + max(0.0, delay)

        def fire() -> None:
            self._now = max(self._now, when)
            callback()

        return asyncio.get_running_loop().call_soon(fire)


def _interval(n: int, ack: AckFactory | None) -> Stream[int]:
    # A tick that finds no demand is skipped (counted), so its numbers have gaps; counting
    # the ticks that were emitted gives the 0 .. n-1 the contract expects.
    return op.interval(1.0, clock=_EagerClock()).pipe(op.scan(_count, -1), op.take(n))


source("interval", simple_source(_interval), acks=False)
