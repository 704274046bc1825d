"""``streamguard demo``: delegates to :mod:`streamguard.demo`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from ._session import Options, supervise
from ._view import choose_view


def command(args: argparse.Namespace) -> int:
    """Run the demo supervised; ``--json`` prints its summary as one JSON object."""
    from ..demo import DemoConfig, demo_summary, run_demo

    config = DemoConfig(source=args.source, seed=args.seed,
                        **({} if args.items is None else {"items": args.items}))
    options = Options.from_args(args, choose_view(args.view, sys.stderr))
    return asyncio.run(supervise(lambda: run_demo(config), options, demo_summary))
