"""The ``streamguard`` command: the parser, dispatch to the sub-commands, and the one place
where errors become one line on stderr and an exit code (see :mod:`._errors`)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import NoReturn

from ._errors import CliError, ExitCode, print_error
from ._options import add_broker, add_demo, add_lag, add_run

PROG = "streamguard"

DESCRIPTION = """\
Reactive streams for asyncio with rate limiting, backpressure and circuit breakers.

Start with `streamguard demo`: the three guardians working together on a burst of
traffic and a flaky downstream, in under a minute, with no service to set up."""

EPILOG = """\
exit codes: 0 ok, 1 pipeline failed, 2 usage error, 3 not found, 4 broker unreachable,
5 optional dependency missing, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
Run `streamguard COMMAND --help` for the options of a command."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line with a hint, like every other error."""

    def error(self, message: str) -> NoReturn:
        raise CliError(message, code=ExitCode.USAGE, hint=f"see '{self.prog} --help'")


def build_parser() -> argparse.ArgumentParser:
    """The full command-line parser (exposed for the docs and the tests)."""
    from .. import __version__

    parser = _Parser(prog=PROG, description=DESCRIPTION, epilog=EPILOG,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks of unexpected errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    add_demo(commands)
    add_run(commands)
    add_lag(commands)
    add_broker(commands)
    return parser


def _handler(args: argparse.Namespace) -> Callable[[argparse.Namespace], int]:
    # Sub-commands import their dependencies (asyncio loop, aiokafka, rich) only when chosen,
    # so `--help` and usage errors answer at once.
    module_name, _, function = args.handler.partition(":")
    module = importlib.import_module(module_name, __package__)
    handler: Callable[[argparse.Namespace], int] = getattr(module, function)
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``streamguard`` command with *argv* (default: ``sys.argv[1:]``); return the
    exit code."""
    debug = bool(os.environ.get("STREAMGUARD_DEBUG"))
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        debug = debug or args.debug
        if args.command is None:
            parser.print_help(sys.stderr)
            return ExitCode.USAGE
        return int(_handler(args)(args))
    except CliError as exc:
        print_error(exc.message, exc.hint)
        return exc.code
    except SystemExit as exc:  # argparse's --help and --version
        return exc.code if isinstance(exc.code, int) else ExitCode.USAGE
    except KeyboardInterrupt:
        print_error("interrupted", None)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return 141  # as a shell reports a process killed by SIGPIPE (e.g. `| head`)
    except Exception as exc:
        if debug:
            traceback.print_exc()
        print_error(f"unexpected {type(exc).__name__}: {exc}",
                    None if debug else "run with --debug for the traceback")
        return ExitCode.FAILED


def _silence_stdout() -> None:
    # Python flushes stdout at exit; with the reader gone that would raise again.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


