"""``drain(timeout)`` is one verb: the call starts the drain (a signal handler may make it) and
returns a :class:`Draining` to await for the :class:`PipelineResult` — on a ``Pipeline`` and
on a source (a ``Publisher``); the Kafka kinds are tested beside their brokers."""

from __future__ import annotations

import asyncio
import gc
import warnings
from typing import Any

import pytest

from streamguard import Draining, Emitter, PipelineResult, Stream, StreamGuardError
from streamguard import operators as op
from streamguard.core import Publisher
from streamguard.core._protocol import ChunkSubscriber


def _nothing(x: object) -> None:
    pass


class _Idle(Publisher[int]):
    """A source that emits nothing until it is drained (the default drain completes it)."""


def _idle_source(seen: list[_Idle]) -> Stream[int]:
    def subscribe(down: ChunkSubscriber[int]) -> None:
        pub = _Idle(down, "idle")
        seen.append(pub)
        pub.start()

    return Stream(subscribe)


async def test_a_sync_call_drains_a_pipeline_at_once() -> None:
    emitter: Emitter[int] = Emitter()
    pipeline = emitter.stream().pipe(op.sink(_nothing)).start(name="sync")

    def on_signal() -> None:  # what a signal handler can do: no await
        pipeline.drain(5)

    on_signal()
    assert emitter.demand == 0
    assert not pipeline.done
    with pytest.raises(StreamGuardError, match="emitter"):  # ... and yet it was drained
        emitter.emit_nowait(1)
    result = await pipeline.wait()
    assert (result.name, result.outcome) == ("sync", "drained")


async def test_awaiting_the_handle_returns_the_result_twice_and_after_the_end() -> None:
    emitter: Emitter[int] = Emitter()
    pipeline = emitter.stream().pipe(op.sink(_nothing)).start(name="twice")
    handle = pipeline.drain(5)
    assert isinstance(handle, Draining)
    assert not handle.done
    first = await handle
    assert isinstance(first, PipelineResult)
    assert first.outcome == "drained"
    assert handle.done
    assert await handle == first  # awaiting again, after the end
    assert await pipeline.drain(5) == first  # a later drain of the ended pipeline
    assert await pipeline.drain() == first  # no timeout: the default's, same result


async def test_the_deadline_runs_without_anyone_awaiting_the_handle() -> None:
    gate = asyncio.Event()

    async def stuck(x: int) -> None:
        await gate.wait()

    emitter: Emitter[int] = Emitter()
    pipeline = emitter.stream().pipe(op.sink(stuck)).start()
    emitter.emit_nowait(1)
    await asyncio.sleep(0)
    pipeline.drain(0.01)  # never awaited: its deadline still cancels what is stuck
    result = await pipeline.wait()
    assert result.outcome == "drain_expired"


async def test_cancelling_the_awaiter_stops_the_waiting_not_the_drain() -> None:
    gate = asyncio.Event()

    async def slow(x: int) -> None:
        await gate.wait()

    emitter: Emitter[int] = Emitter()
    pipeline = emitter.stream().pipe(op.sink(slow)).start()
    emitter.emit_nowait(1)
    await asyncio.sleep(0)
    handle = pipeline.drain(30)
    waiter = asyncio.ensure_future(handle)
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert not pipeline.done  # the in-flight item is still allowed to finish
    gate.set()
    assert (await handle).outcome == "drained"


def test_a_handle_never_awaited_warns_about_nothing() -> None:
    async def main() -> None:
        emitter: Emitter[int] = Emitter()
        pipeline = emitter.stream().pipe(op.sink(_nothing)).start()
        pipeline.drain(1)  # the handle is dropped at once
        await pipeline.wait()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(main())
        gc.collect()
    assert [str(w.message) for w in caught] == []


async def test_a_sources_drain_returns_the_handle_of_its_pipeline() -> None:
    seen: list[_Idle] = []
    pipeline = _idle_source(seen).pipe(op.sink(_nothing)).start(name="fed")
    (source,) = seen
    handle = source.drain(5)  # sync: the source completes at once
    assert isinstance(handle, Draining)
    result = await handle
    assert (result.name, result.outcome) == ("fed", "drained")
    assert result == await pipeline.wait() == await source.drain(5)


async def test_a_source_read_by_iterate_hands_a_handle_for_the_iterations_end() -> None:
    seen: list[_Idle] = []
    read: list[int] = []
    async with _idle_source(seen).iterate(name="reader") as items:
        reading = asyncio.ensure_future(_read_all(items, read))
        await asyncio.sleep(0)
        handle = seen[0].drain(1)
        await reading
    result = await handle
    assert (result.name, result.items, result.outcome) == ("reader", 0, "drained")
    assert handle.done


async def _read_all(items: Any, into: list[int]) -> None:
    async for item in items:
        into.append(item)
