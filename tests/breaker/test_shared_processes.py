"""Four OS processes share one breaker through one Redis key: one failure window opens all of
them, and each half-open cycle admits one probe among the four."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from streamguard.servers import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = 4
WINDOW = 20
OPEN_S = 0.5


def run_workers(args: dict[str, Any]) -> list[dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONASYNCIODEBUG"}
    env["PYTHONPATH"] = str(ROOT)
    workers = [subprocess.Popen([sys.executable, "-m", "tests.breaker._shared_worker",
                                 json.dumps(args)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
               for _ in range(PROCESSES)]
    try:
        reports = []
        for worker in workers:
            out, err = worker.communicate(timeout=90)
            assert worker.returncode == 0, err.decode()
            reports.append(json.loads(out))
        return reports
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()


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
