"""Run the command line as a subprocess, as a user would."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGETS = "tests/cli/targets.py"


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str


def env() -> dict[str, str]:
    """The environment of the subprocess: the repo importable, no colour."""
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), out.get("PYTHONPATH")]))
    out.pop("STREAMGUARD_DEBUG", None)
    out.pop("PYTHONASYNCIODEBUG", None)
    return out


def argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "streamguard.cli", *args]


def cli(*args: str, timeout: float = 60.0) -> Result:
    """Run ``streamguard ARGS`` to its end."""
    proc = subprocess.run(argv(*args), cwd=ROOT, env=env(), capture_output=True, text=True,
                          timeout=timeout, check=False)
    return Result(proc.returncode, proc.stdout, proc.stderr)


@contextlib.contextmanager
def spawn(*args: str) -> Iterator[subprocess.Popen[str]]:
    """``streamguard ARGS`` in the background for the block; killed (by its pid) if the block
    leaves it running."""
    with subprocess.Popen(argv(*args), cwd=ROOT, env=env(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as proc:
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()  # Popen's exit then waits for it and closes the pipes
