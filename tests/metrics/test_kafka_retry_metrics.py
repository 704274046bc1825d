"""Retry and Kafka events become their metrics (events built by hand here; the areas' own
tests publish them from real retries and consumers)."""

from __future__ import annotations

from streamguard import EventBus, kafka, retry
from streamguard.kafka import PartitionLag
from streamguard.metrics import PrometheusExporter

from ._scrape import Key, parse, series, value


def _lag(topic: str, partition: int, broker: int | None, in_flight: int) -> PartitionLag:
    return PartitionLag(topic=topic, partition=partition, log_end=None, committed=None,
                        fetched=None, completed=None, broker=broker, in_flight=in_flight,
                        backlog=in_flight, backlog_bytes=0, paused=False)


def test_retry_attempts_budget_and_give_ups() -> None:
    bus = EventBus()
    error = ConnectionError("down")
    with PrometheusExporter(bus=bus) as exporter:
        for attempt in (2, 3, 2):
            bus.publish(retry.RetryAttempted("payments", attempt, 0.1, error))
        bus.publish(retry.RetryBudgetExhausted("payments", 2, error))
        bus.publish(retry.RetryGaveUp("payments", 3, "attempts_exhausted", error,
                                      "attempts exhausted"))
        samples = parse(exporter.exposition())
    assert value(samples, "streamguard_retry_attempts_total", stage="payments") == 3
    assert value(samples, "streamguard_retry_budget_exhausted_total", stage="payments") == 1
    assert value(samples, "streamguard_retry_gave_up_total",
                 stage="payments", reason="attempts_exhausted") == 1


def test_kafka_pause_resume_lag_commits_and_revoke() -> None:
    bus = EventBus()
    with PrometheusExporter(bus=bus) as exporter:
        bus.publish(kafka.PartitionPaused("src", "orders", 0, ("backlog",)))
        bus.publish(kafka.PartitionPaused("src", "orders", 1, ("breaker", "backlog")))
        bus.publish(kafka.LagSampled("src", (_lag("orders", 0, 500, 120),
                                             _lag("orders", 1, None, 7))))
        paused = parse(exporter.exposition())
        bus.publish(kafka.PartitionResumed("src", "orders", 0, 0.5))
        bus.publish(kafka.OffsetsCommitted("src", (("orders", 0, 10), ("orders", 1, 5)),
                                           "count"))
        bus.publish(kafka.OffsetsCommitted("src", (("orders", 0, 20),), "interval"))
        bus.publish(kafka.CommitFailed("src", RuntimeError("rebalance"), "revoke"))
        bus.publish(kafka.RecordDeadLettered("src", "orders", 1, 3, "ValueError", "bad",
                                             "orders.dlq"))
        bus.publish(kafka.ThrottleRateChanged("throttle", 250.0, 900, 500))
        resumed = parse(exporter.exposition())
        bus.publish(kafka.PartitionsRevoked("src", (("orders", 1),), 3, 4, 0.2))
        revoked = parse(exporter.exposition())

    paused_gauge = "streamguard_kafka_partition_paused"
    assert value(paused, paused_gauge, topic="orders", partition="0") == 1
    assert value(paused, paused_gauge, topic="orders", partition="1") == 1
    assert value(paused, "streamguard_kafka_partition_pauses_total",
                 topic="orders", partition="1", reason="backlog+breaker") == 1
    assert value(paused, "streamguard_kafka_lag",
                 topic="orders", partition="0", kind="broker") == 500
    assert value(paused, "streamguard_kafka_lag",
                 topic="orders", partition="0", kind="in_flight") == 120
    assert value(paused, "streamguard_kafka_lag",
                 topic="orders", partition="1", kind="broker") is None

    assert value(resumed, paused_gauge, topic="orders", partition="0") == 0
    assert value(resumed, "streamguard_kafka_partition_resumes_total",
                 topic="orders", partition="0") == 1
    assert value(resumed, "streamguard_kafka_commits_total", topic="orders") == 2
    assert value(resumed, "streamguard_kafka_commit_failures_total", consumer="src") == 1
    assert value(resumed, "streamguard_kafka_dead_lettered_total", topic="orders") == 1
    assert value(resumed, "streamguard_kafka_throttle_rate", throttle="throttle") == 250

    assert value(revoked, paused_gauge, topic="orders", partition="1") is None
    assert set(series(revoked, "streamguard_kafka_lag")) == {
        frozenset({("topic", "orders"), ("partition", "0"), ("kind", "broker")}),
        frozenset({("topic", "orders"), ("partition", "0"), ("kind", "in_flight")}),
    }


def test_pause_reasons_follow_the_partition_until_resume_and_revoke() -> None:
    bus = EventBus()
    gauge = "streamguard_kafka_partition_pause_reason"

    def reasons(samples: dict[Key, float], partition: str = "0") -> dict[str, float | None]:
        return {r: value(samples, gauge, topic="orders", partition=partition, reason=r)
                for r in ("backlog", "breaker", "user")}

    with PrometheusExporter(bus=bus) as exporter:
        bus.publish(kafka.PartitionPaused("src", "orders", 0, ("backlog",)))
        first = parse(exporter.exposition())
        bus.publish(kafka.PauseReasonsChanged("src", "orders", 0, ("backlog", "breaker")))
        both = parse(exporter.exposition())
        bus.publish(kafka.PauseReasonsChanged("src", "orders", 0, ("breaker",)))
        breaker_only = parse(exporter.exposition())
        bus.publish(kafka.PartitionResumed("src", "orders", 0, 1.5))
        resumed = parse(exporter.exposition())
        bus.publish(kafka.PartitionsRevoked("src", (("orders", 0),), 0, 0, 0.0))
        revoked = parse(exporter.exposition())

    assert reasons(first) == {"backlog": 1, "breaker": None, "user": None}
    assert reasons(both) == {"backlog": 1, "breaker": 1, "user": None}
    assert reasons(breaker_only) == {"backlog": 0, "breaker": 1, "user": None}
    # a change of reasons is not a new pause
    assert value(both, "streamguard_kafka_partition_pauses_total", topic="orders",
                 partition="0", reason="backlog") == 1
    assert value(both, "streamguard_kafka_partition_paused", topic="orders", partition="0") == 1
    assert reasons(resumed) == {"backlog": 0, "breaker": 0, "user": None}
    assert reasons(revoked) == {"backlog": None, "breaker": None, "user": None}


def test_adaptive_limit_gauge_and_changes() -> None:
    from streamguard.adaptive import LimitChanged

    bus = EventBus()
    with PrometheusExporter(bus=bus) as exporter:
        bus.publish(LimitChanged(source="orders-api", limit=24, previous=16, rtt=0.01,
                                 dropped=False))
        bus.publish(LimitChanged(source="orders-api", limit=12, previous=24, rtt=0.2,
                                 dropped=True))
        samples = parse(exporter.exposition())
    assert value(samples, "streamguard_adaptive_limit", limit="orders-api") == 12
    for direction in ("increase", "decrease"):
        assert value(samples, "streamguard_adaptive_limit_changes_total", limit="orders-api",
                     direction=direction) == 1


def test_events_of_unknown_classes_are_ignored() -> None:
    from dataclasses import dataclass

    from streamguard.core import Event

    @dataclass(frozen=True, slots=True)
    class Custom(Event):
        n: int

    bus = EventBus()
    with PrometheusExporter(bus=bus) as exporter:
        bus.publish(Custom("mine", 1))
        before = exporter.exposition()
        bus.publish(Custom("mine", 2))
        assert exporter.exposition() == before


def test_transactional_batches_by_outcome() -> None:
    bus = EventBus()
    error = RuntimeError("broker hiccup")
    with PrometheusExporter(bus=bus) as exporter:
        bus.publish(kafka.BatchCommitted("copy", "orders", 0, 1000, 1000))
        bus.publish(kafka.BatchCommitted("copy", "orders", 1, 500, 500))
        bus.publish(kafka.BatchAborted("copy", "orders", 0, 1000, 20, "retry", error))
        bus.publish(kafka.BatchAborted("copy", "orders", 1, 500, 20, "fenced", error))
        samples = parse(exporter.exposition())
    batches = "streamguard_kafka_transaction_batches_total"
    assert value(samples, batches, topic="orders", outcome="committed") == 2
    assert value(samples, batches, topic="orders", outcome="retry") == 1
    assert value(samples, batches, topic="orders", outcome="fenced") == 1


def test_kafka_gap_held_follows_hold_release_and_revoke() -> None:
    bus = EventBus()
    gauge = "streamguard_kafka_partition_gap_held"
    with PrometheusExporter(bus=bus) as exporter:
        bus.publish(kafka.PartitionGapHeld("src", "orders", 0, 10, 30_000, 3_100, 4096))
        bus.publish(kafka.PartitionGapHeld("src", "orders", 1, 7, 25_000, 3_080, 4096))
        held = parse(exporter.exposition())
        bus.publish(kafka.PartitionGapReleased("src", "orders", 0, 2.5))
        released = parse(exporter.exposition())
        bus.publish(kafka.PartitionsRevoked("src", (("orders", 1),), 0, 0, 0.0))
        revoked = parse(exporter.exposition())
    assert value(held, gauge, topic="orders", partition="0") == 1
    assert value(held, gauge, topic="orders", partition="1") == 1
    assert value(released, gauge, topic="orders", partition="0") == 0
    assert value(released, gauge, topic="orders", partition="1") == 1
    assert value(revoked, gauge, topic="orders", partition="1") is None
