"""The summary reads the state a run left behind: a Kafka source's last lag sample, taken by
its close, replaces the periodic one (no stale lag, no pauses of a closed source)."""

from __future__ import annotations

from streamguard import EventBus, kafka
from streamguard.cli._report import Reporter, summary_json, summary_text
from streamguard.kafka import PartitionLag
from streamguard.metrics import PrometheusExporter


def _lag(partition: int, broker: int | None, in_flight: int, *, paused: bool) -> PartitionLag:
    return PartitionLag(topic="orders", partition=partition, log_end=1000, committed=None,
                        fetched=None, completed=None, broker=broker, in_flight=in_flight,
                        backlog=in_flight, backlog_bytes=0, paused=paused)


def test_the_summary_shows_the_sample_of_the_close_not_the_last_periodic_one() -> None:
    bus = EventBus()
    with PrometheusExporter(bus=bus) as exporter:
        reporter = Reporter(exporter.telemetry)
        for partition in (0, 1):
            bus.publish(kafka.PartitionPaused("src", "orders", partition, ("backlog",)))
        bus.publish(kafka.LagSampled("src", (_lag(0, 184, 52, paused=True),
                                             _lag(1, 681, 681, paused=True))))
        running = reporter.report()
        bus.publish(kafka.LagSampled("src", (_lag(0, 0, 0, paused=False),
                                             _lag(1, None, 0, paused=False)), final=True))
        closed = reporter.report()

    assert running.paused == (("orders", "0"), ("orders", "1"))
    assert closed.paused == ()
    assert closed.lag == {("orders", "0"): {"broker": 0, "in_flight": 0},
                          ("orders", "1"): {"in_flight": 0}}  # unknown at the close: not 681
    assert summary_text(closed, "finished").endswith(
        "kafka: 2 pauses, 0 resumes, 0 commits, 0 partitions paused now")
    assert summary_json(closed, "finished")["kafka"]["paused"] == []
