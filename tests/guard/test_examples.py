"""The two guard examples run and keep their promises (nothing lost, no storm)."""

from __future__ import annotations

import importlib.util
import pathlib
from types import ModuleType

import pytest

pytestmark = pytest.mark.slow  # real time, a few seconds

EXAMPLES = pathlib.Path(__file__).parents[2] / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_payments_flaky_pays_or_parks_every_order() -> None:
    summary = await load("payments_flaky").main(orders=2_000, outage=(0.1, 0.8))
    assert summary["paid"] + summary["dead_lettered"] == 2_000
    assert summary["dead_lettered"] == len(range(0, 2_000, 97))  # only the malformed ones
    assert summary["to OPEN"] >= 1
    assert summary["to CLOSED"] >= 1


async def test_retry_storm_example() -> None:
    storm, calm, delivered = await load("retry_storm").main(outage=1.5, seconds=2.0)
    assert storm >= 4 * 500  # the naive loop multiplied the load
    assert calm <= storm // 10
    assert delivered == 1_000
