"""Every fan-in, fan-out, nesting and recovery operator as a publisher of the items 0..99
(in some order), for the Reactive Streams rule tests and the property tests. Written as a
registry so it can move to the shared tests/contracts registry as it is."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streamguard import from_iterable
from streamguard import operators as op
from streamguard.core import Stream
from streamguard.retry import Retry, RetryConfig


class InstantClock:
    """A clock whose waits take one loop turn (the rule tests drive the loop by turns)."""

    def now(self) -> float:
        return 0.0

    async def sleep(self, delay: float) -> None:
        import asyncio
        await asyncio.sleep(0)


def _fail_at(limit: int) -> Callable[[int], int]:
    def fn(x: int) -> int:
        if x >= limit:
            raise ConnectionError(f"feed dropped at {x}")
        return x
    return fn


def _flaky_source(fail_first: int) -> Stream[int]:
    """Fails its first *fail_first* subscriptions before any item, then emits 0..99."""
    calls = {"n": 0}

    def items() -> Any:
        calls["n"] += 1
        if calls["n"] <= fail_first:
            raise ConnectionError("not yet")
        return iter(range(100))

    class Fresh:
        def __iter__(self) -> Any:
            return items()

    return from_iterable(Fresh())


def _retry() -> Stream[int]:
    policy = Retry("feed", RetryConfig(attempts=3, backoff="exponential", base_delay=0.01),
                   clock=InstantClock())
    return _flaky_source(2).pipe(op.retry(policy))


def _mod(k: int) -> Callable[[int], int]:
    return lambda x: x % k


def _plus(k: int) -> Callable[[int], int]:
    return lambda x: x + k


def _first(t: tuple[Any, ...]) -> Any:
    return t[0]


def _block(x: int) -> Stream[int]:
    return from_iterable(range(x * 10, x * 10 + 10))


def _same(s: Stream[int]) -> Stream[int]:
    return s


PUBLISHERS: dict[str, Callable[[], Stream[Any]]] = {
    "merge": lambda: op.merge(from_iterable(range(0, 100, 2)), from_iterable(range(1, 100, 2)),
                              prefetch=8),
    "concat": lambda: op.concat(from_iterable(range(50)), from_iterable(range(50, 100))),
    "zip": lambda: op.zip(from_iterable(range(100)), from_iterable(range(200))).pipe(
        op.map(_first)),
    "flat_map": lambda: from_iterable(range(10)).pipe(
        op.flat_map(_block, concurrency=3, prefetch=4)),
    "concat_map": lambda: from_iterable(range(10)).pipe(
        op.concat_map(_block)),
    "broadcast": lambda: from_iterable(range(50)).pipe(
        op.broadcast(_same, lambda s: s.pipe(op.map(_plus(50))))),
    "broadcast_buffered": lambda: from_iterable(range(50)).pipe(
        op.broadcast(_same, lambda s: s.pipe(op.map(_plus(50))), buffer=4)),
    "partition": lambda: from_iterable(range(100)).pipe(
        op.partition(_mod(3), _same, _same, _same)),
    "group_by": lambda: from_iterable(range(100)).pipe(
        op.group_by(_mod(4), buffer=16), op.flat_map(_same, concurrency=4)),
    "on_error_resume": lambda: from_iterable(range(60)).pipe(
        op.map(_fail_at(50)), op.on_error_resume(lambda e: from_iterable(range(50, 100)))),
    "retry": _retry,
}
