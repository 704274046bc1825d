"""Run one worker module in several OS processes and collect their JSON reports (the
distributed limiter and shared-breaker tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def run_workers(module: str, args: dict[str, Any], *, processes: int, timeout: float,
                during: Callable[[], None] | None = None) -> list[dict[str, Any]]:
    """Start *processes* copies of ``python -m module json(args)``; call *during* at
    ``args["kill_at"]`` (wall-clock time) if given; return each one's report (its stdout as
    JSON). A worker that fails fails the test with its stderr."""
    # The workers time themselves: asyncio debug mode would slow them for nothing.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONASYNCIODEBUG"}
    env["PYTHONPATH"] = str(ROOT)
    workers = [subprocess.Popen([sys.executable, "-m", module, json.dumps(args)], cwd=ROOT,
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for _ in range(processes)]
    try:
        if during is not None:
            time.sleep(max(0.0, args["kill_at"] - time.time()))
            during()
        reports = []
        for worker in workers:
            out, err = worker.communicate(timeout=timeout)
            assert worker.returncode == 0, err.decode()
            reports.append(json.loads(out))
        return reports
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
