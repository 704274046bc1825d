"""Every exit code of the README's table, each produced by a real ``streamguard`` process,
and the table, :class:`~streamguard.cli.ExitCode` and these cases kept equal."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from streamguard.cli import ExitCode

from ._runner import ROOT, TARGETS, Result, argv, cli, env, spawn


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _ok(_tmp: Path) -> Result:
    return cli("run", f"{TARGETS}:stream")


def _failed(_tmp: Path) -> Result:
    return cli("run", f"{TARGETS}:fails")


def _usage(_tmp: Path) -> Result:
    return cli("run", f"{TARGETS}:forgets_return")


def _not_found(_tmp: Path) -> Result:
    return cli("run", f"{TARGETS}:no_such_function")


def _unreachable(_tmp: Path) -> Result:
    return cli("run", f"{TARGETS}:kafka_orders", "--bootstrap", f"127.0.0.1:{_closed_port()}")


def _missing_dependency(tmp: Path) -> Result:
    # A stand-in package that fails to import, as an absent aiokafka does.
    (tmp / "aiokafka").mkdir()
    (tmp / "aiokafka" / "__init__.py").write_text("raise ImportError('no aiokafka here')\n")
    environment = env()
    environment["PYTHONPATH"] = f"{tmp}:{environment['PYTHONPATH']}"
    proc = subprocess.run(argv("lag", "--group", "g"), cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=60, check=False)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def _signalled(signum: int) -> Callable[[Path], Result]:
    def run(_tmp: Path) -> Result:
        with spawn("run", f"{TARGETS}:forever") as proc:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "started"
            proc.send_signal(signum)
            out, err = proc.communicate(timeout=60)
        return Result(proc.returncode, out, err)
    return run


# exit code -> how a user gets it, and a phrase of what the command says
CASES: dict[int, tuple[Callable[[Path], Result], str]] = {
    0: (_ok, "completed after"),
    1: (_failed, "pipeline failed: ItemFailedError"),
    2: (_usage, "returned None, not a Stream"),
    3: (_not_found, "has no attribute 'no_such_function'"),
    4: (_unreachable, "cannot connect to a Kafka broker at '127.0.0.1:"),
    5: (_missing_dependency, "streamguard lag needs the aiokafka package"),
    130: (_signalled(signal.SIGINT), "interrupted after"),
    143: (_signalled(signal.SIGTERM), "terminated after"),
}


def _readme_codes() -> dict[int, str]:
    text = (ROOT / "README.md").read_text()
    table = text[text.index("| exit code | meaning |"):].split("\n\n", 1)[0]
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^\| (\d+) \| (.+?) \|$",
                                                               table, re.MULTILINE)}


def test_the_readme_table_the_enum_and_the_cases_list_the_same_codes() -> None:
    assert set(_readme_codes()) == {int(c) for c in ExitCode} == set(CASES)


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_exit_code(code: int, tmp_path: Path) -> None:
    produce, phrase = CASES[code]
    result = produce(tmp_path)
    assert result.code == code, result
    assert phrase in result.stdout + result.stderr, result
    assert "Traceback" not in result.stderr
