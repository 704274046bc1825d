"""Four OS processes share one breaker through one Redis key: one failure window opens all of
them, and each half-open cycle admits one probe among the four."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

from streamguard.servers import RedisServer

from .. import _processes

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROCESSES = 4
WINDOW = 20
OPEN_S = 0.5


def run_workers(args: dict[str, Any]) -> list[dict[str, Any]]:
    return _processes.run_workers("tests.breaker._shared_worker", args,
                                  processes=PROCESSES, timeout=90)


def test_four_processes_open_on_one_window_and_probe_once_per_cycle() -> None:
    with RedisServer() as redis:
        reports = run_workers({
            "url": redis.url, "name": "orders-api", "window": WINDOW, "open_s": OPEN_S,
            "call_s": 0.005, "probe_for": 2.0, "start": time.time() + 3.0})
    failed = [r["failed"] for r in reports]
    # One breaker per process would need 4 x 20 = 80 failed calls. Shared: one window of 20,
    # plus the calls a process started before the opening reached it (its next answer; a
    # band for a loaded 2-core machine, far below 80).
    assert WINDOW <= sum(failed) <= WINDOW + PROCESSES * 5, failed
    for r in reports:
        assert r["opened"]
        first = r["transitions"][0]
        assert first[:2] == ["CLOSED", "OPEN"]
        assert first[2].startswith(f"shared: failure rate 100% >= 50% over {WINDOW} calls")
    # Every half-open cycle admitted one probe among the four: each probe failed, which
    # re-opened the shared breaker for OPEN_S on Redis's clock before the next could go.
    probes = sorted(t for r in reports for t in r["probes"])
    assert len(probes) >= 2, probes
    gaps = [b - a for a, b in itertools.pairwise(probes)]
    assert min(gaps) >= OPEN_S * 0.9, gaps
