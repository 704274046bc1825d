"""The demo's summary: the required keys, computed from real counters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True, slots=True)
class DemoResult:
    """What a demo run counted. ``lost`` is what entered and is accounted for nowhere."""

    source: str
    items_in: int
    items_out: int
    dead_lettered: int
    dropped: int

    @property
    def lost(self) -> int:
        """Items in minus items out, dead-lettered and dropped on purpose (0 when correct)."""
        return self.items_in - self.items_out - self.dead_lettered - self.dropped


def demo_summary(report: Any, outcome: str, result: DemoResult | None) -> dict[str, Any]:
    """The summary object of ``streamguard demo --json``."""
    limiter_delayed = sum(r.get("delayed", 0) for r in report.limiters.values())
    limiter_rejected = sum(r.get("rejected", 0) for r in report.limiters.values())
    base = {
        "source": result.source if result else None,
        "items_in": result.items_in if result else 0,
        "items_out": result.items_out if result else 0,
        "dead_lettered": result.dead_lettered if result else 0,
        "dropped": result.dropped if result else 0,
        "lost": result.lost if result else 0,
        "limiter_delayed": limiter_delayed,
        "limiter_rejected": limiter_rejected,
        "breaker_trips": sum(report.breaker_trips.values()),
        "breaker_probes": 0,
        "partitions_paused": report.pauses,
        "partitions_resumed": report.resumes,
        "retries": report.retries,
    }
    return base
