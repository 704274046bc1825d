"""``streamguard run TARGET``: run a pipeline from a file or ``module:function``."""

from __future__ import annotations

import argparse
import asyncio
import sys

from ._connection import kafka_bootstrap
from ._session import Options, supervise
from ._target import check_parameters, load_target, run_target
from ._view import choose_view


def command(args: argparse.Namespace) -> int:
    """Load the target, then run it supervised (see :mod:`._session`), or, with
    ``--workers N`` above 1, run N processes of it (see :mod:`._workers`) and print their
    summary (:mod:`._workers_report`)."""
    target = load_target(args.target)
    kwargs: dict[str, object] = {}
    bootstrap = kafka_bootstrap(args)
    if bootstrap is not None:
        kwargs["bootstrap"] = bootstrap
    check_parameters(target, kwargs)
    view = choose_view(args.view, sys.stderr)
    if args.workers > 1:
        # Checked here once, so that a target that cannot run fails before any worker starts.
        from ._workers import supervise as supervise_workers
        from ._workers_report import print_summary

        supervisor, code = supervise_workers(args, view)
        print_summary(supervisor, code)
        return code
    options = Options.from_args(args, view)
    return asyncio.run(supervise(lambda pipelines: run_target(target, kwargs, pipelines),
                                 options))
