"""What the live view and the final summary show, read from a :class:`Telemetry`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..metrics import Telemetry
from ..metrics import _families as F
from ..metrics._handlers import BREAKER_STATE_VALUES

_STATE_NAMES = {value: name for name, value in BREAKER_STATE_VALUES.items()}


@dataclass(frozen=True, slots=True)
class StageRow:
    """One stage: counters, items received per second since the last report, and how full
    it is (``(buffered + in_flight) / capacity``; ``None`` for stages that hold nothing)."""

    pipeline: str
    stage: str
    received: int
    emitted: int
    dropped: int
    rejected: int
    failed: int
    rate: float
    fill: float | None
    running: bool


@dataclass(frozen=True, slots=True)
class Report:
    """A snapshot for the live view and the summary."""

    elapsed: float
    stages: tuple[StageRow, ...]
    breakers: dict[str, str] = field(default_factory=dict)
    breaker_trips: dict[str, int] = field(default_factory=dict)
    breaker_probes: dict[str, int] = field(default_factory=dict)
    limiters: dict[str, dict[str, int]] = field(default_factory=dict)
    paused: tuple[tuple[str, str], ...] = ()
    lag: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    pauses: int = 0
    resumes: int = 0
    commits: int = 0
    retries: int = 0
    budget_exhausted: int = 0
    dead_lettered_by_stage: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    dead_lettered_records: dict[str, int] = field(default_factory=dict)


class Reporter:
    """Builds :class:`Report` snapshots; remembers the last one to compute rates."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self._started = time.monotonic()
        self._last: dict[tuple[str, str], tuple[float, int]] = {}

    def report(self) -> Report:
        """Read everything now."""
        now = time.monotonic()
        values = self.telemetry.values
        return Report(
            elapsed=now - self._started,
            stages=tuple(self._rows(now)),
            breakers={name: _STATE_NAMES.get(v, "unknown")
                      for (name,), v in sorted(values(F.BREAKER_STATE).items())},
            breaker_trips=_transitions_to(values(F.BREAKER_TRANSITIONS), ("open", "forced_open")),
            breaker_probes=_transitions_to(values(F.BREAKER_TRANSITIONS), ("half_open",)),
            limiters=_nested(values(F.RATELIMIT_DECISIONS)),
            paused=tuple(sorted((t, p) for (t, p), v in values(F.KAFKA_PAUSED).items() if v)),
            lag=_lag(values(F.KAFKA_LAG)),
            pauses=_total(values(F.KAFKA_PAUSES)),
            resumes=_total(values(F.KAFKA_RESUMES)),
            commits=_total(values(F.KAFKA_COMMITS)),
            retries=_total(values(F.RETRY_ATTEMPTS)),
            budget_exhausted=_total(values(F.RETRY_BUDGET_EXHAUSTED)),
            dead_lettered_by_stage=_by_stage(values(F.GUARD_DEAD_LETTERED)),
            dead_lettered_records={topic: int(n) for (topic,), n
                                   in sorted(values(F.KAFKA_DEAD_LETTERED).items())},
        )

    def _rows(self, now: float) -> list[StageRow]:
        rows = []
        for sample in self.telemetry.stages():
            s = sample.statistics
            key = (s.pipeline, s.stage)
            then, before = self._last.get(key, (self._started, 0))
            self._last[key] = (now, s.received)
            rate = (s.received - before) / (now - then) if now > then else 0.0
            fill = (s.buffered + s.in_flight) / s.capacity if s.capacity else None
            rows.append(StageRow(s.pipeline, s.stage, s.received, s.emitted, s.dropped,
                                 s.rejected, s.failed, rate if sample.running else 0.0,
                                 fill if sample.running else None, sample.running))
        return rows


def _total(series: dict[tuple[str, ...], float]) -> int:
    return int(sum(series.values()))


def _transitions_to(
    series: dict[tuple[str, ...], float], states: tuple[str, ...]
) -> dict[str, int]:
    counts: dict[str, int] = {}
    for (breaker, _from, to), count in series.items():
        if to in states:
            counts[breaker] = counts.get(breaker, 0) + int(count)
    return counts


def _nested(series: dict[tuple[str, ...], float]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for (outer, inner), count in sorted(series.items()):
        out.setdefault(outer, {})[inner] = int(count)
    return out


def _by_stage(
    series: dict[tuple[str, ...], float]
) -> dict[tuple[str, str], dict[str, int]]:
    out: dict[tuple[str, str], dict[str, int]] = {}
    for (pipeline, stage, reason), count in sorted(series.items()):
        out.setdefault((pipeline, stage), {})[reason] = int(count)
    return out


def _lag(series: dict[tuple[str, ...], float]) -> dict[tuple[str, str], dict[str, int]]:
    out: dict[tuple[str, str], dict[str, int]] = {}
    for (topic, partition, kind), value in sorted(series.items()):
        out.setdefault((topic, partition), {})[kind] = int(value)
    return out


# ---------------------------------------------------------------- text renderings
def status_line(report: Report) -> str:
    """One line for ``--view plain``: elapsed time, per-stage rate, guardians."""
    parts = [f"[{report.elapsed:6.1f}s]"]
    for row in report.stages:
        if row.running:
            fill = f" {row.fill:.0%}" if row.fill is not None else ""
            parts.append(f"{row.stage} {row.rate:,.0f}/s{fill}")
    parts.extend(f"breaker {name}={state}" for name, state in report.breakers.items())
    if report.paused:
        parts.append(f"paused {len(report.paused)}")
    total_lag = sum(kinds.get("broker", 0) for kinds in report.lag.values())
    if report.lag:
        parts.append(f"lag {total_lag}")
    return "  ".join(parts)


def summary_text(report: Report, outcome: str) -> str:
    """The end-of-run summary as aligned plain text."""
    lines = [f"{outcome} after {report.elapsed:.1f} s"]
    if report.stages:
        header = ("pipeline", "stage", "received", "emitted", "dropped", "rejected", "failed")
        rows = [(r.pipeline, r.stage, *(f"{n:,}" for n in (
            r.received, r.emitted, r.dropped, r.rejected, r.failed))) for r in report.stages]
        lines.extend(_table(header, rows))
    for name, state in report.breakers.items():
        trips = report.breaker_trips.get(name, 0)
        lines.append(f"breaker {name}: {state}, opened {trips} time{'s' * (trips != 1)}")
    for name, results in report.limiters.items():
        counts = ", ".join(f"{results.get(k, 0):,} {k}" for k in ("allowed", "delayed",
                                                                   "rejected"))
        lines.append(f"rate limit {name}: {counts}")
    if report.retries or report.budget_exhausted:
        lines.append(f"retries: {report.retries:,} attempts, budget exhausted "
                     f"{report.budget_exhausted:,} times")
    lines.extend(_dead_letter_lines(report))
    if report.pauses or report.resumes or report.commits or report.lag:
        lines.append(f"kafka: {report.pauses} pauses, {report.resumes} resumes, "
                     f"{report.commits} commits, {len(report.paused)} partitions paused now")
    return "\n".join(lines)


def _dead_letter_lines(report: Report) -> list[str]:
    # Two places count dead letters: a guarded sink (whatever its dead-letter sink is) and a
    # Kafka source (records written to its dead-letter topic). A guarded sink whose
    # dead-letter sink is the source's counts the same item in both, so they are not summed.
    lines = []
    for (pipeline, stage), reasons in report.dead_lettered_by_stage.items():
        total = sum(reasons.values())
        detail = ", ".join(f"{n:,} {reason.replace('_', ' ')}" for reason, n in reasons.items())
        lines.append(f"dead-lettered by {pipeline}/{stage}: {total:,} ({detail})")
    for topic, count in report.dead_lettered_records.items():
        lines.append(f"dead-lettered records of topic {topic}: {count:,} "
                     "(written to its dead-letter topic)")
    return lines


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]

    def fmt(cells: tuple[str, ...]) -> str:
        left = [f"{c:<{w}}" for c, w in zip(cells[:2], widths[:2], strict=True)]
        right = [f"{c:>{w}}" for c, w in zip(cells[2:], widths[2:], strict=True)]
        return "  ".join(left + right).rstrip()

    return [fmt(header), *(fmt(r) for r in rows)]


def summary_json(report: Report, outcome: str) -> dict[str, Any]:
    """The summary as a JSON-ready dict."""
    return {
        "outcome": outcome,
        "elapsed_seconds": round(report.elapsed, 3),
        "stages": [{"pipeline": r.pipeline, "stage": r.stage, "received": r.received,
                    "emitted": r.emitted, "dropped": r.dropped, "rejected": r.rejected,
                    "failed": r.failed} for r in report.stages],
        "breakers": {name: {"state": state, "trips": report.breaker_trips.get(name, 0)}
                     for name, state in report.breakers.items()},
        "limiters": report.limiters,
        "dead_letters": {
            "stages": {f"{p}/{s}": {"total": sum(reasons.values()), "reasons": reasons}
                       for (p, s), reasons in report.dead_lettered_by_stage.items()},
            "kafka_topics": report.dead_lettered_records,
        },
        "retries": report.retries,
        "retry_budget_exhausted": report.budget_exhausted,
        "kafka": {"pauses": report.pauses, "resumes": report.resumes,
                  "commits": report.commits,
                  "paused": [f"{t}[{p}]" for t, p in report.paused],
                  "lag": {f"{t}[{p}]": kinds for (t, p), kinds in report.lag.items()}},
    }
