"""The two guard examples run and keep their promises (nothing lost, no storm)."""

from __future__ import annotations

import importlib.util
import pathlib
import sys
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


async def test_retry_storm_example(tmp_path: pathlib.Path) -> None:
    example = load("retry_storm")
    outage = 1.5
    result = await example.main(outage=outage, seconds=2.0, plot=tmp_path / "storm.png")
    storm, calm, delivered = result
    assert storm >= 4 * 500  # the naive loop multiplied the load
    assert calm <= storm // 10
    assert delivered == 1_000
    assert result.plot == tmp_path / "storm.png"
    assert result.plot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    down = int(outage / example.BUCKET)  # the buckets wholly inside the outage
    naive = sum(result.rates["naive"][:down]) * example.BUCKET
    guarded = sum(result.rates["guarded"][:down]) * example.BUCKET
    assert naive >= 3 * 500 * outage  # the series saw the storm, not just the counters
    assert guarded / naive < 0.1
    # Every call the downstream received is in the series, failed or not.
    assert round(sum(result.rates["guarded"]) * example.BUCKET) == calm + delivered
    assert round(sum(result.rates["naive"]) * example.BUCKET) > storm  # it gives up on some


def test_retry_storm_plot_names_its_file(monkeypatch: pytest.MonkeyPatch) -> None:
    plot_path = load("retry_storm").plot_path
    monkeypatch.delenv("STREAMGUARD_PLOT", raising=False)
    assert plot_path(None) == pathlib.Path("retry_storm.png")
    monkeypatch.setenv("STREAMGUARD_PLOT", "out/storm.png")
    assert plot_path(None) == pathlib.Path("out/storm.png")
    assert plot_path("mine.png") == pathlib.Path("mine.png")
    monkeypatch.setenv("STREAMGUARD_PLOT", "")
    assert plot_path(None) is None


def test_retry_storm_without_matplotlib_says_so_and_draws_nothing(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    draw = load("retry_storm").draw
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import raises ImportError
    path = tmp_path / "storm.png"
    assert draw(path, {"naive": [20.0], "guarded": [0.0]}, 1.0, {"naive": 2, "guarded": 0}) is None
    assert not path.exists()
    assert capsys.readouterr().out == (
        "no plot: matplotlib is not installed (pip install 'streamguard[bench]')\n")
