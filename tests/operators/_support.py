"""Helpers of the fan-in / fan-out / nesting operator tests."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Hashable, Iterable
from typing import Any

from streamguard.testing import AckRecorder, RecordedAck, TestSubscriber


class Ledger(AckRecorder):
    """An :class:`AckRecorder` that also records ``abandon()`` and checks every ack issued
    was settled exactly once, whatever the outcome."""

    def __init__(self) -> None:
        super().__init__()
        self.abandoned: Counter[Hashable] = Counter()

    def ack(self, key: Hashable) -> RecordedAck:
        self.issued += 1
        return _LedgerAck(self, key)

    def settled(self) -> Counter[Hashable]:
        """Settlements per key, whatever the outcome."""
        return self.done + self.failed + self.abandoned

    def settled_exactly_once(self, keys: Iterable[Hashable]) -> bool:
        """Every key in *keys* settled exactly once, and no other key settled."""
        got = self.settled()
        return set(got) == set(keys) and all(v == 1 for v in got.values())


class _LedgerAck(RecordedAck):
    __slots__ = ()

    def abandon(self) -> None:
        self._recorder.abandoned[self._key] += 1  # type: ignore[attr-defined]


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
