"""``streamguard run --workers N`` with targets that need no server: parsing, the restart
policy, and the supervisor as a real process — metrics endpoints, a worker killed with
SIGKILL and restarted, signals forwarded, a crash loop that ends, a supervisor killed.
(On Apache Kafka: tests/kafka/test_workers.py.)"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import pytest

from streamguard.cli import main
from streamguard.cli._restarts import RestartPolicy, Restarts
from streamguard.core import ConfigError

from ._runner import TARGETS, cli, spawn

QUIET = f"{TARGETS}:quietly_draining"


# ---------------------------------------------------------------------- parsing
@pytest.mark.parametrize(("args", "message"), [
    (("--workers", "0"), "argument --workers: must be >= 1, got 0"),
    (("--workers", "-2"), "argument --workers: must be >= 1, got -2"),
    (("--workers", "three"), "argument --workers: expected a whole number of processes, "
                             "got 'three'"),
    (("--workers", "2", "--max-restarts", "-1"), "argument --max-restarts: must be >= 0, "
                                                 "got -1"),
    (("--workers", "3", "--metrics-port", "65534"),
     "--metrics-port 65534 with --workers 3 needs ports 65534..65536, above 65535"),
])
def test_bad_worker_options_are_usage_errors(args: tuple[str, ...], message: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", f"{TARGETS}:stream", *args]) == 2
    err = capsys.readouterr().err
    assert f"streamguard: error: {message}" in err, err


def test_a_target_that_cannot_load_fails_before_any_worker_starts() -> None:
    result = cli("run", f"{TARGETS}:no_such_function", "--workers", "3")
    assert result.code == 3, result
    assert "worker" not in result.stderr


# ---------------------------------------------------------------------- restart policy
def test_restarts_back_off_and_give_up_after_max_restarts_in_a_row() -> None:
    restarts = Restarts(RestartPolicy(max_restarts=3, backoff=0.5, max_backoff=1.5))
    assert [restarts.died(1.0) for _ in range(4)] == [0.5, 1.0, 1.5, None]
    assert restarts.total == 3


def test_a_worker_that_ran_long_enough_counts_afresh() -> None:
    restarts = Restarts(RestartPolicy(max_restarts=1, stable_after=30.0))
    assert restarts.died(0.1) == 0.5
    assert restarts.died(30.0) == 0.5  # ran 30 s: not a crash loop
    assert restarts.died(29.9) is None
    assert restarts.total == 2


def test_max_restarts_0_never_restarts() -> None:
    assert Restarts(RestartPolicy(max_restarts=0)).died(100.0) is None


@pytest.mark.parametrize(("field", "value", "message"), [
    ("max_restarts", -1, "max_restarts must be >= 0, got -1"),
    ("backoff", 0.0, "backoff must be > 0 and finite, got 0.0"),
    ("stable_after", float("inf"), "stable_after must be > 0 and finite, got inf"),
])
def test_the_policy_names_a_bad_value(field: str, value: float, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        RestartPolicy(**{field: value})  # type: ignore[arg-type]


# ---------------------------------------------------------------------- the supervisor
class Lines:
    """The lines of a pipe, read by a thread, waited for with a deadline."""

    def __init__(self, pipe: IO[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe: IO[str]) -> None:
        for line in pipe:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, pattern: str, *, within: float = 30.0,
                 seen: bool = False) -> re.Match[str]:
        """The first line from now on (with *seen*: also among those already read) that
        matches *pattern*."""
        for old in self.seen if seen else ():
            if match := re.search(pattern, old):
                return match
        deadline = time.monotonic() + within
        while True:
            try:
                line = self._queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line matched {pattern!r} within {within} s:\n"
                                     + "".join(self.seen)) from None
            if line is None:
                raise AssertionError(f"the pipe closed before {pattern!r}:\n"
                                     + "".join(self.seen))
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def rest(self) -> str:
        """Everything, once the process has exited."""
        self._thread.join(timeout=30)
        while (line := self._queue.get_nowait() if not self._queue.empty() else None):
            self.seen.append(line)
        return "".join(self.seen)


@dataclass
class Supervisor:
    proc: subprocess.Popen[str]
    out: Lines
    err: Lines

    def ready(self, pid: int) -> None:
        """Wait until the target of worker process *pid* runs (its signal handlers are set)."""
        self.out.wait_for(rf"^\[worker \d+\] ready: .*pid {pid}$", seen=True)

    def finish(self) -> tuple[str, str]:
        """Wait for the supervisor's exit; its stdout and stderr."""
        self.proc.wait(timeout=60)
        return self.out.rest(), self.err.rest()


@contextlib.contextmanager
def supervisor(*args: str) -> Iterator[Supervisor]:
    """``streamguard run ARGS`` in the background, its output read line by line."""
    with spawn("run", *args) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        yield Supervisor(proc, Lines(proc.stdout), Lines(proc.stderr))


_ENDPOINT = r"streamguard: worker (\d+) \(pid (\d+)\): metrics (http://\S+)$"


def endpoints(lines: Lines, count: int) -> dict[int, tuple[int, str]]:
    """Worker index -> (pid, metrics URL), once *count* workers have said where they serve."""
    found: dict[int, tuple[int, str]] = {}
    while len(found) < count:
        match = lines.wait_for(_ENDPOINT)
        found[int(match.group(1))] = (int(match.group(2)), match.group(3))
    return found


def acks(stdout: str) -> dict[int, list[dict[str, int]]]:
    """Per worker index, how each drained process's acks settled."""
    out: dict[int, list[dict[str, int]]] = {}
    for match in re.finditer(r"^\[worker (\d+)\] acks issued=(\d+) done=(\d+) "
                             r"abandoned=(\d+) unsettled=(\d+)", stdout, re.MULTILINE):
        index, *counts = map(int, match.groups())
        out.setdefault(index, []).append(dict(zip(("issued", "done", "abandoned",
                                                   "unsettled"), counts, strict=True)))
    return out


def gone(pid: int) -> bool:
    """True once *pid* has exited (a zombie waiting to be reaped counts as exited)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as file:
            return file.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_each_worker_serves_metrics_a_killed_one_restarts_and_sigint_drains_all() -> None:
    with supervisor(QUIET, "--workers", "2", "--metrics-port", "0", "--json") as run:
        first = endpoints(run.err, 2)
        for _pid, url in first.values():
            with urllib.request.urlopen(url, timeout=10) as response:
                assert response.status == 200
                assert "streamguard_" in response.read().decode()
        assert len({url for _, url in first.values()}) == 2  # a port each
        killed = first[0][0]
        run.ready(killed)
        os.kill(killed, signal.SIGKILL)
        run.err.wait_for(rf"worker 0 \(pid {killed}\): killed by SIGKILL after [\d.]+ s; "
                         r"restarting it in 0.5 s")
        restarted = endpoints(run.err, 1)[0][0]
        run.ready(restarted)
        run.ready(first[1][0])
        run.proc.send_signal(signal.SIGINT)
        out, err = run.finish()
    assert run.proc.returncode == 130, err
    assert "streamguard: interrupted: draining 2 workers (up to 30 s;" in err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["outcome"] == "interrupted"
    workers = summary["workers"]
    assert [w["pids"] for w in workers] == [[killed, restarted], [first[1][0]]]
    assert [w["exit_codes"] for w in workers] == [[-9, 130], [130]]
    assert [w["restarts"] for w in workers] == [1, 0]
    assert summary["drain"]["finished"] is True
    # the restarted process and the other worker drained: every ack they issued is done
    settled = acks(out)
    assert sorted(settled) == [0, 1]
    for index in (0, 1):
        [one] = settled[index]  # the killed process printed nothing
        assert one["issued"] == one["done"] > 0
        assert one["abandoned"] == one["unsettled"] == 0
    # the summed stage table counts what the drained processes counted
    stages = {s["stage"]: s for s in summary["stages"]}
    assert stages["store"]["received"] == settled[0][0]["done"] + settled[1][0]["done"]
    assert all(gone(pid) for pid in (killed, restarted, first[1][0]))


def test_sigterm_is_forwarded_and_a_second_signal_stops_the_workers_at_once() -> None:
    slow = f"{TARGETS}:quietly_draining_slowly"
    with supervisor(slow, "--workers", "2", "--json") as run:
        for pid, _ in endpoints(run.err, 2).values():
            run.ready(pid)
        run.proc.send_signal(signal.SIGTERM)
        run.err.wait_for(r"streamguard: terminated: draining 2 workers")
        time.sleep(0.5)
        run.proc.send_signal(signal.SIGTERM)
        began = time.monotonic()
        out, err = run.finish()
        took = time.monotonic() - began
    assert run.proc.returncode == 143, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert [w["exit_codes"] for w in summary["workers"]] == [[143], [143]]
    assert summary["drain"]["cancelled"] is True
    for [one] in acks(out).values():  # 20 s items: nothing finished, nothing left unsettled
        assert one["abandoned"] == one["issued"] > 0
        assert one["unsettled"] == 0
    assert took < 15  # not the 30 s drain timeout, nor the 20 s items


def test_duration_drains_every_worker_and_exits_0() -> None:
    result = cli("run", QUIET, "--workers", "2", "--duration", "2", "--json")
    assert result.code == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["outcome"] == "stopped by --duration"
    assert [w["exit_codes"] for w in summary["workers"]] == [[143], [143]]
    for [one] in acks(result.stdout).values():
        assert one["issued"] == one["done"] > 0


def test_a_crash_looping_target_ends_with_a_clear_error_and_exit_code_1() -> None:
    result = cli("run", f"{TARGETS}:fails", "--workers", "2", "--max-restarts", "1", "--json")
    assert result.code == 1, result
    assert re.search(r"streamguard: worker \d \(pid \d+\): exit code 1 \(failed\) after "
                     r"[\d.]+ s; it died 2 times in a row \(--max-restarts 1\): giving up, "
                     "draining the others", result.stderr), result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["outcome"] == "failed"
    assert max(len(w["pids"]) for w in summary["workers"]) == 2  # restarted once, no more


def test_a_usage_error_in_a_worker_is_not_restarted() -> None:
    result = cli("run", f"{TARGETS}:forgets_return", "--workers", "2", "--json")
    assert result.code == 2, result
    assert "returned None, not a Stream" in result.stderr
    assert "a restart cannot help: draining the others" in result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert [len(w["pids"]) for w in summary["workers"]] == [1, 1]


def test_workers_that_finish_are_not_restarted_and_the_summary_sums_them() -> None:
    result = cli("run", f"{TARGETS}:stream", "--workers", "2")
    assert result.code == 0, result
    assert result.stdout.startswith("completed after ")
    assert "0 restarts" in result.stdout
    # each worker ran the 25 items; the table sums both
    assert re.search(r"^stream\s+no-fives\s+50\s+40\s+10\s+0\s+0$", result.stdout,
                     re.MULTILINE), result.stdout


def test_one_worker_is_the_plain_command() -> None:
    plain, one = cli("run", f"{TARGETS}:stream"), cli("run", f"{TARGETS}:stream", "--workers", "1")
    assert one.code == plain.code == 0

    def table(out: str) -> list[str]:
        return out.splitlines()[1:]  # the first line says how long it took

    assert table(one.stdout) == table(plain.stdout)
    assert "worker" not in one.stdout + one.stderr


def test_workers_drain_by_themselves_when_the_supervisor_is_killed() -> None:
    with supervisor(QUIET, "--workers", "2") as run:
        pids = [pid for pid, _ in endpoints(run.err, 2).values()]
        for pid in pids:
            run.ready(pid)
        run.proc.kill()
        run.proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while not all(gone(pid) for pid in pids):
            assert time.monotonic() < deadline, f"workers {pids} still run without supervisor"
            time.sleep(0.1)
