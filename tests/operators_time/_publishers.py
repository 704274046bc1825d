"""Every operator of this package as a finite publisher, for the rule, ack and memory tests.

Each entry builds a fresh stream from a source of ``n`` items (with acks from *ack*) and a
VirtualClock, which the tests advance: time-driven operators then finish without sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streamguard import from_iterable
from streamguard import operators as op
from streamguard.core import Ack, Operator, Stream
from streamguard.testing import VirtualClock

AckFactory = Callable[[Any], Ack] | None
Build = Callable[[int, AckFactory, VirtualClock], Stream[Any]]


def _src(n: int, ack: AckFactory) -> Stream[int]:
    return from_iterable(range(n), ack=ack, chunk_size=7)


def _ts(x: int) -> float:
    return float(x)


def _key(x: int) -> int:
    return x % 3


def _half(x: int) -> int:
    return x // 2


def _add(a: int, x: int) -> int:
    return a + x


Stages = Callable[[VirtualClock], "list[Operator[Any, Any]]"]

STAGES: dict[str, Stages] = {
    "scan": lambda c: [op.scan(_add, 0)],
    "reduce": lambda c: [op.reduce(_add, 0)],
    "distinct": lambda c: [op.distinct(_half, capacity=4)],
    "pairwise": lambda c: [op.pairwise()],
    "window_count": lambda c: [op.window(count=5)],
    "window_sliding_count": lambda c: [op.window(count=5, step=2)],
    "window_duration": lambda c: [op.delay(0.01, capacity=4, clock=c),
                                  op.window(3, duration=0.05, clock=c)],
    "window_sliding_time": lambda c: [
        op.delay(0.01, capacity=4, clock=c),
        op.window(duration=0.1, every=0.05, max_items=8, clock=c)],
    "debounce": lambda c: [op.delay(0.01, capacity=2, clock=c), op.debounce(0.015, clock=c)],
    "throttle_first": lambda c: [op.delay(0.01, capacity=3, clock=c),
                                 op.throttle_first(0.02, clock=c)],
    "sample": lambda c: [op.delay(0.01, capacity=3, clock=c), op.sample(0.02, clock=c)],
    "timeout": lambda c: [op.timeout(1.0, clock=c)],
    "delay": lambda c: [op.delay(0.02, capacity=5, clock=c)],
    "tumbling_window": lambda c: [op.tumbling_window(4, timestamp=_ts, key=_key, max_items=16)],
    "hopping_window": lambda c: [
        op.hopping_window(4, 2, timestamp=_ts, key=_key, lateness=3, max_items=16)],
    "session_window": lambda c: [
        op.session_window(2, timestamp=_ts, key=_key, delay=1, max_items=16)],
}
"""Every operator of this package (time-driven ones behind a ``delay``, so time matters),
as the stages to put after a source of integers; follow them with ``op.map(as_int)``."""


def as_int(x: Any) -> int:
    """Outputs back to integers, so any operator can follow any other."""
    if isinstance(x, int):
        return x
    if isinstance(x, op.EventWindow):
        return len(x.items)
    if isinstance(x, tuple):
        return int(x[1])
    return len(x)


def _publisher(stages: Stages) -> Build:
    return lambda n, ack, c: _src(n, ack).pipe(*stages(c), op.map(as_int))


OPERATORS: dict[str, Build] = {name: _publisher(stages) for name, stages in STAGES.items()}
"""Each operator fed by a source of ``n`` integers; each completes once its input is consumed."""


def interval_source(n: int, clock: VirtualClock) -> Stream[int]:
    """The ``interval`` source, ended after *n* ticks."""
    return op.interval(0.01, clock=clock).pipe(op.take(n))
