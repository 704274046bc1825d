"""Every metric label takes its values from a small fixed set, or names an object the user
configured: never from an error message, a measured value, an item or a key, which would
grow a new series per distinct value without bound.

The scenario gives every free-text field a different value each time (error messages,
Retry-After values, budgets, record keys, commit triggers) and checks each exported series;
the closed sets are written out here, as the vocabulary users query by, and checked against
the packages' own constants.
"""

from __future__ import annotations

import itertools
from typing import Any, get_args

import pytest

from streamguard import EventBus, adaptive, from_iterable, kafka, ratelimit
from streamguard.breaker import BreakerConfig, CircuitBreaker, State
from streamguard.core import TooManyRequests
from streamguard.guard import DEAD_LETTER_REASONS, guarded_sink
from streamguard.kafka import PartitionLag, PauseReason
from streamguard.metrics import FAMILIES, PrometheusExporter
from streamguard.metrics._families import STAGE_OUTCOMES
from streamguard.metrics._handlers import BREAKER_STATE_VALUES, state_label
from streamguard.ratelimit._events import DecisionResult
from streamguard.retry import (
    GIVE_UP_REASONS,
    BudgetConfig,
    Retry,
    RetryBudget,
    RetryConfig,
    RetryError,
)
from streamguard.testing import VirtualClock

from ._scrape import parse

GIVE_UP = {"attempts_exhausted", "retry_after_too_long", "budget_exhausted"}
DEAD_LETTER = GIVE_UP | {"breaker_open", "not_retryable", "call_failed"}
STATES = {"closed", "open", "half_open", "disabled", "forced_open"}
CALL_OUTCOMES = {"successful", "failed", "ignored", "not_permitted", "stale", "probe_expired"}
PAUSE_REASONS = {"backlog", "breaker", "user"}
# A pause counts under the sorted "+"-join of the reasons that hold it: 7 values at most.
PAUSE_COMBINATIONS = {"+".join(sorted(c)) for n in (1, 2, 3)
                      for c in itertools.combinations(PAUSE_REASONS, n)} | {"unknown"}

CLOSED: dict[tuple[str, str], set[str]] = {
    ("streamguard_stage_items_total", "outcome"):
        {"received", "emitted", "dropped", "rejected", "failed"},
    ("streamguard_ratelimit_decisions_total", "result"): {"allowed", "delayed", "rejected"},
    ("streamguard_ratelimit_storage_outages_total", "failure_mode"): {"open", "closed"},
    ("streamguard_breaker_transitions_total", "from_state"): STATES,
    ("streamguard_breaker_transitions_total", "to_state"): STATES,
    ("streamguard_breaker_calls_total", "outcome"): CALL_OUTCOMES,
    ("streamguard_breaker_slow_calls_total", "outcome"): CALL_OUTCOMES,
    ("streamguard_retry_gave_up_total", "reason"): GIVE_UP,
    ("streamguard_guard_dead_lettered_total", "reason"): DEAD_LETTER,
    ("streamguard_kafka_partition_pause_reason", "reason"): PAUSE_REASONS,
    ("streamguard_kafka_partition_pauses_total", "reason"): PAUSE_COMBINATIONS,
    ("streamguard_kafka_lag", "kind"): {"broker", "in_flight"},
    ("streamguard_kafka_transaction_batches_total", "outcome"):
        {"committed", "retry", "fenced", "failed"},
    ("streamguard_adaptive_limit_changes_total", "direction"): {"increase", "decrease"},
}
"""The labels whose values the library chooses, with every value they may take."""

IDENTITY = {"pipeline", "stage", "limiter", "breaker", "limit", "throttle", "consumer", "topic",
            "partition"}
"""Labels that name what the user configured (a stage, a breaker, a topic, a partition): as
many series as objects, never one per event."""


def test_every_label_is_closed_or_names_a_configured_object() -> None:
    # A new family's label must be classified here before it ships.
    for family in FAMILIES:
        for label in family.labels:
            assert label in IDENTITY or (family.name, label) in CLOSED, (family.name, label)


def test_the_closed_sets_are_the_packages_own() -> None:
    assert set(GIVE_UP_REASONS) == GIVE_UP
    assert set(DEAD_LETTER_REASONS) == DEAD_LETTER
    assert set(STAGE_OUTCOMES) == CLOSED[("streamguard_stage_items_total", "outcome")]
    assert set(get_args(DecisionResult)) == CLOSED[
        ("streamguard_ratelimit_decisions_total", "result")]
    assert set(BREAKER_STATE_VALUES) == STATES == {state_label(s) for s in State}
    assert {str(r) for r in PauseReason} == PAUSE_REASONS


class Refused(ConnectionError):
    """A downstream error whose message and Retry-After differ on every call."""

    def __init__(self, n: int, retry_after: float | None = None) -> None:
        super().__init__(f"refused call #{n} at offset {n * 7919}")
        self.retry_after = retry_after


async def _retries(bus: EventBus) -> None:
    # One retry per give-up rule, each failing with a new message and value every time.
    busy = Retry("busy", RetryConfig(attempts=3, max_retry_after=5), bus=bus)
    once = Retry("once", RetryConfig(attempts=1), bus=bus)
    for n in range(6):
        budget = RetryBudget(BudgetConfig(ratio=0, min_per_second=0, window=1 + n))
        broke = Retry("broke", RetryConfig(attempts=3), budget=budget, bus=bus)
        for retry, error in ((busy, TooManyRequests(retry_after=60 + n * 7.3)),
                             (once, Refused(n)), (broke, Refused(n))):
            async def fail(error: Exception = error) -> None:
                raise error

            with pytest.raises(RetryError):
                await retry.call(fail)


async def _guarded_sinks(bus: EventBus, clock: VirtualClock) -> None:
    # Every way a guarded sink gives an item up, each item failing with its own message.
    parked: list[Any] = []

    def park(item: Any, error: BaseException) -> None:
        parked.append(item)

    async def refuse(n: int) -> None:
        raise Refused(n)

    async def busy(n: int) -> None:
        raise Refused(n, retry_after=60 + n * 1.7)

    async def malformed(n: int) -> None:
        raise ValueError(f"malformed payload {n!r}: field 'amount'={n * 3.1}")

    opened = CircuitBreaker("payments", clock=clock, bus=bus)
    opened.force_open()
    budget = RetryBudget(BudgetConfig(ratio=0, min_per_second=0), clock=clock)
    sinks = {
        "refused": guarded_sink(refuse, breaker=opened, on_open="dead_letter",
                                dead_letter=park, clock=clock, name="refused"),
        "exhausted": guarded_sink(refuse, retry=RetryConfig(attempts=1), dead_letter=park,
                                  clock=clock, name="exhausted"),
        "busy": guarded_sink(busy, retry=RetryConfig(attempts=3, max_retry_after=5),
                             dead_letter=park, clock=clock, name="busy"),
        "broke": guarded_sink(refuse, retry=Retry("broke-sink", budget=budget, bus=bus,
                                                  clock=clock),
                              dead_letter=park, clock=clock, name="broke"),
        "poison": guarded_sink(malformed, retry=RetryConfig(retry_on=(ConnectionError,)),
                               dead_letter=park, clock=clock, name="poison"),
        "plain": guarded_sink(refuse, dead_letter=park, clock=clock, name="plain"),
    }
    for pipeline, sink in sinks.items():
        await from_iterable(range(5)).pipe(sink).run(name=pipeline, bus=bus)
    assert len(parked) == 5 * len(sinks)


async def _breaker(bus: EventBus, clock: VirtualClock) -> None:
    breaker = CircuitBreaker("api", BreakerConfig(window_size=4, minimum_calls=4,
                                                  open_duration=1.0), clock=clock, bus=bus)
    for n in range(8):
        async def fail(n: int = n) -> None:
            raise Refused(n)

        with pytest.raises(ConnectionError):
            await breaker.call(fail)
        await clock.advance(1.0)
    breaker.disable()
    breaker.force_open()


def _hand_built(bus: EventBus) -> None:
    # Events of areas that need a broker or a storage to run for real: built by hand with
    # values that vary in every free-text field.
    for n in range(6):
        result: DecisionResult = ("allowed", "delayed", "rejected")[n % 3]
        bus.publish(ratelimit.RateLimitDecided(
            source="edge", limiter="edge", result=result, key=f"user-{n}", cost=1.0 + n,
            waited=0.1 * n, decision=None))  # type: ignore[arg-type]
        bus.publish(ratelimit.StorageOutageBegan(
            source="edge", limiter="edge", storage=f"redis://10.0.0.{n}:6379/0",
            failure_mode=("open", "closed")[n % 2], error=f"timed out after {n * 0.37} s"))
        reasons = tuple(sorted(PAUSE_REASONS))[: 1 + n % 3]
        bus.publish(kafka.PartitionPaused("src", "orders", n % 2, reasons))
        bus.publish(kafka.PauseReasonsChanged("src", "orders", n % 2, reasons[::-1]))
        bus.publish(kafka.PartitionResumed("src", "orders", n % 2, 0.1 * n))
        bus.publish(kafka.PartitionGapHeld("src", "orders", 0, 100 * n, n, n, 8))
        bus.publish(kafka.PartitionGapReleased("src", "orders", 0, 0.2 * n))
        bus.publish(kafka.OffsetsCommitted("src", (("orders", 0, 10 * n),), f"trigger-{n}"))
        bus.publish(kafka.CommitFailed("src", RuntimeError(f"generation {n} is stale"),
                                       f"revoke-{n}"))
        bus.publish(kafka.LagSampled("src", (PartitionLag(
            topic="orders", partition=0, log_end=100 + n, committed=n, fetched=n,
            completed=n, broker=100, in_flight=n, backlog=n, backlog_bytes=n,
            paused=False),)))
        bus.publish(kafka.RecordDeadLettered("src", "orders", 0, n, f"Error{n}",
                                             f"bad record {n}", f"orders.dlq.{n}"))
        bus.publish(kafka.ThrottleRateChanged("throttle", 100.0 + n, 1000 * n, 500))
        bus.publish(kafka.BatchCommitted("eos", "orders", 0, n, 10 * n))
        bus.publish(kafka.BatchAborted("eos", "orders", 0, 10 * n, n,
                                       ("retry", "fenced", "failed")[n % 3],
                                       RuntimeError(f"abort {n}")))
        bus.publish(adaptive.LimitChanged("adapt", 10 + (-1) ** n * n, 10, 0.013 * n,
                                          n % 2 == 0))
    bus.publish(kafka.PartitionsAssigned("src", (("orders", 0),), (("orders", 0),)))
    bus.publish(kafka.PartitionsRevoked("src", (("orders", 1),), 3, 1, 0.5))


async def test_label_values_stay_in_their_closed_sets_whatever_the_messages() -> None:
    bus, clock = EventBus(), VirtualClock()
    with PrometheusExporter(bus=bus) as exporter:
        await _retries(bus)
        await _guarded_sinks(bus, clock)
        await _breaker(bus, clock)
        _hand_built(bus)
        samples = parse(exporter.exposition())

    seen: dict[tuple[str, str], set[str]] = {}
    by_name = {f.name: f for f in FAMILIES}
    for (name, labels), _value in samples.items():
        family = by_name[name]
        assert {label for label, _ in labels} == set(family.labels), name
        for label, text in labels:
            seen.setdefault((name, label), set()).add(text)
    for (name, label), values in seen.items():
        if (name, label) in CLOSED:
            assert values <= CLOSED[(name, label)], (name, label, values - CLOSED[name, label])
    # Identity labels hold the configured names only (a handful, however many events).
    assert seen[("streamguard_retry_gave_up_total", "stage")] == {
        "busy", "once", "broke", "broke-sink", "exhausted"}
    assert seen[("streamguard_ratelimit_storage_outages_total", "limiter")] == {"edge"}
    assert seen[("streamguard_kafka_commit_failures_total", "consumer")] == {"src"}
    assert seen[("streamguard_kafka_dead_lettered_total", "topic")] == {"orders"}
    # The scenario reached every reason, each as one series per stage.
    assert seen[("streamguard_retry_gave_up_total", "reason")] == GIVE_UP
    assert seen[("streamguard_guard_dead_lettered_total", "reason")] == DEAD_LETTER
    gave_up = [labels for (name, labels) in samples
               if name == "streamguard_retry_gave_up_total"]
    # busy, once, broke; the sinks' retries: busy (same name), exhausted, broke-sink.
    assert len(gave_up) == 5
