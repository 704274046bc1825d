"""`KeyQueues`: the per-key bookkeeping of a key-ordered :class:`ConcurrentStage`.

A pure planner (state in, decisions out, no tasks): it says whether an arriving item may go
to the workers now or waits behind an earlier item of its key, which item moves up when one
finished, and how much room the fullest key has left (what bounds demand upstream).

A key is *busy* while one of its items is in the stage's inbox or in flight; its later items
are parked here in arrival order. A key's *held* count is that one item plus its parked
ones. A histogram of held counts gives the fullest key in O(1) per change, so the demand
bound costs nothing per item that grows with the number of keys.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

from ._ack import Ack

A = TypeVar("A")


class KeyQueues(Generic[A]):
    """Per-key FIFO queues with a bound of *max_per_key* items held per key."""

    __slots__ = ("_fullest", "_hist", "_queues", "max_per_key", "parked")

    def __init__(self, max_per_key: int) -> None:
        self.max_per_key = max_per_key
        self._queues: dict[Hashable, deque[tuple[A, Ack | None]]] = {}
        # _hist[n]: keys holding n items (only for n >= 1; busy keys hold at least one).
        self._hist: list[int] = [0] * (max_per_key + 2)
        self._fullest = 0
        self.parked = 0
        """Items waiting behind an earlier item of their key."""

    @property
    def room(self) -> int:
        """Items the fullest key may still take before reaching *max_per_key*."""
        return self.max_per_key - self._fullest

    @property
    def fullest(self) -> int:
        """Items held by the key that holds the most."""
        return self._fullest

    @property
    def busy_keys(self) -> int:
        """Keys with an item in the inbox or in flight."""
        return len(self._queues)

    def arrive(self, key: Hashable, item: A, ack: Ack | None) -> bool:
        """An item arrived: True if it may go to the workers now (its key was idle)."""
        queue = self._queues.get(key)
        if queue is None:
            self._queues[key] = deque()
            self._move(0, 1)
            return True
        held = len(queue) + 1
        queue.append((item, ack))
        self.parked += 1
        self._move(held, held + 1)
        return False

    def finish(self, key: Hashable) -> tuple[A, Ack | None] | None:
        """The busy item of *key* finished: its next item (to the workers), or None."""
        queue = self._queues[key]
        held = len(queue) + 1
        self._move(held, held - 1)
        if not queue:
            del self._queues[key]
            return None
        self.parked -= 1
        return queue.popleft()

    def abandon_all(self) -> None:
        """The stage ended: abandon every parked item's ack and forget all keys."""
        for queue in self._queues.values():
            for _item, ack in queue:
                if ack is not None:
                    ack.abandon()
        self._queues.clear()
        self._hist = [0] * len(self._hist)
        self._fullest = 0
        self.parked = 0

    def _move(self, before: int, after: int) -> None:
        hist = self._hist
        if after >= len(hist):  # only if demand overshot the bound (it does not): grow
            hist.extend([0] * (after + 1 - len(hist)))
        if before:
            hist[before] -= 1
        if after:
            hist[after] += 1
        if after > self._fullest:
            self._fullest = after
        else:
            fullest = self._fullest
            while fullest and not hist[fullest]:
                fullest -= 1
            self._fullest = fullest
