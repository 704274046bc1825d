"""A Prometheus collector over a :class:`Telemetry`: everything is read at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from . import _families as F
from ._telemetry import Telemetry

_STAGE_GAUGES = (
    (F.STAGE_BUFFERED, "buffered"),
    (F.STAGE_IN_FLIGHT, "in_flight"),
    (F.STAGE_CAPACITY, "capacity"),
    (F.STAGE_DEMAND, "demand"),
)


def _family(spec: F.Family) -> CounterMetricFamily | GaugeMetricFamily:
    if spec.kind == "counter":
        return CounterMetricFamily(spec.name, spec.help, labels=spec.labels)
    return GaugeMetricFamily(spec.name, spec.help, labels=spec.labels)


class TelemetryCollector(Collector):
    """Renders a :class:`Telemetry` as Prometheus metric families on every scrape."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry

    def describe(self) -> Iterator[Metric]:
        """Describe the families without reading anything (lets a registry check names)."""
        for spec in F.FAMILIES:
            yield _family(spec)

    def collect(self) -> Iterator[Metric]:
        """Read the live statistics and the event-fed series now."""
        yield from self._stage_families()
        for spec in F.EVENT_FAMILIES:
            metric = _family(spec)
            for labels, value in sorted(self.telemetry.values(spec).items()):
                metric.add_metric(list(labels), value)
            yield metric

    def _stage_families(self) -> Iterator[Metric]:
        items = _family(F.STAGE_ITEMS)
        gauges = [(_family(spec), attr) for spec, attr in _STAGE_GAUGES]
        for sample in self.telemetry.stages():
            s = sample.statistics
            for outcome in F.STAGE_OUTCOMES:
                items.add_metric([s.pipeline, s.stage, outcome], getattr(s, outcome))
            if sample.running:
                for metric, attr in gauges:
                    metric.add_metric([s.pipeline, s.stage], getattr(s, attr))
        yield items
        yield from (metric for metric, _ in gauges)
        running = _family(F.PIPELINES_RUNNING)
        running.add_metric([], len(self.telemetry.running_pipelines()))
        yield running
