"""`Lines`: the waiting items of the ``rate_limit`` stage, one line per key, taking turns.

Only the head of a line asks the limiter. Heads ask in turn order: a head that was refused,
or whose line just let an item pass, goes to the back, behind every head that has been
waiting longer. So when keys compete for a shared tier (a global limit), the capacity that
frees up goes to each waiting key in turn, among the items the stage holds; when they do not
compete (a limit per key), each head asks as soon as its own ``retry_after`` says it may pass,
whatever the other lines do. (Which items the stage holds at all is a matter of its pending
budget: see ``max_pending_per_key`` in ``_stage.py``.)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

P = TypeVar("P")


class Lines(Generic[P]):
    """Per-key FIFO lines, the time each head may next ask, and the turn order."""

    __slots__ = ("_lines", "_order", "_since", "_wake", "count")

    def __init__(self) -> None:
        self._lines: dict[Hashable, deque[P]] = {}
        self._order: deque[Hashable] = deque()
        self._wake: dict[Hashable, float] = {}
        self._since: dict[Hashable, float] = {}
        self.count = 0

    def __contains__(self, key: Hashable) -> bool:
        return key in self._lines

    def __bool__(self) -> bool:
        return bool(self._lines)

    def join(self, key: Hashable, item: P) -> None:
        """Append *item* to the line of *key* (which must exist)."""
        self._lines[key].append(item)
        self.count += 1

    def open(self, key: Hashable, item: P, *, since: float, wake: float) -> None:
        """Start the line of *key* with *item*, waiting since *since*, asking at *wake*."""
        self._lines[key] = deque((item,))
        self._order.append(key)
        self._since[key] = since
        self._wake[key] = wake
        self.count += 1

    def length(self, key: Hashable) -> int:
        """How many items wait in the line of *key* (0 if it has none)."""
        line = self._lines.get(key)
        return 0 if line is None else len(line)

    def head(self, key: Hashable) -> P:
        """The item at the head of the line of *key*."""
        return self._lines[key][0]

    def since(self, key: Hashable) -> float:
        """When the head of *key* started waiting."""
        return self._since[key]

    def due(self, now: float) -> list[Hashable]:
        """The keys whose heads may ask at *now*, in turn order."""
        wake = self._wake
        return [key for key in self._order if wake[key] <= now]

    def next_wake(self) -> float:
        """The earliest time a head may ask."""
        return min(self._wake.values())

    def refused(self, key: Hashable, until: float) -> None:
        """The head of *key* may not pass before *until*: to the back of the turn order."""
        self._wake[key] = until
        self._to_back(key)

    def pop(self, key: Hashable, now: float) -> P:
        """Take the head of *key* out (it passed or was turned away); the next item, if any,
        becomes the head, waiting since *now*, at the back of the turn order."""
        line = self._lines[key]
        item = line.popleft()
        self.count -= 1
        if line:
            self._since[key] = now
            self._wake[key] = now
            self._to_back(key)
        else:
            del self._lines[key], self._wake[key], self._since[key]
            self._order.remove(key)
        return item

    def clear(self) -> list[P]:
        """Forget every line; return the items that were waiting."""
        items = [item for line in self._lines.values() for item in line]
        self._lines.clear()
        self._order.clear()
        self._wake.clear()
        self._since.clear()
        self.count = 0
        return items

    def _to_back(self, key: Hashable) -> None:
        self._order.remove(key)
        self._order.append(key)
