"""Stage metrics: read from live statistics at scrape time, kept from StageTerminated."""

from __future__ import annotations

import asyncio

import pytest

import streamguard.metrics as metrics
from streamguard import EventBus, from_iterable
from streamguard import operators as op
from streamguard.core import ConfigError, ItemFailedError
from streamguard.metrics import PrometheusExporter, Telemetry
from streamguard.sources import Emitter

from ._scrape import parse, series, value

ITEMS = "streamguard_stage_items_total"


def test_public_names_match_all() -> None:
    public = {n for n in dir(metrics) if not n.startswith("_")}
    assert set(metrics.__all__) == public


def test_family_names_and_labels_are_the_documented_ones() -> None:
    by_name = {f.name: f.labels for f in metrics.FAMILIES}
    assert by_name[ITEMS] == ("pipeline", "stage", "outcome")
    assert by_name["streamguard_stage_buffered"] == ("pipeline", "stage")
    assert by_name["streamguard_stage_demand"] == ("pipeline", "stage")
    assert by_name["streamguard_ratelimit_decisions_total"] == ("limiter", "result")
    assert by_name["streamguard_breaker_state"] == ("breaker",)
    assert by_name["streamguard_breaker_transitions_total"] == (
        "breaker", "from_state", "to_state")
    assert by_name["streamguard_breaker_calls_total"] == ("breaker", "outcome")
    assert by_name["streamguard_retry_attempts_total"] == ("stage",)
    assert by_name["streamguard_retry_budget_exhausted_total"] == ("stage",)
    assert by_name["streamguard_kafka_partition_paused"] == ("topic", "partition")
    assert by_name["streamguard_kafka_lag"] == ("topic", "partition", "kind")
    assert by_name["streamguard_kafka_commits_total"] == ("topic",)
    assert len(by_name) == len(metrics.FAMILIES)


def _not_multiple_of_4(x: int) -> bool:
    return x % 4 != 0


def _double(x: int) -> int:
    return x * 2


async def test_finished_pipeline_keeps_its_counters() -> None:
    bus = EventBus()
    with PrometheusExporter(bus=bus) as exporter:
        result = await from_iterable(range(100)).pipe(
            op.filter(_not_multiple_of_4, name="valid"),
            op.map(_double, name="double"),
            op.take(50, name="first50"),
            op.sink(lambda _: None, name="store"),
        ).run(name="orders", bus=bus)
        samples = parse(exporter.exposition())
    assert result.statistics, "the pipeline reported no stages"
    for stats in result.statistics:
        for outcome in ("received", "emitted", "dropped", "rejected", "failed"):
            got = value(samples, ITEMS, pipeline="orders", stage=stats.stage, outcome=outcome)
            assert got == getattr(stats, outcome), (stats.stage, outcome)
    valid = {o: value(samples, ITEMS, pipeline="orders", stage="valid", outcome=o)
             for o in ("received", "emitted", "dropped")}
    assert valid["dropped"] == valid["received"] - valid["emitted"] > 0  # type: ignore[operator]
    assert value(samples, ITEMS, pipeline="orders", stage="store", outcome="received") == 50
    # Gauges describe running stages only.
    assert series(samples, "streamguard_stage_buffered") == {}
    assert value(samples, "streamguard_pipelines_running") == 0


async def test_running_pipeline_is_read_live_then_kept() -> None:
    bus = EventBus()
    gate = asyncio.Event()
    emitter = Emitter[int]()

    async def slow(x: int) -> int:
        await gate.wait()
        return x

    with PrometheusExporter(bus=bus) as exporter:
        task = asyncio.create_task(emitter.stream().pipe(
            op.buffer(8, name="buf"),
            op.map_async(slow, concurrency=2, name="call"),
            op.sink(lambda _: None, name="store"),
        ).run(name="live", bus=bus))
        for i in range(6):
            await emitter.emit(i)
        await asyncio.sleep(0)
        during = parse(exporter.exposition())
        gate.set()
        emitter.complete()
        await task
        after = parse(exporter.exposition())

    assert value(during, "streamguard_pipelines_running") == 1
    assert value(during, ITEMS, pipeline="live", stage="buf", outcome="received") == 6
    assert value(during, "streamguard_stage_in_flight", pipeline="live", stage="call") == 2
    # map_async holds 2 x concurrency (2 in flight, 2 waiting); the buffer holds the rest.
    assert value(during, "streamguard_stage_buffered", pipeline="live", stage="buf") == 6 - 4
    assert value(during, "streamguard_stage_capacity", pipeline="live", stage="buf") == 8
    assert value(during, "streamguard_stage_demand", pipeline="live", stage="call") is not None
    assert value(during, ITEMS, pipeline="live", stage="store", outcome="received") == 0

    assert value(after, "streamguard_pipelines_running") == 0
    assert value(after, ITEMS, pipeline="live", stage="store", outcome="received") == 6
    assert value(after, "streamguard_stage_in_flight", pipeline="live", stage="call") is None


async def test_counters_accumulate_over_runs_of_one_name() -> None:
    bus = EventBus()
    with PrometheusExporter(bus=bus) as exporter:
        for n in (10, 15):
            await from_iterable(range(n)).pipe(op.map(str, name="fmt")).run(name="job", bus=bus)
        samples = parse(exporter.exposition())
    assert value(samples, ITEMS, pipeline="job", stage="fmt", outcome="emitted") == 25


async def test_failed_and_cancelled_pipelines_are_counted() -> None:
    bus = EventBus()

    def boom(x: int) -> int:
        if x == 3:
            raise ValueError("bad item 3")
        return x

    with PrometheusExporter(bus=bus) as exporter:
        with pytest.raises(ItemFailedError, match="bad item 3"):
            await from_iterable(range(10)).pipe(op.map(boom, name="parse")).run(
                name="fails", bus=bus)
        emitter = Emitter[int]()
        task = asyncio.create_task(
            emitter.stream().pipe(op.map(str, name="fmt")).run(name="cancelled", bus=bus))
        await emitter.emit(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        samples = parse(exporter.exposition())
    assert value(samples, ITEMS, pipeline="fails", stage="parse", outcome="failed") == 1
    assert value(samples, ITEMS, pipeline="fails", stage="parse", outcome="emitted") == 3
    assert value(samples, ITEMS, pipeline="cancelled", stage="fmt", outcome="received") == 1


async def test_other_buses_are_not_seen() -> None:
    mine, other = EventBus(), EventBus()
    with PrometheusExporter(bus=mine) as exporter:
        await from_iterable(range(5)).pipe(op.map(str, name="x")).run(name="theirs", bus=other)
        samples = parse(exporter.exposition())
    assert series(samples, ITEMS) == {}


async def test_oldest_finished_pipelines_are_forgotten_beyond_the_bound() -> None:
    bus = EventBus()
    with Telemetry(bus, max_finished_pipelines=2) as telemetry:
        for name in ("a", "b", "c"):
            await from_iterable(range(3)).pipe(op.map(str, name="m")).run(name=name, bus=bus)
        pipelines = {s.statistics.pipeline for s in telemetry.stages()}
    assert pipelines == {"b", "c"}


def test_bad_bound_names_the_rule() -> None:
    with pytest.raises(ConfigError, match=r"max_finished_pipelines must be an int >= 1, got 0"):
        Telemetry(EventBus(), max_finished_pipelines=0)


async def test_close_unsubscribes() -> None:
    bus = EventBus()
    exporter = PrometheusExporter(bus=bus)
    assert bus.active
    exporter.close()
    exporter.close()
    assert not bus.active


async def test_default_registry_is_private() -> None:
    a, b = PrometheusExporter(bus=EventBus()), PrometheusExporter(bus=EventBus())
    try:
        assert a.registry is not b.registry
    finally:
        a.close()
        b.close()


async def test_every_bus_watches_the_bus_of_each_pipeline_from_its_start() -> None:
    from streamguard.breaker import CircuitBreaker

    own = EventBus()
    with Telemetry(every_bus=True) as telemetry:
        # a breaker's per-instance observers are not a pipeline's bus: not watched twice
        breaker = CircuitBreaker("own-breaker", bus=own)
        unsubscribe = breaker.on_state_change(lambda _event: None)
        await from_iterable(range(8)).pipe(op.map(_double, name="twice")).run(
            name="mine", bus=own)
        breaker.force_open()
        unsubscribe()
        seen = {(s.statistics.pipeline, s.statistics.stage): s.statistics.emitted
                for s in telemetry.stages()}
        transitions = telemetry.values(next(
            f for f in metrics.FAMILIES if f.name == "streamguard_breaker_transitions_total"))
    assert seen[("mine", "twice")] == 8
    assert transitions == {("own-breaker", "closed", "forced_open"): 1.0}


def test_every_bus_takes_no_bus() -> None:
    with pytest.raises(ConfigError, match="every_bus=True watches every bus: pass no bus"):
        Telemetry(EventBus(), every_bus=True)
