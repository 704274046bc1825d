"""Every example runs under ``streamguard run`` as a user would start it, to its end."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ._runner import ROOT, argv, env

# example -> a phrase of its own output that shows it did its job
EXAMPLES = {
    "quickstart": "orders priced",
    "payments_flaky": "breaker",
    "per_consumer_limits": "429",
    "redis_shared_limit": "redis",
    "kafka_slow_sink": "paused",
    "retry_storm": "guarded",
    "kafka_windows": '"late": 5',
}


def test_every_example_is_listed() -> None:
    on_disk = {p.stem for p in (ROOT / "examples").glob("*.py")}
    assert on_disk == set(EXAMPLES)


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_runs_under_streamguard_run(name: str, tmp_path: Path) -> None:
    environment = env()
    environment["STREAMGUARD_PLOT"] = str(tmp_path / "plot.png")
    proc = subprocess.run(
        argv("run", f"examples/{name}.py", "--json"), cwd=ROOT, env=environment,
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["outcome"] == "completed", summary
    assert EXAMPLES[name].lower() in proc.stdout.lower(), proc.stdout[-2000:]
