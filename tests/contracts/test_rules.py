"""The Reactive Streams rules that apply to one asyncio thread, run over every registered
source and every registered stage (see ``registry.py`` to add yours).

A stage is tested as the publisher ``from_iterable(range(100)) | stage``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from streamguard import DemandError
from streamguard.core import UNBOUNDED, Stream
from streamguard.testing import TestSubscriber

from . import registry
from .registry import SourceCase, StageCase

N = 100

Open = Callable[[], contextlib.AbstractAsyncContextManager[tuple[Stream[Any], list[Any], bool]]]


def _from_source(case: SourceCase) -> Open:
    @contextlib.asynccontextmanager
    async def open_() -> AsyncIterator[tuple[Stream[Any], list[Any], bool]]:
        async with case.open(N, None) as stream:
            yield stream, list(range(N)), True

    return open_


def _from_stage(case: StageCase) -> Open:
    @contextlib.asynccontextmanager
    async def open_() -> AsyncIterator[tuple[Stream[Any], list[Any], bool]]:
        from streamguard import from_iterable

        yield from_iterable(range(N)).pipe(case.make()), case.expect(list(range(N))), case.ordered

    return open_


PUBLISHERS: list[Any] = [
    pytest.param(_from_source(c), id=f"source:{c.name}", marks=c.marks)
    for c in registry.SOURCES.values()
] + [
    pytest.param(_from_stage(c), id=f"stage:{c.name}", marks=c.marks)
    for c in registry.STAGES.values() if not c.sink
]


async def _settle(n: int = 50) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def _until(sub: TestSubscriber[Any], done: Callable[[], bool], turns: int = 5_000) -> None:
    for _ in range(turns):
        if done():
            return
        await asyncio.sleep(0)


@pytest.fixture(params=PUBLISHERS)
def publisher(request: pytest.FixtureRequest) -> Open:
    opener: Open = request.param
    return opener


async def test_rule_1_1_never_more_than_requested(publisher: Open) -> None:
    async with publisher() as (stream, expected, ordered):
        sub: TestSubscriber[Any] = TestSubscriber()
        stream.subscribe(sub)
        asked = 0
        for n in (1, 3, 7, 2):
            sub.request(n)
            asked += n
            want = min(asked, len(expected))
            await _until(sub, lambda: len(sub.items) >= want)  # noqa: B023
        await _settle()
        assert sub.violations == []
        assert len(sub.items) == min(13, len(expected))
        if ordered:
            assert sub.items == expected[:len(sub.items)]
        else:
            assert len({repr(x) for x in sub.items}) == len(sub.items)
            assert {repr(x) for x in sub.items} <= {repr(x) for x in expected}
        sub.cancel()


@pytest.mark.parametrize("bad", [0, -1, -(2**63)])
async def test_rule_3_9_non_positive_request_is_an_error_naming_it(
    publisher: Open, bad: int,
) -> None:
    async with publisher() as (stream, _, _ordered):
        sub: TestSubscriber[Any] = TestSubscriber()
        stream.subscribe(sub)
        sub.request(bad)
        await _settle()
        assert len(sub.errors) == 1, sub.errors
        error = sub.errors[0]
        assert isinstance(error, DemandError)
        assert "rule 3.9" in str(error)
        assert f"got {bad}" in str(error)
        assert sub.violations == []


async def test_rule_3_17_demand_saturates_at_unbounded(publisher: Open) -> None:
    async with publisher() as (stream, expected, _ordered):
        sub: TestSubscriber[Any] = TestSubscriber()
        stream.subscribe(sub)
        sub.request(UNBOUNDED)
        sub.request(UNBOUNDED)  # must not overflow or error
        sub.request(5)
        await _until(sub, lambda: sub.terminated)
        assert sub.errors == []
        assert sorted(map(repr, sub.items)) == sorted(map(repr, expected))
        assert sub.completions == 1


async def test_rules_1_7_2_4_3_6_one_terminal_signal_then_nothing(publisher: Open) -> None:
    async with publisher() as (stream, _, _ordered):
        sub: TestSubscriber[Any] = TestSubscriber(initial_request=1000)
        stream.subscribe(sub)
        await _until(sub, lambda: sub.terminated)
        assert sub.completions == 1
        received = len(sub.items)
        sub.request(10)  # after the end: a no-op (3.6)
        await _settle()
        assert sub.completions == 1
        assert len(sub.items) == received
        assert sub.errors == []
        assert sub.violations == []


async def test_rules_3_5_3_12_cancel_is_idempotent_and_stops_emission(publisher: Open) -> None:
    async with publisher() as (stream, _, _ordered):
        sub: TestSubscriber[Any] = TestSubscriber()
        stream.subscribe(sub)
        sub.request(5)
        await _settle()
        sub.cancel()
        sub.cancel()
        received = len(sub.items)
        assert received <= 5
        sub.request(10)
        await _settle()
        assert len(sub.items) == received
        assert sub.errors == []
        assert sub.violations == []


async def test_rule_3_13_cancel_drops_the_reference_to_the_subscriber(publisher: Open) -> None:
    async with publisher() as (stream, _, _ordered):
        sub: TestSubscriber[Any] = TestSubscriber()
        stream.subscribe(sub)
        sub.request(3)
        await _settle()
        subscription = sub.subscription  # keep the publisher alive, drop the subscriber
        sub.cancel()
        await _settle()
        ref = weakref.ref(sub)
        sub.subscription = None
        del sub
        gc.collect()
        assert ref() is None, gc.get_referrers(ref())
        assert subscription is not None
