"""Guarded-sink events become dead-letter and fallback metrics."""

from __future__ import annotations

from streamguard import EventBus
from streamguard.guard import ItemDeadLettered, ItemFellBack
from streamguard.metrics import PrometheusExporter

from ._scrape import parse, value


def test_dead_letters_per_reason_and_fallbacks() -> None:
    bus = EventBus()
    error = ConnectionError("down")
    with PrometheusExporter(bus=bus) as exporter:
        for reason in ("attempts_exhausted", "attempts_exhausted", "breaker_open"):
            bus.publish(ItemDeadLettered("p/sink", "p", "sink", reason, error))
        bus.publish(ItemFellBack("p/sink", "p", "sink", error))
        samples = parse(exporter.exposition())
    dead = "streamguard_guard_dead_lettered_total"
    assert value(samples, dead, pipeline="p", stage="sink", reason="attempts_exhausted") == 2
    assert value(samples, dead, pipeline="p", stage="sink", reason="breaker_open") == 1
    assert value(samples, "streamguard_guard_fallbacks_total", pipeline="p", stage="sink") == 1
