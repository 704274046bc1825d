"""Reactive Streams rules (those that apply to one asyncio thread) for every fan-in,
fan-out, nesting and recovery operator, and for a group's substream on its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from streamguard import DemandError, from_iterable
from streamguard import operators as op
from streamguard.core import UNBOUNDED, Stream
from streamguard.testing import TestSubscriber

from ._publishers import PUBLISHERS, _mod
from ._support import settle


@pytest.fixture(params=sorted(PUBLISHERS))
def make(request: pytest.FixtureRequest) -> Callable[[], Stream[Any]]:
    return PUBLISHERS[request.param]


async def test_every_item_exactly_once(make: Callable[[], Stream[Any]]) -> None:
    assert sorted(await make().to_list()) == list(range(100))


async def test_rule_1_1_never_more_than_requested(make: Callable[[], Stream[Any]]) -> None:
    sub: TestSubscriber[int] = TestSubscriber()
    make().subscribe(sub)
    for n in (1, 3, 7, 2):
        sub.request(n)
        await settle(60)
    assert len(sub.items) == 13
    assert len(set(sub.items)) == 13
    assert set(sub.items) <= set(range(100))
    assert sub.violations == []
    sub.cancel()


@pytest.mark.parametrize("bad", [0, -1, -(2**63)])
async def test_rule_3_9_non_positive_request_signals_error(
    make: Callable[[], Stream[Any]], bad: int
) -> None:
    sub: TestSubscriber[int] = TestSubscriber()
    make().subscribe(sub)
    await settle()
    sub.request(bad)
    await settle()
    assert len(sub.errors) == 1
    err = sub.errors[0]
    assert isinstance(err, DemandError)
    assert "rule 3.9" in str(err)
    assert f"got {bad}" in str(err)
    assert sub.violations == []


async def test_rule_3_17_demand_accumulates_and_saturates(
    make: Callable[[], Stream[Any]],
) -> None:
    sub: TestSubscriber[int] = TestSubscriber()
    make().subscribe(sub)
    sub.request(UNBOUNDED)
    sub.request(UNBOUNDED)
    sub.request(5)
    await settle(300)
    assert sub.errors == []
    assert sorted(sub.items) == list(range(100))
    assert sub.completions == 1


async def test_rules_1_7_and_2_4_one_terminal_signal_and_nothing_after(
    make: Callable[[], Stream[Any]],
) -> None:
    sub: TestSubscriber[int] = TestSubscriber(initial_request=1000)
    make().subscribe(sub)
    await settle(300)
    assert sub.completions == 1
    sub.request(10)
    await settle()
    assert sub.completions == 1
    assert sub.errors == []
    assert sub.violations == []


async def test_rules_3_5_and_3_12_cancel_is_idempotent_and_stops_emission(
    make: Callable[[], Stream[Any]],
) -> None:
    sub: TestSubscriber[int] = TestSubscriber()
    make().subscribe(sub)
    sub.request(5)
    await settle(60)
    sub.cancel()
    sub.cancel()
    received = len(sub.items)
    sub.request(10)
    await settle(60)
    assert len(sub.items) == received <= 5
    assert sub.errors == []
    assert sub.violations == []


async def test_group_substreams_each_have_their_own_demand() -> None:
    outer: TestSubscriber[Any] = TestSubscriber()
    from_iterable(range(40)).pipe(op.group_by(_mod(2), buffer=40)).subscribe(outer)
    outer.request(2)
    await settle()
    assert [g.key for g in outer.items] == [0, 1]
    evens: TestSubscriber[int] = TestSubscriber()
    odds: TestSubscriber[int] = TestSubscriber()
    outer.items[0].subscribe(evens)
    outer.items[1].subscribe(odds)
    evens.request(3)
    odds.request(1)
    await settle()
    assert evens.items == [0, 2, 4]
    assert odds.items == [1]
    odds.request(UNBOUNDED)
    await settle()
    assert odds.items == list(range(1, 40, 2))
    assert odds.completions == 1
    assert evens.items == [0, 2, 4]  # the slow group is untouched by the fast one
    assert evens.completions == 0
    evens.request(0)
    assert isinstance(evens.errors[0], DemandError)
    assert evens.violations == []
    assert odds.violations == []


async def test_a_group_can_be_subscribed_once() -> None:
    groups = await from_iterable([1]).pipe(op.group_by(lambda x: x)).to_list()
    first: TestSubscriber[int] = TestSubscriber(initial_request=10)
    second: TestSubscriber[int] = TestSubscriber(initial_request=10)
    groups[0].subscribe(first)
    groups[0].subscribe(second)
    await settle()
    assert first.items == [1]
    assert "subscribe once" in str(second.errors[0])
