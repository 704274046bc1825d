"""Four OS processes share one Redis limit; then Redis is killed under them."""

from __future__ import annotations

import time
from typing import Any

import pytest

from streamguard.servers import RedisServer

from .. import _processes

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROCESSES = 4


def run_workers(args: dict[str, Any], during: Any = None) -> list[dict[str, Any]]:
    """Start the workers, call *during* at the kill time if given, collect their reports."""
    return _processes.run_workers("tests.ratelimit._worker", args, processes=PROCESSES,
                                  timeout=60, during=during)


def most_in_window(stamps: list[float], width: float) -> int:
    """The most admissions in any closed window of *width* seconds."""
    best = lo = 0
    for hi, end in enumerate(stamps):
        while end - stamps[lo] > width:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


# Bands that hold on a busy 2-core machine (#9, item 9; checked with two
# `python -c "while True: pass"` beside the run). The processes may start late and are
# scheduled unevenly, so nothing is measured from the planned start: what is checked is the
# safety property (the processes together never exceed the shared limit in any window) and
# liveness over the span they actually ran. Admission times are stamped by each client after
# the reply, so a window may see up to JITTER seconds of extra refill.
JITTER = 0.05


def test_four_processes_share_one_limit(redis_server: RedisServer) -> None:
    rate, burst, seconds = 400.0, 40.0, 5.0
    start = time.time() + 2.0  # time enough for every process to import and connect
    reports = run_workers({"url": f"{redis_server.url}?prefix=dist{start}:", "name": "shared",
                           "rate": rate, "burst": burst, "mode": "closed", "pause": 0.0,
                           "start": start, "end": start + seconds})
    stamps = sorted(t for r in reports for t in r["admitted"])
    span = stamps[-1] - stamps[0]
    print(f"admitted {len(stamps)} of {rate * seconds + burst:.0f}; first at "
          f"+{stamps[0] - start:.4f} s, over {span:.3f} s")
    # Safety: never more than the shared limit allows, whatever the scheduling.
    assert len(stamps) <= burst + rate * (seconds + JITTER)
    for width in (0.1, 1.0):
        assert most_in_window(stamps, width) <= burst + rate * (width + JITTER)
    # Liveness: while they ran, the processes together kept the limit busy.
    assert len(stamps) >= 0.95 * rate * span
    assert span >= 0.8 * seconds
    assert all(len(r["admitted"]) > 0 for r in reports)  # every process got its share
    assert all(r["outages"] == 0 for r in reports)


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_killing_redis_mid_run_follows_the_failure_mode(own_redis: RedisServer,
                                                         mode: str) -> None:
    start = time.time() + 2.0
    kill_at = start + 1.0
    reports = run_workers({"url": f"{own_redis.url}?timeout=0.2", "name": "shared",
                           "rate": 100.0, "burst": 10.0, "mode": mode, "pause": 0.002,
                           "start": start, "end": start + 2.5, "kill_at": kill_at},
                          during=own_redis.kill)
    stamps = sorted(t for r in reports for t in r["admitted"])
    before = [t for t in stamps if t < kill_at]
    after = sum(1 for t in stamps if t > kill_at + 0.1)
    # While Redis was up the limit held (see the bands above), and it was in use.
    assert len(before) <= 10 + 100 * (1.0 + JITTER)
    assert len(before) >= 0.9 * 100 * (kill_at - before[0])
    assert all(r["outages"] == 1 for r in reports)
    assert all(r["outage_decisions"] > 0 for r in reports)
    if mode == "open":
        assert after > 100 * 1.4  # more than the limit would have let through
    else:
        assert after == 0
        assert all(r["refused"] > 0 for r in reports)
