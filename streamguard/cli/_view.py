"""The live terminal view of a running pipeline, drawn on stderr so stdout pipes cleanly.

``rich`` draws it when installed (``pip install 'streamguard[cli]'``) and stderr is a
terminal; otherwise ``plain`` prints one status line per refresh, and ``none`` draws nothing
(the default when stderr is not a terminal).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any, TextIO

from ._errors import missing_dependency
from ._report import Report, Reporter, status_line


def choose_view(requested: str, stream: TextIO) -> str:
    """Resolve ``auto`` to ``rich``, ``plain`` or ``none``; ``rich`` without rich is an error."""
    has_rich = importlib.util.find_spec("rich") is not None
    if requested == "rich" and not has_rich:
        raise missing_dependency("rich", "cli", "--view rich")
    if requested != "auto":
        return requested
    if not (hasattr(stream, "isatty") and stream.isatty()):
        return "none"
    return "rich" if has_rich else "plain"


@contextlib.asynccontextmanager
async def live_view(
    mode: str, reporter: Reporter, refresh: float, stream: TextIO | None = None
) -> AsyncIterator[None]:
    """Refresh the view every *refresh* seconds while the block runs."""
    out = stream or sys.stderr
    if mode == "none":
        yield
        return
    if mode == "plain":
        def line() -> None:
            print(status_line(reporter.report()), file=out, flush=True)

        async with _every(refresh, line):
            yield
        return
    async with _rich(reporter, refresh, out):
        yield


@contextlib.asynccontextmanager
async def _every(period: float, draw: Callable[[], None]) -> AsyncIterator[None]:
    """Call *draw* every *period* seconds while the block runs."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(period)
            draw()

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@contextlib.asynccontextmanager
async def _rich(reporter: Reporter, refresh: float, out: TextIO) -> AsyncIterator[None]:
    from rich.console import Console
    from rich.live import Live

    console = Console(file=out)
    # Redirect the target's prints through the view only when they share the terminal.
    shared = sys.stdout.isatty() and out.isatty()
    with Live(render(reporter.report()), console=console, auto_refresh=False,
              redirect_stdout=shared, redirect_stderr=True, transient=True) as live:
        async with _every(refresh, lambda: live.update(render(reporter.report()), refresh=True)):
            yield


def render(report: Report) -> Any:
    """The rich renderable of one report: a stage table and a line per guardian."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"streamguard  {report.elapsed:.0f} s", title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for column, justify in (("stage", "left"), ("items/s", "right"), ("received", "right"),
                            ("fill", "left"), ("dropped", "right"), ("rejected", "right"),
                            ("failed", "right")):
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    several = len({row.pipeline for row in report.stages}) > 1
    for row in report.stages:
        style = None if row.running else "dim"
        name = f"{row.pipeline}/{row.stage}" if several else row.stage
        table.add_row(name, f"{row.rate:,.0f}", f"{row.received:,}", _bar(row.fill),
                      f"{row.dropped:,}", f"{row.rejected:,}", f"{row.failed:,}",
                      style=style)
    lines: list[Any] = [table]
    for name, state in report.breakers.items():
        colour = {"closed": "green", "half_open": "yellow"}.get(state, "red")
        trips = report.breaker_trips.get(name, 0)
        lines.append(Text.assemble("breaker ", (name, "bold"), ": ", (state, colour),
                                   f"  (opened {trips}×)"))
    for name, results in report.limiters.items():
        lines.append(Text(f"rate limit {name}: " + ", ".join(
            f"{results.get(k, 0):,} {k}" for k in ("allowed", "delayed", "rejected"))))
    if report.lag or report.paused:
        paused = ", ".join(f"{t}[{p}]" for t, p in report.paused) or "none"
        lines.append(Text(f"kafka paused: {paused}   pauses {report.pauses}  resumes "
                          f"{report.resumes}  commits {report.commits}"))
        for (topic, partition), kinds in report.lag.items():
            lines.append(Text(f"  lag {topic}[{partition}]: " + "  ".join(
                f"{kind} {value:,}" for kind, value in kinds.items())))
    return Group(*lines)


def _bar(fill: float | None, width: int = 6) -> str:
    if fill is None:
        return ""
    full = max(0, min(width, round(fill * width)))
    return "█" * full + "░" * (width - full) + f" {fill:4.0%}"
