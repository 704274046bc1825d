"""How every suite measures: contenders interleaved, order rotated, a warm-up, several rounds.

A skeptic's objections to a benchmark are nearly always the same: the peer ran on a colder
machine (not interleaved), the best run was reported (no spread), or the peer was configured to
lose (no configuration shown). This module answers the first two for every suite; the suites
answer the third by passing each contender's configuration, which lands beside its figure in
the results JSON.

    from _harness import Contender, compare

    stats = compare([
        Contender("streamguard", run_sg, config="from_iterable → map → sink"),
        Contender("reactivex", run_rx, config="reactivex.from_iterable → map, subscribe"),
    ], rounds=5)
    stats["streamguard"].median  # items/s, or whatever the contender's function returns

Each contender function performs one round and returns its figure (higher is better unless
the suite says otherwise). Ratios are always ratios of medians.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Measure = Callable[[], float | Awaitable[float]]


@dataclass(frozen=True)
class Contender:
    """One contender: its name, one round of work returning the figure, and its configuration
    as the peer's own documentation recommends it (shown beside the figure)."""

    name: str
    measure: Measure
    config: str = ""


@dataclass(frozen=True)
class Spread:
    """Median, min, max and every value of one contender's rounds (warm-up excluded)."""

    name: str
    values: tuple[float, ...]
    config: str = ""
    median: float = field(init=False)
    min: float = field(init=False)
    max: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "median", statistics.median(self.values))
        object.__setattr__(self, "min", min(self.values))
        object.__setattr__(self, "max", max(self.values))

    def as_json(self) -> dict[str, Any]:
        """The record written to ``results/SUITE.json`` under ``spreads``."""
        return {"median": round(self.median, 4), "min": round(self.min, 4),
                "max": round(self.max, 4), "rounds": [round(v, 4) for v in self.values],
                "config": self.config}


def _one(measure: Measure) -> float:
    gc.collect()
    result = measure()
    if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
        async def wrap() -> float:
            return float(await result)
        return asyncio.run(wrap())
    return float(result)


def compare(contenders: Sequence[Contender], *, rounds: int = 5,
            warmup: int = 1) -> dict[str, Spread]:
    """Run every contender *warmup* + *rounds* times, interleaved, rotating the order each
    round so that no contender always runs first (or right after the heaviest one)."""
    if rounds < 1 or warmup < 0:
        raise ValueError(f"rounds must be >= 1 and warmup >= 0, got rounds={rounds}, "
                         f"warmup={warmup}")
    values: dict[str, list[float]] = {c.name: [] for c in contenders}
    n = len(contenders)
    for r in range(warmup + rounds):
        order = [contenders[(i + r) % n] for i in range(n)]
        for c in order:
            figure = _one(c.measure)
            if r >= warmup:
                values[c.name].append(figure)
    return {c.name: Spread(c.name, tuple(values[c.name]), c.config) for c in contenders}


def ratio(a: Spread, b: Spread, digits: int = 3) -> float:
    """The ratio of two medians, rounded."""
    return round(a.median / b.median, digits) if b.median else float("inf")


def result(figures: dict[str, Spread], ratios: dict[str, float],
           extra: dict[str, float] | None = None) -> dict[str, Any]:
    """Assemble a suite's result: ``figures`` (medians), ``spreads`` (median/min/max/rounds
    and configuration per figure) and ``ratios`` (ratios of medians)."""
    out_figures: dict[str, float] = {k: round(v.median, 4) for k, v in figures.items()}
    if extra:
        out_figures.update(extra)
    return {"figures": out_figures,
            "spreads": {k: v.as_json() for k, v in figures.items()},
            "ratios": ratios}
