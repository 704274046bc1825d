"""Contract cases of the core: every source and every operator of streamguard.operators."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import reactivex

from streamguard import (
    Emitter,
    StreamClosedError,
    from_async_iterable,
    from_iterable,
    from_observable,
)
from streamguard import operators as op
from streamguard.core import Stream

from .registry import AckFactory, simple_source, source, stage


# ---------------------------------------------------------------- sources
def _iterable(n: int, ack: AckFactory | None) -> Stream[int]:
    return from_iterable(range(n), ack=ack, chunk_size=7)


def _async_iterable(n: int, ack: AckFactory | None) -> Stream[int]:
    async def numbers() -> AsyncIterator[int]:
        for i in range(n):
            yield i

    return from_async_iterable(numbers, ack=ack)


@contextlib.asynccontextmanager
async def _emitter(n: int, ack: AckFactory | None) -> AsyncIterator[Stream[int]]:
    emitter: Emitter[int] = Emitter(name="contract")
    stream = emitter.stream()

    async def feed() -> None:
        for i in range(n):
            try:
                # An item the emitter never hands on has its ack abandoned by emit() itself.
                await emitter.emit(i, None if ack is None else ack(i))
            except StreamClosedError:
                return
        emitter.complete()

    def subscribe(down: Any) -> None:
        stream._subscribe_chunked(down)
        tasks.append(asyncio.ensure_future(feed()))

    tasks: list[asyncio.Future[None]] = []
    try:
        yield Stream(subscribe)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _observable(n: int, ack: AckFactory | None) -> Stream[int]:
    return from_observable(reactivex.from_iterable(range(n)), capacity=max(n, 1),
                           overflow="error")


source("from_iterable", simple_source(_iterable))
source("from_async_iterable", simple_source(_async_iterable))
source("Emitter", _emitter)
source("from_observable", simple_source(_observable), acks=False)


# ---------------------------------------------------------------- stages
async def _echo(x: int) -> int:
    await asyncio.sleep(0)
    return x


async def _slow_echo(x: int) -> int:
    for _ in range(x % 4):
        await asyncio.sleep(0)
    return x


def _identity(x: int) -> int:
    return x


def _odd(x: int) -> bool:
    return x % 2 == 1


def _always(x: int) -> bool:
    return True


async def _consume(x: int) -> None:
    await asyncio.sleep(0)


def _batched(items: list[int]) -> list[Any]:
    return [items[i:i + 3] for i in range(0, len(items), 3)]


stage("map", lambda: op.map(_identity), random=True)
stage("filter", lambda: op.filter(_odd), expect=lambda xs: [x for x in xs if x % 2 == 1],
      random=True)
stage("map_async", lambda: op.map_async(_slow_echo, concurrency=4), random=True)
stage("map_async_unordered", lambda: op.map_async(_slow_echo, concurrency=4, ordered=False),
      ordered=False, random=True)
stage("map_async_c1", lambda: op.map_async(_echo), random=True)
stage("buffer", lambda: op.buffer(8), random=True)
stage("prefetch", lambda: op.prefetch(16), random=True)
stage("batch", lambda: op.batch(3), expect=_batched)
stage("take_while", lambda: op.take_while(_always), random=True)
stage("take", lambda: op.take(1_000_000), random=True)
stage("sink", lambda: op.sink(_identity), sink=True)
stage("async_sink", lambda: op.sink(_consume, concurrency=4), sink=True)
