"""`streamguard run`: targets of every shape, the summary, the exit codes, the signals."""

from __future__ import annotations

import json
import re
import signal
import urllib.request
from pathlib import Path

import pytest

from tests.metrics._scrape import parse, value

from ._runner import TARGETS, cli, spawn


def test_runs_the_quickstart_example() -> None:
    result = cli("run", "examples/quickstart.py")
    assert result.code == 0, result.stderr
    assert "orders priced" in result.stdout  # the example's own output
    assert "completed after" in result.stdout
    assert re.search(r"quickstart\s+valid\s+5,000\s+4,285\s+715", result.stdout)
    assert result.stderr == ""


def test_async_main_is_the_default_function() -> None:
    result = cli("run", TARGETS, "--json")
    assert result.code == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[:10] == [str(i) for i in range(10)]
    summary = json.loads(lines[-1])
    assert summary["outcome"] == "completed"
    [fmt] = [s for s in summary["stages"] if s["stage"] == "fmt"]
    assert fmt == {"pipeline": "targets", "stage": "fmt", "received": 10, "emitted": 10,
                   "dropped": 0, "rejected": 0, "failed": 0}


@pytest.mark.parametrize(("spec", "stage", "emitted"), [
    (f"{TARGETS}:stream", "no-fives", 20),
    (f"{TARGETS}:STREAM", "fmt", 3),
    ("tests.cli.targets:stream", "no-fives", 20),
])
def test_a_stream_or_a_function_returning_one_is_run(spec: str, stage: str,
                                                     emitted: int) -> None:
    result = cli("run", spec, "--json")
    assert result.code == 0, result.stderr
    summary = json.loads(result.stdout)
    [row] = [s for s in summary["stages"] if s["stage"] == stage]
    assert row["emitted"] == emitted
    assert row["pipeline"] == spec.rsplit(":", 1)[1]


def test_bootstrap_reaches_a_target_that_takes_it() -> None:
    result = cli("run", f"{TARGETS}:with_bootstrap", "--bootstrap", "127.0.0.1:19092")
    assert result.code == 0, result.stderr
    assert "bootstrap=127.0.0.1:19092" in result.stdout


def test_failing_pipeline_exits_1_with_one_line() -> None:
    result = cli("run", f"{TARGETS}:fails")
    assert result.code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("streamguard: error: pipeline failed: ItemFailedError: "
                               "stage 'parse' failed on item 13")
    assert "--debug" in lines[0]
    assert "failed after" in result.stdout
    assert re.search(r"fails\s+parse\s+\d+\s+13\s+0\s+0\s+1", result.stdout)


def test_the_summary_counts_dead_letters_in_text_and_json() -> None:
    text = cli("run", f"{TARGETS}:dead_letters")
    assert text.code == 0, text.stderr
    assert text.stdout.count("parked ") == 4
    assert "dead-lettered by dead_letters/charge: 4 (4 call failed)" in text.stdout
    as_json = cli("run", f"{TARGETS}:dead_letters", "--json")
    summary = json.loads(as_json.stdout.strip().splitlines()[-1])
    assert summary["dead_letters"] == {
        "stages": {"dead_letters/charge": {"total": 4, "reasons": {"call_failed": 4}}},
        "kafka_topics": {}}


def test_a_pipeline_on_a_bus_of_its_own_is_watched() -> None:
    result = cli("run", f"{TARGETS}:own_bus", "--json")
    assert result.code == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["stages"] == [{"pipeline": "mine", "stage": "charge", "received": 20,
                                  "emitted": 16, "dropped": 0, "rejected": 4, "failed": 0}]
    assert summary["dead_letters"]["stages"] == {
        "mine/charge": {"total": 4, "reasons": {"call_failed": 4}}}


def test_outcomes_of_a_sink_with_an_error_handler_add_up_to_its_items() -> None:
    result = cli("run", f"{TARGETS}:sink_on_error", "--json")
    assert result.code == 0, result.stderr
    [store] = json.loads(result.stdout)["stages"]
    outcomes = store["emitted"] + store["dropped"] + store["rejected"] + store["failed"]
    assert (store["received"], outcomes, store["failed"]) == (100, 100, 10)


def test_debug_shows_the_traceback() -> None:
    result = cli("run", f"{TARGETS}:fails", "--debug")
    assert result.code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "order 13 is cursed" in result.stderr


@pytest.mark.parametrize(("args", "code", "message"), [
    (["run", "no/such/file.py"], 3, "no such file: no/such/file.py"),
    (["run", "no_such_module_xyz:main"], 3, "no module named 'no_such_module_xyz'"),
    (["run", f"{TARGETS}:missing"], 3, f"{TARGETS} has no attribute 'missing'"),
    (["run", f"{TARGETS}:NOT_RUNNABLE"], 2, "is an int, not a Stream"),
    (["run", f"{TARGETS}:main", "--bootstrap", "127.0.0.1:9092"], 2,
     "takes no 'bootstrap' parameter"),
    (["run", TARGETS, "--bootstrap", "nonsense"], 2, "expected host:port"),
    # a target that would run nothing is an error naming the fix, never an empty "success"
    (["run", f"{TARGETS}:returns_a_list"], 2, "returned a list, not a Stream"),
    (["run", f"{TARGETS}:forgets_return"], 2, "returned None, not a Stream"),
    (["run", f"{TARGETS}:forgets_await"], 2,
     "called Stream.run() without `await`, so that pipeline never ran"),
    (["run", f"{TARGETS}:async_forgets_return"], 2, "async_forgets_return ran no pipeline"),
    (["run", f"{TARGETS}:returns_a_coroutine"], 2,
     "returned a coroutine (Stream.run) that was never awaited"),
    # a parameter the command line does not fill is a usage error, not a failed pipeline
    (["run", f"{TARGETS}:needs_orders"], 2, "needs a value for its parameter 'orders'"),
    (["run", f"{TARGETS}:with_bootstrap"], 2, "needs a value for its parameter 'bootstrap'"),
    (["run", TARGETS, "--duration", "0"], 2, "must be > 0 seconds"),
    (["run", TARGETS, "--metrics-port", "70000"], 2, "must be in 0..65535"),
    (["run"], 2, "the following arguments are required: TARGET"),
    (["run", TARGETS, "--view", "fancy"], 2, "invalid choice: 'fancy'"),
])
def test_user_mistakes_are_one_line_and_an_exit_code(
    args: list[str], code: int, message: str
) -> None:
    result = cli(*args)
    assert result.code == code, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("streamguard: error: ")
    assert message in lines[0]
    assert "(hint: " in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_syntax_error_in_target_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def main(:\n    pass\n")
    result = cli("run", str(bad))
    assert result.code == 1
    assert "cannot import" in result.stderr
    assert "SyntaxError" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_duration_stops_gracefully_with_exit_0() -> None:
    result = cli("run", f"{TARGETS}:forever", "--duration", "0.5")
    assert result.code == 0, result.stderr
    assert "stopped by --duration after" in result.stdout
    assert "cleanup done" in result.stderr
    assert re.search(r"forever\s+store\s+[1-9]", result.stdout)


@pytest.mark.parametrize(("signum", "code", "label"), [
    (signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_signal_stops_gracefully(signum: int, code: int, label: str) -> None:
    with spawn("run", f"{TARGETS}:forever", "--view", "plain", "--refresh", "0.1") as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "started"
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert f"{label} after" in out
    assert "cleanup done" in err
    assert "Traceback" not in err


def test_plain_view_prints_status_lines_on_stderr() -> None:
    result = cli("run", f"{TARGETS}:forever", "--view", "plain", "--refresh", "0.1",
                 "--duration", "0.6")
    assert result.code == 0, result.stderr
    status = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert status, result.stderr
    assert re.search(r"store [\d,]+/s", status[-1])
    assert "store" not in result.stdout.splitlines()[0]


def test_metrics_endpoint_serves_while_running() -> None:
    with spawn("run", f"{TARGETS}:forever", "--metrics-port", "0", "--duration", "20") as proc:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.match(r"metrics: (http://127\.0\.0\.1:\d+/metrics)$", line.strip())
        assert match, line
        with urllib.request.urlopen(match.group(1), timeout=10) as response:
            samples = parse(response.read())
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert value(samples, "streamguard_pipelines_running") == 1
    received = value(samples, "streamguard_stage_items_total",
                     pipeline="forever", stage="buf", outcome="received")
    assert received is not None
    assert value(samples, "streamguard_stage_capacity", pipeline="forever", stage="buf") == 64
    assert proc.returncode == 130


def test_metrics_port_in_use_is_a_usage_error() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = cli("run", TARGETS, "--metrics-port", str(port))
    assert result.code == 2
    assert f"cannot serve metrics on 127.0.0.1:{port}" in result.stderr


def test_stdout_is_clean_for_pipes() -> None:
    result = cli("run", f"{TARGETS}:stream", "--json")
    assert "\x1b[" not in result.stdout + result.stderr
    json.loads(result.stdout)
