"""Pipelines for the CLI tests to run with ``streamguard run tests/cli/targets.py:NAME``."""

from __future__ import annotations

import asyncio
import sys

from streamguard import Stream, from_iterable
from streamguard import operators as op
from streamguard.core import StreamClosedError
from streamguard.sources import Emitter


def _not_five(x: int) -> bool:
    return x % 5 != 0


def _fail_on_13(x: int) -> int:
    if x == 13:
        raise ValueError("order 13 is cursed")
    return x


async def main() -> None:
    """Ten items through a map and a sink."""
    await from_iterable(range(10)).pipe(op.map(str, name="fmt"), op.sink(print)).run(
        name="targets")


def stream() -> Stream[int]:
    """A function returning a Stream: the CLI runs it."""
    return from_iterable(range(25)).pipe(op.filter(_not_five, name="no-fives"))


STREAM = from_iterable(range(3)).pipe(op.map(str, name="fmt"))
NOT_RUNNABLE = 42


async def fails() -> None:
    """A pipeline that fails on its 14th item."""
    await from_iterable(range(100)).pipe(op.map(_fail_on_13, name="parse")).run(name="fails")


def returns_a_list() -> list[int]:
    """Runs nothing: returns items instead of a Stream."""
    return [1, 2, 3]


def forgets_return() -> None:
    """Builds a pipeline and forgets to return it."""
    from_iterable(range(3)).pipe(op.map(str, name="lost"))


async def forgets_await() -> None:
    """Calls run() without await: the pipeline never runs."""
    from_iterable(range(3)).pipe(op.map(str, name="lost")).run(  # type: ignore[unused-coroutine]
        name="never")


async def returns_a_coroutine() -> object:
    """Returns run()'s coroutine instead of awaiting it."""
    return from_iterable(range(3)).pipe(op.map(str, name="lost")).run(name="never")


def needs_orders(orders: int) -> Stream[int]:
    """Has a parameter that the command line cannot fill."""
    return from_iterable(range(orders))


async def with_bootstrap(bootstrap: str) -> None:
    """Receives --bootstrap."""
    await from_iterable([bootstrap]).pipe(op.sink(lambda b: print(f"bootstrap={b}"))).run()


async def async_forgets_return() -> None:
    """Builds a pipeline in an async function and neither runs nor returns it."""
    from_iterable(range(3)).pipe(op.map(str, name="lost"))


async def forever() -> None:
    """Emits until drained or cancelled; says when it started and when its cleanup ran."""
    emitter = Emitter[int]()
    task = asyncio.create_task(emitter.stream().pipe(
        op.buffer(64, name="buf"),
        op.map_async(_slowly, concurrency=4, name="work"),
        op.sink(lambda _: None, name="store"),
    ).run(name="forever"))
    print("started", flush=True)
    try:
        n = 0
        while True:
            await emitter.emit(n)
            n += 1
    except StreamClosedError:
        await task  # a drain closed the emitter: what it took finishes
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        print("cleanup done", file=sys.stderr, flush=True)


async def _slowly(x: int) -> int:
    await asyncio.sleep(0.001)
    return x


async def _charge(order: int) -> None:
    if order % 5 == 0:
        raise ValueError(f"order {order} has no card number")


async def _park(order: int, error: BaseException) -> None:
    print(f"parked {order}: {error}", flush=True)


def dead_letters() -> Stream[int]:
    """20 orders through a guarded sink; every fifth is refused and dead-lettered."""
    from streamguard.guard import guarded_sink

    return from_iterable(range(20)).pipe(guarded_sink(_charge, dead_letter=_park,
                                                      name="charge"))


async def own_bus() -> None:
    """Runs its pipeline on a bus of its own; the command watches it all the same."""
    from streamguard import EventBus
    from streamguard.guard import guarded_sink

    await from_iterable(range(20)).pipe(
        guarded_sink(_charge, dead_letter=_park, name="charge")).run(name="mine",
                                                                     bus=EventBus())


def _handled(*_item_and_error: object) -> None:
    """An error handler that takes care of the item (as ``KafkaSource.dead_letter`` does)."""


def sink_on_error() -> Stream[int]:
    """100 orders into an async sink that fails every tenth, handled by on_error."""

    async def store(order: int) -> None:
        if order % 10 == 0:
            raise ValueError(f"order {order} is rejected by the store")

    return from_iterable(range(100)).pipe(op.sink(store, concurrency=4, on_error=_handled,
                                                  name="store"))


_STARTED: list[int] = []


async def _work(order: int, seconds: float, *, say: bool = True) -> int:
    _STARTED.append(order)
    if say:
        print(f"start {order}", flush=True)
    await asyncio.sleep(seconds)
    return order


async def draining(seconds: float = 0.2, *, say: bool = True) -> None:
    """Endless orders, each taking *seconds* of async work; once the run ends (drained or
    cancelled), says how the source's acks settled."""
    import itertools

    from streamguard.testing import AckRecorder

    async def work(order: int) -> int:
        return await _work(order, seconds, say=say)

    acks = AckRecorder()
    try:
        await from_iterable(itertools.count(), ack=acks.ack).pipe(
            op.map_async(work, concurrency=4, name="work"),
            op.sink(lambda _: None, name="store"),
        ).run(name="draining")
    finally:
        print(f"acks issued={acks.issued} done={sum(acks.done.values())} "
              f"abandoned={sum(acks.abandoned.values())} unsettled={len(acks.unsettled())} "
              f"started={len(_STARTED)}", flush=True)


async def quietly_draining() -> None:
    """As :func:`draining`, saying only that it is ready and how the acks settled (what each
    process of ``--workers`` runs in the tests)."""
    import os

    print(f"ready: worker {os.environ.get('STREAMGUARD_WORKER_INDEX')} of "
          f"{os.environ.get('STREAMGUARD_WORKERS')}, pid {os.getpid()}", flush=True)
    await draining(0.05, say=False)


async def quietly_draining_slowly() -> None:
    """As :func:`quietly_draining`, with work that takes 20 s an item."""
    import os

    print(f"ready: pid {os.getpid()}", flush=True)
    await draining(20.0, say=False)


async def stuck() -> None:
    """Says it is ready, then blocks its event loop for a minute: no signal handler runs."""
    import os
    import time

    print(f"ready: pid {os.getpid()}", flush=True)
    await from_iterable(range(1)).pipe(op.sink(lambda _: time.sleep(60), name="stuck")).run()


async def draining_slowly() -> None:
    """As :func:`draining`, with work that takes 20 s an item."""
    await draining(20.0)


async def _work_briefly(order: int) -> int:
    return await _work(order, 0.2)


def slow_stream() -> Stream[int]:
    """A Stream the command runs itself: endless orders, 0.2 s of async work each."""
    import itertools

    return from_iterable(itertools.count()).pipe(
        op.map_async(_work_briefly, concurrency=4, name="work"),
        op.sink(lambda _: None, name="store"))


def kafka_orders(bootstrap: str) -> Stream[object]:
    """A Kafka source (2 s to reach the broker) into a sink."""
    from streamguard.kafka import KafkaSource, KafkaSourceConfig

    source: KafkaSource[bytes] = KafkaSource(KafkaSourceConfig(
        bootstrap_servers=bootstrap, topics=("orders",), group_id="cli-tests",
        connect_timeout=2.0), name="orders")
    return source.stream().pipe(op.sink(lambda _: None, name="store"))
