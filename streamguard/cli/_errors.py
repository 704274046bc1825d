"""Exit codes of the ``streamguard`` command and the error that carries one.

======  ===========================================================================
code    meaning
======  ===========================================================================
0       success (a ``run`` stopped by ``--duration`` also counts as success)
1       the pipeline (or the target's own code) failed
2       usage error: bad option or value, a target that is not runnable
3       not found: target file, module or function; consumer group
4       Kafka broker unreachable, or the embedded broker could not start
5       an optional dependency is missing (the message says what to install)
130     interrupted by Ctrl-C (SIGINT); 143 stopped by SIGTERM
======  ===========================================================================
"""

from __future__ import annotations

import sys
from enum import IntEnum

from ._style import style


class ExitCode(IntEnum):
    """The documented exit codes (see the module docstring)."""

    OK = 0
    FAILED = 1
    USAGE = 2
    NOT_FOUND = 3
    UNREACHABLE = 4
    MISSING_DEPENDENCY = 5
    INTERRUPTED = 130
    TERMINATED = 143


class CliError(Exception):
    """A user mistake or an expected failure: printed as one line with a hint, no traceback."""

    def __init__(self, message: str, *, code: ExitCode, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.hint = hint


def missing_dependency(package: str, extra: str, what: str) -> CliError:
    """The error for an optional package that is not installed."""
    return CliError(f"{what} needs the {package} package, which is not installed",
                    code=ExitCode.MISSING_DEPENDENCY,
                    hint=f"pip install 'streamguard[{extra}]'")


def print_error(message: str, hint: str | None) -> None:
    """Print ``streamguard: error: MESSAGE (hint: HINT)`` as one line on stderr."""
    line = f"streamguard: {style('error:', 'bold red', sys.stderr)} {message}"
    if hint:
        line += f" (hint: {hint})"
    print(line, file=sys.stderr, flush=True)
