"""``streamguard run --workers N`` with targets that need no server: parsing, the restart
policy, and the supervisor as a real process — metrics endpoints, a worker killed with
SIGKILL and restarted, signals forwarded, a crash loop that ends, a supervisor killed.
(On Apache Kafka: tests/kafka/test_workers.py.)"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
import urllib.request

import pytest

from streamguard.cli import main
from streamguard.cli._restarts import RestartPolicy, Restarts
from streamguard.core import ConfigError

from ._runner import TARGETS, cli, endpoints, gone, supervisor

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


def test_the_default_policy_restarts_five_times_in_a_row() -> None:
    restarts = Restarts(RestartPolicy())
    assert [restarts.died(0.1) for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, None]


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
def acks(stdout: str) -> dict[int, list[dict[str, int]]]:
    """Per worker index, how each drained process's acks settled."""
    out: dict[int, list[dict[str, int]]] = {}
    for match in re.finditer(r"^\[worker (\d+)\] acks issued=(\d+) done=(\d+) "
                             r"abandoned=(\d+) unsettled=(\d+)", stdout, re.MULTILINE):
        index, *counts = map(int, match.groups())
        out.setdefault(index, []).append(dict(zip(("issued", "done", "abandoned",
                                                   "unsettled"), counts, strict=True)))
    return out


def test_each_worker_serves_metrics_a_killed_one_restarts_and_sigint_drains_all() -> None:
    with supervisor(QUIET, "--workers", "2", "--metrics-port", "0", "--json",
                    new_session=True) as run:
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
        # As a terminal's Ctrl-C: to the whole foreground process group. The workers are in
        # sessions of their own, so each gets one drain (forwarded), not two (stop at once).
        os.killpg(run.proc.pid, signal.SIGINT)
        out, err = run.finish()
    assert run.proc.returncode == 130, err
    assert "streamguard: interrupted: draining 2 workers (up to 30 s;" in err
    # each process knows its index and the count
    assert f"[worker 0] ready: worker 0 of 2, pid {restarted}" in out
    assert f"[worker 1] ready: worker 1 of 2, pid {first[1][0]}" in out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["outcome"] == "interrupted"
    workers = summary["workers"]
    assert [w["pids"] for w in workers] == [[killed, restarted], [first[1][0]]]
    assert [w["exit_codes"] for w in workers] == [[-9, 130], [130]]
    assert [w["restarts"] for w in workers] == [1, 0]
    assert summary["drain"]["finished"] is True
    assert [w["summaries"][-1]["drain"]["finished"] for w in workers] == [True, True]
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


def _two_free_ports() -> int:
    """A port P such that P and P + 1 are free now."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        if port < 65535:
            return port
    raise AssertionError("no two free ports in a row")


def test_ports_follow_the_base_port_status_lines_per_worker_and_duration_exits_0() -> None:
    port = _two_free_ports()
    result = cli("run", QUIET, "--workers", "2", "--duration", "2", "--metrics-port",
                 str(port), "--view", "rich", "--refresh", "0.3", "--json")
    assert result.code == 0, result.stderr
    served = dict(re.findall(r"worker (\d) \(pid \d+\): metrics (\S+)$", result.stderr,
                             re.MULTILINE))
    assert served == {"0": f"http://127.0.0.1:{port}/metrics",
                      "1": f"http://127.0.0.1:{port + 1}/metrics"}
    for index in (0, 1):  # each worker's live status line (plain), prefixed
        assert re.search(rf"^\[worker {index}\] \[\s*[\d.]+s\]\s+work ", result.stderr,
                         re.MULTILINE), result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["outcome"] == "stopped by --duration"
    assert [w["exit_codes"] for w in summary["workers"]] == [[143], [143]]
    for [one] in acks(result.stdout).values():
        assert one["issued"] == one["done"] > 0


def test_a_worker_stuck_past_the_drain_timeout_is_killed() -> None:
    with supervisor(f"{TARGETS}:stuck", "--workers", "2", "--drain-timeout", "1",
                    "--json") as run:
        for pid, _ in endpoints(run.err, 2).values():
            run.ready(pid)
        run.proc.send_signal(signal.SIGINT)
        began = time.monotonic()
        out, err = run.finish()
        took = time.monotonic() - began
    assert run.proc.returncode == 130, err
    assert len(re.findall(r"still running 5 s after the drain timeout: killed", err)) == 2
    summary = json.loads(out.strip().splitlines()[-1])
    assert [w["exit_codes"] for w in summary["workers"]] == [[-9], [-9]]
    assert summary["drain"]["expired"] is True
    assert took < 20  # 1 s of drain timeout and 5 s of grace, not the target's 60 s


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
