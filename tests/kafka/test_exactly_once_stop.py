"""The exactly-once pipeline while it stops, with a rebalance under way: what happens when two
workers of one group drain at the same moment (the first to leave hands its partitions to the
other, which is flushing or closing).

Found under load by ``test_a_second_worker_takes_partitions_over_without_duplicates``: the
worker still closing was given every partition, started a transactional producer for each and
never closed them (their connections were reported unclosed in a later test). The tests drive
the pipeline's own rebalance callbacks with the stand-in consumer and writer of
:mod:`.test_exactly_once_pause`, so they run without a broker.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import streamguard.kafka._transactional as transactional
from streamguard.kafka import TransactionalPipeline
from streamguard.kafka._types import TopicPartition

from .test_exactly_once_pause import A, B, PollingConsumer, pipeline_of, records, settle


class Producer:
    """Stands for a partition's transactional producer: only whether it was stopped."""

    def __init__(self, transactional_id: str | None) -> None:
        self.transactional_id = transactional_id
        self.stopped = False

    async def stop(self) -> None:
        self.stopped = True


def fake_producers(monkeypatch: pytest.MonkeyPatch, gate: asyncio.Event | None = None
                   ) -> list[Producer]:
    """Every producer the pipeline starts from now on (each start waits for *gate*)."""
    started: list[Producer] = []

    async def start(cfg: Any, transactional_id: str | None, what: str) -> Producer:
        if gate is not None:
            await gate.wait()
        started.append(Producer(transactional_id))
        return started[-1]

    monkeypatch.setattr(transactional, "start_producer", start)
    return started


class LeavingConsumer(PollingConsumer):
    """Its ``stop`` waits for the rebalance under way, as aiokafka's does (the group
    coordinator's close awaits its coordination task, assignment callback included)."""

    def __init__(self) -> None:
        super().__init__()
        self.rebalance: asyncio.Task[None] | None = None

    async def stop(self) -> None:
        if self.rebalance is not None:
            await self.rebalance


def stand_in(pipeline: TransactionalPipeline[bytes]) -> LeavingConsumer:
    consumer = LeavingConsumer()
    pipeline._consumer = consumer
    return consumer


async def test_an_assignment_after_a_drain_started_starts_no_producer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline, _consumer, _writer = pipeline_of(A)
    started = fake_producers(monkeypatch)
    pipeline.drain()
    await pipeline._revoked(frozenset({A}))
    await pipeline._assigned(frozenset({A, B}))  # the other worker left meanwhile
    assert started == []
    assert pipeline.assignment() == frozenset()


async def test_an_assignment_under_way_when_the_pipeline_closes_is_closed_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline, _consumer, _writer = pipeline_of(A)
    consumer = stand_in(pipeline)
    gate = asyncio.Event()
    started = fake_producers(monkeypatch, gate)
    consumer.rebalance = asyncio.create_task(pipeline._assigned(frozenset({B})))
    await settle()  # B's producer is starting
    pipeline.cancel()
    closing = asyncio.create_task(pipeline._close())
    await settle()  # A retired; the consumer's stop waits for the assignment
    gate.set()
    await closing
    assert [(p.transactional_id, p.stopped) for p in started] == [("g-in-1", True)]
    assert pipeline.assignment() == frozenset()


async def test_a_producer_that_fails_to_start_closes_the_ones_that_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first of three new partitions cannot start its producer: the two that did start
    (lanes after the failing one) are closed, not left open with no lane to close them."""
    pipeline, _consumer, _writer = pipeline_of()
    started: list[Producer] = []
    refused = ConnectionError("broker refused the transactional id g-in-0")

    async def refuse_the_first(cfg: Any, transactional_id: str | None, what: str) -> Producer:
        if transactional_id == "g-in-0":
            raise refused
        started.append(Producer(transactional_id))
        return started[-1]

    monkeypatch.setattr(transactional, "start_producer", refuse_the_first)
    await pipeline._assigned(frozenset({A, B, TopicPartition("in", 2)}))
    assert [(p.transactional_id, p.stopped) for p in started] == [
        ("g-in-1", True), ("g-in-2", True)]
    assert pipeline._error is refused
    assert pipeline.assignment() == frozenset()


async def test_a_revoke_while_the_drain_flushes_lets_the_flush_finish() -> None:
    pipeline, consumer, writer = pipeline_of(A, B)
    consumer.batches.append({A: records(A, 0, 10), B: records(B, 0, 10)})
    await pipeline._poll_once()  # a batch of each lane is being written (the gate holds it)
    pipeline.drain()
    flushing = asyncio.create_task(pipeline._flush(30))
    await settle()  # the flush waits for A's batch
    revoking = asyncio.create_task(pipeline._revoked(frozenset({A, B})))
    await settle()  # the other worker left: every lane revoked, waiting for its batch
    writer.gate.set()
    await asyncio.wait_for(flushing, 30)
    await asyncio.wait_for(revoking, 30)
    assert writer.written == [(A, list(range(10))), (B, list(range(10)))]
    assert pipeline.assignment() == frozenset()
