"""The summary of ``streamguard run --workers N``: one line per worker (its pids, restarts,
metrics endpoint and how each of its processes ended) and the stage table summed over the
summaries the workers wrote. A process killed outright (kill -9) writes none: its counts are
missing from the sums, and the summary says so."""

from __future__ import annotations

import json
from typing import Any

from ._report import _table
from ._workers import Supervisor, Worker, describe_exit

_COUNTERS = ("received", "emitted", "dropped", "rejected", "failed")
_KAFKA_COUNTERS = ("pauses", "resumes", "commits")


def combine(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum the stage counters (per pipeline and stage, in order of first appearance) and the
    Kafka counters of several worker summaries."""
    stages: dict[tuple[str, str], dict[str, Any]] = {}
    kafka = dict.fromkeys(_KAFKA_COUNTERS, 0)
    for summary in summaries:
        for row in summary.get("stages", ()):
            key = (row["pipeline"], row["stage"])
            total = stages.setdefault(key, {"pipeline": key[0], "stage": key[1],
                                            **dict.fromkeys(_COUNTERS, 0)})
            for counter in _COUNTERS:
                total[counter] += int(row.get(counter, 0))
        for counter in _KAFKA_COUNTERS:
            kafka[counter] += int(summary.get("kafka", {}).get(counter, 0))
    return {"stages": list(stages.values()), "kafka": kafka}


def _worker_json(worker: Worker) -> dict[str, Any]:
    return {"index": worker.index, "pids": worker.pids, "restarts": worker.restarts.total,
            "exit_codes": worker.exits, "metrics": worker.metrics,
            "summaries": worker.summaries}


def _ended(worker: Worker) -> str:
    return ", then ".join(describe_exit(code) for code in worker.exits) or "never started"


def _left_aligned(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(c) for c in column) for column in zip(header, *rows, strict=True)]
    return ["  ".join(f"{c:<{w}}" for c, w in zip(cells, widths, strict=True)).rstrip()
            for cells in (header, *rows)]


def print_summary(supervisor: Supervisor, code: int) -> None:
    """Print the summary of a finished run (*code*: its exit code) on stdout: text, or one
    JSON object with ``--json``."""
    elapsed = supervisor.elapsed
    workers = supervisor.workers
    summaries = [s for w in workers for s in w.summaries]
    combined = combine(summaries)
    drain = supervisor.drain
    label = supervisor.label
    if supervisor.failure is None and not supervisor.stopping:
        label = "completed"
    if supervisor.plan.json:
        print(json.dumps({"outcome": label, "exit_code": code,
                          "elapsed_seconds": round(elapsed, 3),
                          "workers": [_worker_json(w) for w in workers], **combined,
                          "drain": None if drain is None else drain.json()}), flush=True)
        return
    restarts = sum(w.restarts.total for w in workers)
    lines = [f"{label} after {elapsed:.1f} s: {len(workers)} workers, "
             f"{restarts} restart{'s' * (restarts != 1)}"]
    lines.extend(_left_aligned(("worker", "pids", "restarts", "metrics", "ended"), [
        (str(w.index), ", ".join(map(str, w.pids)), str(w.restarts.total), w.metrics or "-",
         _ended(w)) for w in workers]))
    missing = sum(len(w.pids) - len(w.summaries) for w in workers)
    if combined["stages"]:
        lines.append("stages, summed over the workers' summaries" + (
            f" ({missing} process{'es' * (missing != 1)} killed outright wrote none)"
            if missing else "") + ":")
        lines.extend(_table(("pipeline", "stage", *_COUNTERS), [
            (row["pipeline"], row["stage"], *(f"{row[c]:,}" for c in _COUNTERS))
            for row in combined["stages"]]))
    kafka = combined["kafka"]
    if any(kafka.values()):
        lines.append(f"kafka: {kafka['pauses']} pauses, {kafka['resumes']} resumes, "
                     f"{kafka['commits']} commits")
    if drain is not None:
        lines.append(drain.text())
    print("\n".join(lines), flush=True)
