"""Which event updates which metric.

Handlers are found per event class on first sight: the class's area (``streamguard.breaker``,
``streamguard.kafka`` …) names a loader that imports that area's event classes from its
public package (never from a private module, so that moving an event inside its package
cannot silently switch a metric off). An area is imported only when one of its events
arrives, so the exporter works (and stays cheap to import) when an optional area or its
dependency (aiokafka, redis) is absent. ``tests/metrics/test_event_coverage.py`` checks that
every exported event has a handler here or is listed there as not a metric.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from ..core._runtime import StageStatistics
from . import _families as F

_log = logging.getLogger("streamguard.metrics")


class Recorder(Protocol):
    """What a handler may do (implemented by :class:`~streamguard.metrics.Telemetry`)."""

    def inc(self, family: F.Family, labels: tuple[str, ...], by: float = 1.0) -> None: ...

    def set(self, family: F.Family, labels: tuple[str, ...], value: float) -> None: ...

    def discard(self, family: F.Family, labels: tuple[str, ...]) -> None: ...

    def get(self, family: F.Family, labels: tuple[str, ...]) -> float | None: ...

    def retire(self, statistics: StageStatistics) -> None: ...

    def values(self, family: F.Family) -> dict[tuple[str, ...], float]: ...


Handler = Callable[[Recorder, Any], None]
Table = dict[type, Handler]

BREAKER_STATE_VALUES = {
    "closed": 0.0, "open": 1.0, "half_open": 2.0, "disabled": 3.0, "forced_open": 4.0,
}
"""Value of ``streamguard_breaker_state`` per state label."""


def state_label(state: object) -> str:
    """``State.HALF_OPEN`` (or ``"HALF_OPEN"``, ``"half-open"``) → ``"half_open"``."""
    text = str(getattr(state, "value", state))
    return text.strip().lower().replace("-", "_").replace(" ", "_")


# ---------------------------------------------------------------- core
def _core() -> Table:
    from ..core import StageTerminated

    def terminated(rec: Recorder, e: StageTerminated) -> None:
        rec.retire(e.statistics)

    return {StageTerminated: terminated}


# ---------------------------------------------------------------- breaker
def _breaker() -> Table:
    from .. import breaker as ev

    def transition(rec: Recorder, e: Any) -> None:
        to_state = state_label(e.to_state)
        rec.inc(F.BREAKER_TRANSITIONS, (e.source, state_label(e.from_state), to_state))
        rec.set(F.BREAKER_STATE, (e.source,), BREAKER_STATE_VALUES.get(to_state, -1.0))

    def call(outcome: str) -> Handler:
        def handler(rec: Recorder, e: Any) -> None:
            if rec.get(F.BREAKER_STATE, (e.source,)) is None:
                # A breaker starts closed; any other state would have come with a transition.
                rec.set(F.BREAKER_STATE, (e.source,), BREAKER_STATE_VALUES["closed"])
            rec.inc(F.BREAKER_CALLS, (e.source, outcome))
            if getattr(e, "slow", False):
                rec.inc(F.BREAKER_SLOW_CALLS, (e.source, outcome))
        return handler

    def not_permitted(rec: Recorder, e: Any) -> None:
        rec.inc(F.BREAKER_CALLS, (e.source, "not_permitted"))
        rec.set(F.BREAKER_STATE, (e.source,),
                BREAKER_STATE_VALUES.get(state_label(e.state), -1.0))

    def shared_lost(rec: Recorder, e: Any) -> None:
        rec.set(F.BREAKER_SHARED_UP, (e.source,), 0.0)
        rec.inc(F.BREAKER_SHARED_OUTAGES, (e.source,))

    def shared_restored(rec: Recorder, e: Any) -> None:
        rec.set(F.BREAKER_SHARED_UP, (e.source,), 1.0)

    return {
        ev.StateTransition: transition,
        ev.SharedStateLost: shared_lost,
        ev.SharedStateRestored: shared_restored,
        ev.CallSucceeded: call("successful"),
        ev.CallFailed: call("failed"),
        ev.CallIgnored: call("ignored"),
        ev.CallNotPermitted: not_permitted,
        ev.StaleResultIgnored: call("stale"),
        ev.ProbeExpired: call("probe_expired"),
    }


# ---------------------------------------------------------------- rate limiting
def _ratelimit() -> Table:
    from .. import ratelimit as ev

    def decided(rec: Recorder, e: Any) -> None:
        rec.inc(F.RATELIMIT_DECISIONS, (e.limiter, e.result))
        if e.waited > 0:
            rec.inc(F.RATELIMIT_WAIT, (e.limiter,), e.waited)

    def outage_began(rec: Recorder, e: Any) -> None:
        rec.set(F.RATELIMIT_STORAGE_UP, (e.limiter,), 0.0)
        rec.inc(F.RATELIMIT_STORAGE_OUTAGES, (e.limiter, e.failure_mode))

    def outage_ended(rec: Recorder, e: Any) -> None:
        rec.set(F.RATELIMIT_STORAGE_UP, (e.limiter,), 1.0)

    return {
        ev.RateLimitDecided: decided,
        ev.StorageOutageBegan: outage_began,
        ev.StorageOutageEnded: outage_ended,
    }


# ---------------------------------------------------------------- retry
def _retry() -> Table:
    from .. import retry as ev

    def attempted(rec: Recorder, e: Any) -> None:
        rec.inc(F.RETRY_ATTEMPTS, (e.source,))

    def exhausted(rec: Recorder, e: Any) -> None:
        rec.inc(F.RETRY_BUDGET_EXHAUSTED, (e.source,))

    def gave_up(rec: Recorder, e: Any) -> None:
        rec.inc(F.RETRY_GAVE_UP, (e.source, e.reason))  # the code: the detail varies

    return {
        ev.RetryAttempted: attempted,
        ev.RetryBudgetExhausted: exhausted,
        ev.RetryGaveUp: gave_up,
    }


# ---------------------------------------------------------------- guarded sink
def _guard() -> Table:
    from .. import guard as ev

    def dead_lettered(rec: Recorder, e: Any) -> None:
        rec.inc(F.GUARD_DEAD_LETTERED, (e.pipeline, e.stage, e.reason))

    def fell_back(rec: Recorder, e: Any) -> None:
        rec.inc(F.GUARD_FALLBACKS, (e.pipeline, e.stage))

    return {ev.ItemDeadLettered: dead_lettered, ev.ItemFellBack: fell_back}


# ---------------------------------------------------------------- kafka
def _kafka() -> Table:
    from .. import kafka as ev

    def paused(rec: Recorder, e: Any) -> None:
        where = (e.topic, str(e.partition))
        rec.set(F.KAFKA_PAUSED, where, 1.0)
        rec.inc(F.KAFKA_PAUSES, (*where, "+".join(sorted(e.reasons)) or "unknown"))
        _hold(rec, where, e.reasons)

    def reasons_changed(rec: Recorder, e: Any) -> None:
        _hold(rec, (e.topic, str(e.partition)), e.reasons)

    def resumed(rec: Recorder, e: Any) -> None:
        where = (e.topic, str(e.partition))
        rec.set(F.KAFKA_PAUSED, where, 0.0)
        rec.inc(F.KAFKA_RESUMES, where)
        _hold(rec, where, ())

    def gap_held(rec: Recorder, e: Any) -> None:
        rec.set(F.KAFKA_GAP_HELD, (e.topic, str(e.partition)), 1.0)

    def gap_released(rec: Recorder, e: Any) -> None:
        rec.set(F.KAFKA_GAP_HELD, (e.topic, str(e.partition)), 0.0)

    def committed(rec: Recorder, e: Any) -> None:
        for topic in {topic for topic, _partition, _offset in e.offsets}:
            rec.inc(F.KAFKA_COMMITS, (topic,))

    def commit_failed(rec: Recorder, e: Any) -> None:
        rec.inc(F.KAFKA_COMMIT_FAILURES, (e.source,))

    def lag(rec: Recorder, e: Any) -> None:
        for p in e.partitions:
            where = (p.topic, str(p.partition))
            if p.broker is not None:
                rec.set(F.KAFKA_LAG, (*where, "broker"), float(p.broker))
            elif e.final:  # unknown at the close: an earlier sample's value would lie
                rec.discard(F.KAFKA_LAG, (*where, "broker"))
            rec.set(F.KAFKA_LAG, (*where, "in_flight"), float(p.in_flight))
            if e.final:  # the source closed: it pauses and holds nothing any more
                for family in (F.KAFKA_PAUSED, F.KAFKA_GAP_HELD):
                    if rec.get(family, where):
                        rec.set(family, where, 0.0)
                _hold(rec, where, ())

    def revoked(rec: Recorder, e: Any) -> None:
        # Gauges of partitions this process no longer owns would lie; their owner reports.
        for topic, partition in e.partitions:
            where = (topic, str(partition))
            rec.discard(F.KAFKA_PAUSED, where)
            rec.discard(F.KAFKA_GAP_HELD, where)
            for reason in _reasons_of(rec, where):
                rec.discard(F.KAFKA_PAUSE_REASONS, (*where, reason))
            rec.discard(F.KAFKA_LAG, (*where, "broker"))
            rec.discard(F.KAFKA_LAG, (*where, "in_flight"))

    def assigned(rec: Recorder, e: Any) -> None:
        for topic, partition in e.paused:
            rec.set(F.KAFKA_PAUSED, (topic, str(partition)), 1.0)

    def dead_lettered(rec: Recorder, e: Any) -> None:
        rec.inc(F.KAFKA_DEAD_LETTERED, (e.topic,))

    def throttle(rec: Recorder, e: Any) -> None:
        rec.set(F.KAFKA_THROTTLE_RATE, (e.source,), float(e.rate))

    def batch_committed(rec: Recorder, e: Any) -> None:
        rec.inc(F.KAFKA_TRANSACTION_BATCHES, (e.topic, "committed"))

    def batch_aborted(rec: Recorder, e: Any) -> None:
        rec.inc(F.KAFKA_TRANSACTION_BATCHES, (e.topic, str(e.outcome)))

    return {
        ev.PartitionPaused: paused,
        ev.PauseReasonsChanged: reasons_changed,
        ev.PartitionResumed: resumed,
        ev.PartitionGapHeld: gap_held,
        ev.PartitionGapReleased: gap_released,
        ev.OffsetsCommitted: committed,
        ev.CommitFailed: commit_failed,
        ev.LagSampled: lag,
        ev.PartitionsRevoked: revoked,
        ev.PartitionsAssigned: assigned,
        ev.RecordDeadLettered: dead_lettered,
        ev.ThrottleRateChanged: throttle,
        ev.BatchCommitted: batch_committed,
        ev.BatchAborted: batch_aborted,
    }


def _reasons_of(rec: Recorder, where: tuple[str, str]) -> list[str]:
    return [labels[2] for labels in rec.values(F.KAFKA_PAUSE_REASONS) if labels[:2] == where]


def _hold(rec: Recorder, where: tuple[str, str], reasons: tuple[str, ...]) -> None:
    """Set the reason gauges of one partition: 1 for each reason that holds it now, 0 for
    the reasons that held it before and no longer do."""
    for reason in _reasons_of(rec, where):
        if reason not in reasons:
            rec.set(F.KAFKA_PAUSE_REASONS, (*where, reason), 0.0)
    for reason in reasons:
        rec.set(F.KAFKA_PAUSE_REASONS, (*where, reason), 1.0)


# ---------------------------------------------------------------- adaptive concurrency
def _adaptive() -> Table:
    from .. import adaptive as ev

    def changed(rec: Recorder, e: Any) -> None:
        rec.set(F.ADAPTIVE_LIMIT, (e.source,), float(e.limit))
        rec.inc(F.ADAPTIVE_LIMIT_CHANGES, (e.source, "decrease" if e.limit < e.previous
                                           else "increase"))

    return {ev.LimitChanged: changed}


_LOADERS: dict[str, Callable[[], Table]] = {
    "core": _core,
    "breaker": _breaker,
    "ratelimit": _ratelimit,
    "retry": _retry,
    "guard": _guard,
    "kafka": _kafka,
    "adaptive": _adaptive,
}
_tables: dict[str, Table] = {}


def _table(area: str) -> Table:
    table = _tables.get(area)
    if table is None:
        loader = _LOADERS.get(area)
        try:
            table = loader() if loader is not None else {}
        except (ImportError, AttributeError) as exc:  # optional area or dependency missing
            _log.debug("no metrics for streamguard.%s: %s", area, exc)
            table = {}
        _tables[area] = table
    return table


def _area(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "streamguard" else None


def resolve_handler(cls: type) -> Handler | None:
    """The handler of events of class *cls* (or of its nearest known base), if any."""
    for klass in cls.__mro__:
        area = _area(klass.__module__)
        if area is None:
            continue
        handler = _table(area).get(klass)
        if handler is not None:
            return handler
    return None
