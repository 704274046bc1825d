"""The metric families streamguard exports: one table, read by the collector, the docs and
the tests, so a name or a label cannot drift between them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["counter", "gauge"]


@dataclass(frozen=True, slots=True)
class Family:
    """One Prometheus metric family: its full name, type, help text and label names."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...]


STAGE_ITEMS = Family(
    "streamguard_stage_items_total", "counter",
    "Items per stage and outcome (received, emitted, dropped, rejected, failed).",
    ("pipeline", "stage", "outcome"))
STAGE_BUFFERED = Family(
    "streamguard_stage_buffered", "gauge",
    "Items a stage holds, waiting for downstream demand.", ("pipeline", "stage"))
STAGE_IN_FLIGHT = Family(
    "streamguard_stage_in_flight", "gauge",
    "Items a stage is processing now (async calls under way).", ("pipeline", "stage"))
STAGE_CAPACITY = Family(
    "streamguard_stage_capacity", "gauge",
    "Bound on buffered + in-flight items of a stage (0: holds nothing).", ("pipeline", "stage"))
STAGE_DEMAND = Family(
    "streamguard_stage_demand", "gauge",
    "Outstanding downstream demand of a stage (2^63-1 means unbounded).",
    ("pipeline", "stage"))
PIPELINES_RUNNING = Family(
    "streamguard_pipelines_running", "gauge", "Pipelines running now.", ())

RATELIMIT_DECISIONS = Family(
    "streamguard_ratelimit_decisions_total", "counter",
    "Rate-limit decisions per limiter and result (allowed, delayed, rejected).",
    ("limiter", "result"))
RATELIMIT_WAIT = Family(
    "streamguard_ratelimit_wait_seconds_total", "counter",
    "Seconds items waited for a limiter (backpressure mode), summed.", ("limiter",))
RATELIMIT_STORAGE_UP = Family(
    "streamguard_ratelimit_storage_up", "gauge",
    "0 while a limiter's shared storage (Redis) is unreachable, 1 once it answers again.",
    ("limiter",))
RATELIMIT_STORAGE_OUTAGES = Family(
    "streamguard_ratelimit_storage_outages_total", "counter",
    "Outages of a limiter's storage, per failure mode (open or closed).",
    ("limiter", "failure_mode"))

BREAKER_STATE = Family(
    "streamguard_breaker_state", "gauge",
    "Circuit breaker state: 0 closed, 1 open, 2 half-open, 3 disabled, 4 forced open.",
    ("breaker",))
BREAKER_TRANSITIONS = Family(
    "streamguard_breaker_transitions_total", "counter",
    "Circuit breaker state transitions.", ("breaker", "from_state", "to_state"))
BREAKER_CALLS = Family(
    "streamguard_breaker_calls_total", "counter",
    "Calls through a breaker per outcome (successful, failed, ignored, not_permitted, "
    "stale, probe_expired).", ("breaker", "outcome"))
BREAKER_SLOW_CALLS = Family(
    "streamguard_breaker_slow_calls_total", "counter",
    "Calls slower than the breaker's slow-call threshold, per outcome.", ("breaker", "outcome"))
BREAKER_SHARED_UP = Family(
    "streamguard_breaker_shared_state_up", "gauge",
    "0 while a breaker's shared state (Redis) is unreachable and it decides alone, 1 once it "
    "answers again.", ("breaker",))
BREAKER_SHARED_OUTAGES = Family(
    "streamguard_breaker_shared_state_outages_total", "counter",
    "Outages of a breaker's shared state (each logged once; the breaker decides alone "
    "meanwhile).", ("breaker",))

RETRY_ATTEMPTS = Family(
    "streamguard_retry_attempts_total", "counter",
    "Retry attempts (not counting first attempts).", ("stage",))
RETRY_BUDGET_EXHAUSTED = Family(
    "streamguard_retry_budget_exhausted_total", "counter",
    "Retries refused because the retry budget was spent.", ("stage",))
RETRY_GAVE_UP = Family(
    "streamguard_retry_gave_up_total", "counter",
    "Calls that failed for good after their retries, per reason (attempts_exhausted, "
    "retry_after_too_long, budget_exhausted).", ("stage", "reason"))

GUARD_DEAD_LETTERED = Family(
    "streamguard_guard_dead_lettered_total", "counter",
    "Items a guarded sink sent to its dead-letter sink, per reason (breaker_open, "
    "not_retryable, call_failed, or why its retry gave up: attempts_exhausted, "
    "retry_after_too_long, budget_exhausted).", ("pipeline", "stage", "reason"))
GUARD_FALLBACKS = Family(
    "streamguard_guard_fallbacks_total", "counter",
    "Items a guarded sink handed to its fallback because the breaker refused them.",
    ("pipeline", "stage"))

KAFKA_PAUSED = Family(
    "streamguard_kafka_partition_paused", "gauge",
    "1 while streamguard keeps a partition paused, else 0.", ("topic", "partition"))
KAFKA_PAUSE_REASONS = Family(
    "streamguard_kafka_partition_pause_reason", "gauge",
    "1 while this reason (backlog, breaker, user) holds a partition paused, else 0; a paused "
    "partition may have several.", ("topic", "partition", "reason"))
KAFKA_PAUSES = Family(
    "streamguard_kafka_partition_pauses_total", "counter",
    "Times a partition was paused, per reason.", ("topic", "partition", "reason"))
KAFKA_RESUMES = Family(
    "streamguard_kafka_partition_resumes_total", "counter",
    "Times a partition was resumed.", ("topic", "partition"))
KAFKA_GAP_HELD = Family(
    "streamguard_kafka_partition_gap_held", "gauge",
    "1 while a partition hands out no records because its completed offsets above a stuck one "
    "would outgrow the commit metadata (the gap bound), else 0.", ("topic", "partition"))
KAFKA_LAG = Family(
    "streamguard_kafka_lag", "gauge",
    "Consumer lag in records: broker (log end - committed) or in_flight (fetched - completed).",
    ("topic", "partition", "kind"))
KAFKA_COMMITS = Family(
    "streamguard_kafka_commits_total", "counter", "Offset commits per topic.", ("topic",))
KAFKA_COMMIT_FAILURES = Family(
    "streamguard_kafka_commit_failures_total", "counter",
    "Offset commits that failed (a rebalance raced them), per consumer.", ("consumer",))
KAFKA_THROTTLE_RATE = Family(
    "streamguard_kafka_throttle_rate", "gauge",
    "Current rate (items/s) of a lag-aware producer throttle.", ("throttle",))
KAFKA_DEAD_LETTERED = Family(
    "streamguard_kafka_dead_lettered_total", "counter",
    "Records routed to a dead-letter topic, per source topic.", ("topic",))
KAFKA_TRANSACTION_BATCHES = Family(
    "streamguard_kafka_transaction_batches_total", "counter",
    "Batches of a TransactionalPipeline, per input topic and outcome (committed, or aborted: "
    "retry, fenced, failed).", ("topic", "outcome"))

ADAPTIVE_LIMIT = Family(
    "streamguard_adaptive_limit", "gauge",
    "Current concurrency limit of an adaptive limit (AIMD, Vegas).", ("limit",))
ADAPTIVE_LIMIT_CHANGES = Family(
    "streamguard_adaptive_limit_changes_total", "counter",
    "Times an adaptive limit moved, per direction (increase, decrease).",
    ("limit", "direction"))

STATISTICS_FAMILIES: tuple[Family, ...] = (
    STAGE_ITEMS, STAGE_BUFFERED, STAGE_IN_FLIGHT, STAGE_CAPACITY, STAGE_DEMAND,
    PIPELINES_RUNNING,
)
"""Families read from the pipelines' statistics at scrape time."""

EVENT_FAMILIES: tuple[Family, ...] = (
    RATELIMIT_DECISIONS, RATELIMIT_WAIT, RATELIMIT_STORAGE_UP, RATELIMIT_STORAGE_OUTAGES,
    BREAKER_STATE, BREAKER_TRANSITIONS, BREAKER_CALLS, BREAKER_SLOW_CALLS,
    BREAKER_SHARED_UP, BREAKER_SHARED_OUTAGES,
    RETRY_ATTEMPTS, RETRY_BUDGET_EXHAUSTED, RETRY_GAVE_UP,
    GUARD_DEAD_LETTERED, GUARD_FALLBACKS,
    KAFKA_PAUSED, KAFKA_PAUSE_REASONS, KAFKA_PAUSES, KAFKA_RESUMES, KAFKA_GAP_HELD, KAFKA_LAG,
    KAFKA_COMMITS,
    KAFKA_COMMIT_FAILURES,
    KAFKA_DEAD_LETTERED, KAFKA_THROTTLE_RATE, KAFKA_TRANSACTION_BATCHES,
    ADAPTIVE_LIMIT, ADAPTIVE_LIMIT_CHANGES,
)
"""Families fed by events as they are published."""

FAMILIES: tuple[Family, ...] = STATISTICS_FAMILIES + EVENT_FAMILIES
"""Every family, in the order of the docs table."""

STAGE_OUTCOMES = ("received", "emitted", "dropped", "rejected", "failed")
"""The ``outcome`` label values of :data:`STAGE_ITEMS`."""
