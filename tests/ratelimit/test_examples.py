"""The two rate-limit examples run and keep their promises."""

from __future__ import annotations

import importlib.util
import pathlib
import sys
from types import ModuleType

import pytest

pytestmark = pytest.mark.slow  # real time, a few seconds each

EXAMPLES = pathlib.Path(__file__).parents[2] / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


async def test_per_consumer_limits_spare_the_well_behaved() -> None:
    summary = await load("per_consumer_limits").main(seconds=2.0)
    assert summary["429"].get("alice", 0) == 0
    assert summary["429"].get("bob", 0) == 0
    assert summary["ok"]["alice"] == summary["ok"]["bob"] == 40
    assert summary["ok"]["mallory"] <= 10 + 25 * 2.0 + 1  # burst + rate: the flood is held
    assert summary["429"]["mallory"] > 800
    assert summary["first_429_headers"]["X-RateLimit-Limit"] == "10"
    assert "Retry-After" in summary["first_429_headers"]


@pytest.mark.integration
async def test_redis_shared_limit_is_shared_and_survives_an_outage() -> None:
    summary = await load("redis_shared_limit").main(seconds=3.0)
    assert summary["achieved_per_s_while_up"] == pytest.approx(50, rel=0.15)
    assert all(w["outages"] == 1 for w in summary["workers"])
    assert all(w["processed"] > 0 for w in summary["workers"])
