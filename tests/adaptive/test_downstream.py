"""The simulated downstream really has the capacity it is given: above it, requests queue and
are refused past the deadline; its capacity can change while it runs."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from streamguard.core import ConfigError
from streamguard.servers import DownstreamConfig, DownstreamServer

pytestmark = pytest.mark.integration


async def _burst(url: str, n: int) -> list[int]:
    async with aiohttp.ClientSession() as session:
        async def one() -> int:
            async with session.get(f"{url}/work") as answer:
                await answer.read()
                return answer.status
        return list(await asyncio.gather(*(one() for _ in range(n))))


async def test_requests_above_capacity_wait_then_get_503_past_the_deadline() -> None:
    # Service 0.6 s against a 0.15 s deadline: the margins hold on a busy machine.
    config = DownstreamConfig(capacity=2, service_time=0.6, deadline=0.15)
    with DownstreamServer(config) as down:
        statuses = await _burst(down.url, 5)
        assert sorted(statuses) == [200, 200, 503, 503, 503]
        down.set_capacity(5)
        assert await _burst(down.url, 5) == [200] * 5
        stats = down.stats()
    assert stats["served"] == 7
    assert stats["rejected"] == 3
    assert stats["capacity"] == 5


async def test_capacity_zero_takes_the_downstream_down() -> None:
    config = DownstreamConfig(capacity=2, service_time=0.05, deadline=0.05)
    with DownstreamServer(config) as down:
        down.set_capacity(0)
        assert await _burst(down.url, 3) == [503] * 3
        down.set_capacity(2)
        assert await _burst(down.url, 2) == [200] * 2
        stats = down.stats()
    assert (stats["served"], stats["rejected"]) == (2, 3)


async def test_queued_requests_are_served_in_turn_within_the_deadline() -> None:
    config = DownstreamConfig(capacity=1, service_time=0.05, deadline=5.0)
    with DownstreamServer(config) as down:
        assert await _burst(down.url, 6) == [200] * 6
        assert down.stats()["served"] == 6


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"capacity": 0}, "capacity must be an int >= 1, got 0"),
    ({"capacity": True}, "capacity must be an int >= 1, got True"),
    ({"service_time": 0}, "service_time must be a number > 0, got 0"),
    ({"deadline": -1}, "deadline must be a number > 0, got -1"),
])
def test_bad_configuration_names_the_field(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DownstreamConfig(**kwargs)  # type: ignore[arg-type]
