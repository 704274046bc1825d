"""A retry storm, and how a guarded sink avoids it. No external service.

A downstream fails every call for a few seconds. Two clients feed it 500 items/s at the same
time: a naive loop that retries each failure 3 times at once, and a guarded sink (circuit
breaker, budgeted retries, backpressure). The naive loop multiplies the load on the sick
downstream by four; the guarded pipeline stops asking, probes now and then, and once the
downstream is back delivers every item.

The downstream counts every call it receives, per client and per 100 ms, and the run ends by
drawing those counts as requests per second over time into a PNG (``retry_storm.png`` in the
current folder; the ``plot`` parameter or ``STREAMGUARD_PLOT`` names another file, and an empty
name draws nothing). The plot needs matplotlib (``pip install 'streamguard[bench]'``).

Run: ``python examples/retry_storm.py`` or ``streamguard run examples/retry_storm.py``.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

from streamguard import Emitter
from streamguard.breaker import BreakerConfig, CircuitBreaker, StateTransition
from streamguard.core import EventBus
from streamguard.guard import guarded_sink
from streamguard.retry import RetryConfig

RATE = 500
BUCKET = 0.1  # seconds per point of the recorded series: fine enough to show each probe
CLIENTS = ("naive", "guarded")
PLOT_ENV = "STREAMGUARD_PLOT"
DEFAULT_PLOT = "retry_storm.png"


class SickDownstream:
    """Fails every call for *outage* seconds from creation; counts calls per client, and every
    call received per client and per BUCKET since creation."""

    def __init__(self, outage: float) -> None:
        self.start = asyncio.get_running_loop().time()
        self.until = self.start + outage
        self.during: Counter[str] = Counter()
        self.accepted: Counter[str] = Counter()
        self.received: dict[str, Counter[int]] = {client: Counter() for client in CLIENTS}

    async def call(self, client: str, item: int) -> None:
        now = asyncio.get_running_loop().time()
        self.received[client][int((now - self.start) / BUCKET)] += 1
        await asyncio.sleep(0.001)
        if asyncio.get_running_loop().time() < self.until:
            self.during[client] += 1
            raise ConnectionError(f"503 for item {item}")
        self.accepted[client] += 1

    def rates(self) -> dict[str, list[float]]:
        """Requests per second each client sent, per BUCKET, up to the last call of anyone."""
        end = 1 + max((max(c, default=0) for c in self.received.values()), default=0)
        return {client: [counts[i] / BUCKET for i in range(end)]
                for client, counts in self.received.items()}


class StormResult(tuple[int, int, int]):
    """``(naive calls, guarded calls)`` during the outage and the items the guarded sink
    delivered, as before the plot existed; plus what the downstream recorded over time."""

    outage: float
    """Seconds the downstream failed every call, from the start of the run."""
    rates: dict[str, list[float]]
    """Per client: downstream requests per second, one value per ``BUCKET`` seconds from 0."""
    plot: Path | None
    """The PNG written, or None (an empty name, or no matplotlib)."""

    def __new__(cls, counts: tuple[int, int, int], *, outage: float,
                rates: dict[str, list[float]], plot: Path | None) -> StormResult:
        result = super().__new__(cls, counts)
        result.outage, result.rates, result.plot = outage, rates, plot
        return result


async def paced(n: int) -> AsyncIterator[int]:
    """0..n-1 at RATE per second (catching up at once after a pause)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(n):
        delay = start + i / RATE - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        yield i


async def naive(down: SickDownstream, n: int) -> None:
    async def send(item: int) -> None:
        for _ in range(4):
            try:
                await down.call("naive", item)
                return
            except ConnectionError:
                pass

    async with asyncio.TaskGroup() as group:
        async for item in paced(n):
            group.create_task(send(item))


async def guarded(down: SickDownstream, n: int, bus: EventBus) -> None:
    async def deliver(item: int) -> None:
        await down.call("guarded", item)

    breaker = CircuitBreaker("sick-downstream", BreakerConfig(
        open_duration=0.5, open_duration_multiplier=2, max_open_duration=2.0,
        open_duration_jitter=0.1), bus=bus)
    emitter = Emitter[int]()
    run = asyncio.create_task(emitter.stream().pipe(guarded_sink(
        deliver, breaker=breaker, retry=RetryConfig(attempts=3, base_delay=0.05, max_delay=1.0),
        timeout=1.0, concurrency=16, name="guarded")).run(bus=bus))
    async for item in paced(n):
        await emitter.emit(item)  # waits while the breaker keeps the pipeline from asking
    emitter.complete()
    await run


def plot_path(plot: str | os.PathLike[str] | None) -> Path | None:
    """The file to draw into: *plot*, else ``$STREAMGUARD_PLOT``, else DEFAULT_PLOT; an empty
    name means no plot."""
    name = os.fspath(plot) if plot is not None else os.environ.get(PLOT_ENV, DEFAULT_PLOT)
    return Path(name) if name else None


def draw(path: Path, rates: dict[str, list[float]], outage: float,
         during: dict[str, int]) -> Path | None:
    """Draw *rates* over time into the PNG *path*, naming in the legend the calls each client
    made *during* the outage; without matplotlib say so and draw nothing."""
    try:
        # The Agg canvas directly, not pyplot: no global backend or figure registry to touch.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        print("no plot: matplotlib is not installed (pip install 'streamguard[bench]')")
        return None
    figure = Figure(figsize=(9, 5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.axvspan(0, outage, color="tab:red", alpha=0.1, label=f"downstream down ({outage:g} s)")
    axes.axhline(RATE, color="grey", linestyle=":", linewidth=1, label=f"offered: {RATE} items/s")
    # The naive line is wider and drawn first, so it still shows where both send 500/s.
    styles = {"naive": ("naive loop, 3 immediate retries", "tab:red", 3.0),
              "guarded": ("guarded sink (breaker + retry budget)", "tab:blue", 1.5)}
    for client, series in rates.items():
        label, color, width = styles[client]
        axes.stairs(series, [i * BUCKET for i in range(len(series) + 1)], baseline=None,
                    color=color, linewidth=width,
                    label=f"{label}: {during[client]:,} calls during the outage")
    # Linear below one call per bucket, so the guarded sink's silent stretches read as 0.
    axes.set_yscale("symlog", linthresh=1 / BUCKET, linscale=0.5)
    axes.set_ylim(0, 2 * max(max(series, default=0) for series in rates.values()))
    axes.set_xlim(0, max(len(series) for series in rates.values()) * BUCKET)
    axes.set_xlabel("seconds since the start")
    axes.set_ylabel(f"downstream requests/s (per {BUCKET * 1000:g} ms)")
    axes.set_title("Retry storm: what a failing downstream receives from each client")
    axes.grid(True, alpha=0.3)
    figure.legend(loc="outside lower center", ncols=2, fontsize="small")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


async def main(*, outage: float = 5.0, seconds: float = 7.0,
               plot: str | os.PathLike[str] | None = None) -> StormResult:
    """Run both clients for *seconds* of offered load while the downstream is down for
    *outage*; print the calls each sent during the outage and draw the requests/s over time
    into *plot* (see :func:`plot_path`). Unpacks into (naive calls, guarded calls) during the
    outage and the number of items the guarded pipeline delivered."""
    down = SickDownstream(outage)
    n = int(RATE * seconds)
    bus = EventBus()
    transitions: Counter[str] = Counter()
    bus.subscribe(lambda e: transitions.update(
        [str(e.to_state)] if isinstance(e, StateTransition) else []))
    await asyncio.gather(naive(down, n), guarded(down, n, bus))
    storm, calm = down.during["naive"], down.during["guarded"]
    print(f"during the {outage:g} s outage, {RATE} items/s offered to each client:")
    print(f"  naive loop (3 immediate retries): {storm:>6} calls")
    print(f"  guarded sink:                     {calm:>6} calls ({calm / storm:.2%} of naive)")
    print(f"  breaker transitions: {dict(transitions)}")
    print(f"after the outage the guarded sink delivered {down.accepted['guarded']} of {n} items")
    rates = down.rates()
    path = plot_path(plot)
    if path is not None:
        # Drawing takes a moment of CPU; off the loop, so a live view keeps refreshing.
        path = await asyncio.to_thread(draw, path, rates, outage, dict(down.during))
        if path is not None:
            print(f"plot of downstream requests/s over time: {path}")
    return StormResult((storm, calm, down.accepted["guarded"]), outage=outage, rates=rates,
                       plot=path)


if __name__ == "__main__":
    asyncio.run(main())
