"""Helpers of the fan-in / fan-out / nesting operator tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from streamguard.testing import AckRecorder, TestSubscriber


class Ledger(AckRecorder):
    """An :class:`AckRecorder`; ``settled_exactly_once(keys)`` checks every ack issued was
    settled exactly once, whatever the outcome (``AckRecorder`` records ``abandon()``)."""


async def settle(turns: int = 30) -> None:
    """Let the loop run *turns* times."""
    for _ in range(turns):
        await asyncio.sleep(0)


async def drive(sub: TestSubscriber[Any], demands: list[int], pauses: list[int],
                limit: int = 20_000) -> None:
    """Request by *demands* whenever nothing is outstanding, pausing between, until the
    subscriber got its terminal signal."""
    i = 0
    for _ in range(limit):
        if sub.terminated:
            return
        if sub.outstanding == 0:
            sub.request(demands[i % len(demands)])
            i += 1
        for _ in range(pauses[i % len(pauses)]):
            await asyncio.sleep(0)
        await asyncio.sleep(0)
    raise AssertionError("pipeline did not finish")


async def silent() -> AsyncIterator[int]:
    """An async generator that never yields (until cancelled)."""
    await asyncio.Event().wait()
    yield 0  # pragma: no cover
