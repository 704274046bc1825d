"""The demo's own bookkeeping: every record that entered is classified, so ``lost`` is what
is accounted for nowhere, not a number derived from itself."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Iterable


class Ledger:
    """Keys of what entered and where each went (a key is ``(partition, offset)`` for Kafka,
    the order id in memory). Fill :meth:`enter` first, then record outcomes."""

    def __init__(self) -> None:
        self.entered: set[Hashable] = set()
        self.delivered: set[Hashable] = set()
        self.dead_lettered: set[Hashable] = set()
        self.dropped: set[Hashable] = set()
        self.source = "memory"
        self.note = ""
        self._accounted: set[Hashable] = set()
        self._settled = asyncio.Event()

    def enter(self, keys: Iterable[Hashable]) -> None:
        """Items that entered the pipeline."""
        self.entered.update(keys)
        self._check()

    def deliver(self, key: Hashable) -> None:
        """The downstream accepted *key*."""
        self.delivered.add(key)
        self._account(key)

    def dead_letter(self, key: Hashable) -> None:
        """*key* went to the dead-letter sink."""
        self.dead_lettered.add(key)
        self._account(key)

    def drop(self, key: Hashable) -> None:
        """*key* was dropped on purpose (validation)."""
        self.dropped.add(key)
        self._account(key)

    def _account(self, key: Hashable) -> None:
        if key in self.entered and key not in self._accounted:
            self._accounted.add(key)
            self._check()

    def _check(self) -> None:
        if self.entered and len(self._accounted) == len(self.entered):
            self._settled.set()

    async def settled(self) -> None:
        """Wait until every key that entered is accounted for."""
        await self._settled.wait()

    def counts(self) -> dict[str, int]:
        """``items_in``, ``items_out``, ``dead_lettered``, ``dropped`` and ``lost``; a key in
        several sets counts once, delivered first (an item both delivered and dead-lettered
        reached the downstream)."""
        out = self.delivered & self.entered
        dead = (self.dead_lettered & self.entered) - out
        dropped = (self.dropped & self.entered) - out - dead
        accounted = len(out) + len(dead) + len(dropped)
        return {"items_in": len(self.entered), "items_out": len(out),
                "dead_lettered": len(dead), "dropped": len(dropped),
                "lost": len(self.entered) - accounted}
