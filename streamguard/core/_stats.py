"""Frozen statistics records, read by metrics exporters, the CLI's live view and tests."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StageStatistics:
    """A snapshot of one stage's counters.

    Attributes:
        pipeline: name of the pipeline the stage runs in.
        stage: name of the stage (``"map"``, ``"buffer"`` or the ``name=`` given to it).
        received: items received from upstream.
        emitted: items emitted downstream.
        dropped: items dropped on purpose (filter, overflow strategy, take); each was completed.
        rejected: items rejected by a limiter or routed to a dead-letter sink; each was completed.
        failed: items that failed and were reported failed to their source.
        in_flight: items currently being processed (async calls under way).
        buffered: items held, waiting for downstream demand.
        capacity: the bound on ``buffered + in_flight`` (0 for stages that hold nothing).
        demand: outstanding downstream demand (requested and not yet emitted).
    """

    pipeline: str
    stage: str
    received: int
    emitted: int
    dropped: int
    rejected: int
    failed: int
    in_flight: int
    buffered: int
    capacity: int
    demand: int
