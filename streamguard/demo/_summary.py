"""The demo's summary: the ledger's counts and what the guardians did (from the metrics)."""

from __future__ import annotations

from typing import Any

from ._ledger import Ledger

KEYS = ("items_in", "items_out", "dead_lettered", "dropped", "lost", "limiter_delayed",
        "breaker_trips", "partitions_paused", "partitions_resumed")
"""The keys ``streamguard demo --json`` always reports."""


def demo_summary(report: Any, ledger: Ledger, outcome: str = "completed") -> dict[str, Any]:
    """The summary object of ``streamguard demo --json`` (*report*: the CLI's metrics
    snapshot, with ``limiters``, ``breaker_trips``, ``breaker_probes``, ``pauses`` …).

    ``finished`` is false when the demo was stopped early: its unprocessed orders then count
    in ``lost`` although they wait, uncommitted, in the topic.
    """
    limiters = report.limiters.values()
    return {
        "source": ledger.source,
        "finished": outcome == "completed",
        **ledger.counts(),
        "limiter_delayed": sum(r.get("delayed", 0) for r in limiters),
        "limiter_rejected": sum(r.get("rejected", 0) for r in limiters),
        "breaker_trips": sum(report.breaker_trips.values()),
        "breaker_probes": sum(report.breaker_probes.values()),
        "partitions_paused": report.pauses,
        "partitions_resumed": report.resumes,
        "retries": report.retries,
    }


def demo_text(summary: dict[str, Any]) -> str:
    """The summary as a few sentences."""
    s = summary
    lines = [
        f"orders in {s['items_in']:,}: delivered {s['items_out']:,}, dead-lettered "
        f"{s['dead_lettered']:,}, dropped by validation {s['dropped']:,}, lost {s['lost']:,}",
        f"rate limiter: delayed {s['limiter_delayed']:,}, rejected {s['limiter_rejected']:,}",
        f"circuit breaker: opened {s['breaker_trips']} times, probed "
        f"{s['breaker_probes']} times; {s['retries']:,} retries",
    ]
    if not s["finished"] and s["lost"]:
        lines.append(f"stopped early: {s['lost']:,} orders were not processed (on Kafka they "
                     "stay in the topic, uncommitted)")
    if s["source"] == "kafka":
        lines.append(f"kafka: partitions paused {s['partitions_paused']} times, resumed "
                     f"{s['partitions_resumed']} times")
    return "\n".join(lines)
