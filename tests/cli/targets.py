"""Pipelines for the CLI tests to run with ``streamguard run tests/cli/targets.py:NAME``."""

from __future__ import annotations

import asyncio
import sys

from streamguard import Stream, from_iterable
from streamguard import operators as op
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


async def with_bootstrap(bootstrap: str) -> None:
    """Receives --bootstrap."""
    print(f"bootstrap={bootstrap}", flush=True)


async def forever() -> None:
    """Emits until cancelled; says when it started and when its cleanup ran."""
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
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        print("cleanup done", file=sys.stderr, flush=True)


async def _slowly(x: int) -> int:
    await asyncio.sleep(0.001)
    return x
