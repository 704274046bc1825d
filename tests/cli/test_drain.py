"""Ctrl-C, SIGTERM and ``--duration`` drain under ``streamguard run``: real processes, real
signals. Items in flight finish and are acknowledged; at ``--drain-timeout`` or on a second
signal what is left is abandoned, never lost silently."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time

import pytest

from ._runner import TARGETS, cli, spawn


def _acks(stdout: str) -> dict[str, int]:
    match = re.search(r"acks issued=(\d+) done=(\d+) abandoned=(\d+) unsettled=(\d+) "
                      r"started=(\d+)", stdout)
    assert match, stdout[-2000:]
    return dict(zip(("issued", "done", "abandoned", "unsettled", "started"),
                    map(int, match.groups()), strict=True))


def _started(proc: subprocess.Popen[str]) -> str:
    """Wait until the target's work has begun; return its first line. (``communicate``
    reads the pipe itself, so lines already buffered here are not in what it returns.)"""
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("start "), line
    return line


@pytest.mark.parametrize(("signum", "code", "label"), [
    (signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_a_signal_drains_in_flight_items_to_completion(signum: int, code: int,
                                                       label: str) -> None:
    with spawn("run", f"{TARGETS}:draining") as proc:
        first = _started(proc)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    out = first + out
    assert proc.returncode == code, err
    assert f"streamguard: {label}: draining (up to 30 s" in err
    acks = _acks(out)
    # the source stopped; everything it had handed out was worked on, finished and was
    # acknowledged
    assert acks["issued"] > 0
    assert acks == {"issued": acks["issued"], "done": acks["issued"], "abandoned": 0,
                    "unsettled": 0, "started": acks["issued"]}
    assert f"{label} after" in out
    assert re.search(r"^drain: finished in \d+\.\d s \(timeout 30 s\)$", out, re.MULTILINE)
    assert "Traceback" not in err


def test_duration_drains_and_exits_0() -> None:
    result = cli("run", f"{TARGETS}:draining", "--duration", "1", "--json")
    assert result.code == 0, result.stderr
    acks = _acks(result.stdout)
    assert acks["issued"] == acks["done"] > 0
    assert acks["abandoned"] == acks["unsettled"] == 0
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["outcome"] == "stopped by --duration"
    assert summary["drain"]["finished"] is True
    assert summary["drain"]["timeout_seconds"] == 30


def test_the_drain_timeout_abandons_what_is_left() -> None:
    with spawn("run", f"{TARGETS}:draining_slowly", "--drain-timeout", "1") as proc:
        first = _started(proc)
        proc.send_signal(signal.SIGINT)
        began = time.monotonic()
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - began
    out = first + out
    assert proc.returncode == 130, err
    acks = _acks(out)
    # the work takes 20 s an item: nothing finished, everything handed out was abandoned
    assert acks["done"] == 0
    assert acks["abandoned"] == acks["issued"] > 0
    assert acks["unsettled"] == 0
    assert "drain: the 1 s timeout expired" in out
    assert took < 15  # the 20 s items did not hold the exit


def test_a_second_signal_stops_at_once() -> None:
    with spawn("run", f"{TARGETS}:draining_slowly") as proc:
        first = _started(proc)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        began = time.monotonic()
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - began
    out = first + out
    assert proc.returncode == 130, err
    acks = _acks(out)
    assert acks["abandoned"] == acks["issued"] > 0
    assert acks["unsettled"] == 0
    assert "drain: stopped at once by a second signal" in out
    assert took < 15  # not the 30 s drain timeout, nor the 20 s items


def test_a_stream_target_is_drained_through_its_pipeline() -> None:
    with spawn("run", f"{TARGETS}:slow_stream", "--json") as proc:
        first = _started(proc)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    summary = json.loads((first + out).strip().splitlines()[-1])
    stages = {s["stage"]: s for s in summary["stages"]}
    # whatever entered the work stage left it, and reached the sink
    assert stages["work"]["received"] == stages["work"]["emitted"] > 0
    assert stages["store"]["received"] == stages["work"]["emitted"]
    assert summary["drain"]["finished"] is True
