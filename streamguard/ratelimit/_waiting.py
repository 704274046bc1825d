"""Waiting in line: one FIFO queue per key, so waiters of a key pass in arrival order and
waiters of different keys never hold each other up.

A waiter holds a place in the queue, not capacity: only the head of a queue asks the limiter,
sleeping exactly as long as the refusal's ``retry_after`` says. Nothing is consumed before a
waiter passes, so a cancelled waiter gives everything back by leaving the queue.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Waiter:
    """One caller waiting for *cost*."""

    __slots__ = ("cost", "turn")

    def __init__(self, cost: float) -> None:
        self.cost = cost
        self.turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class WaitQueue:
    """The waiters of one key, oldest first, and the cost they wait for."""

    __slots__ = ("cost", "waiters")

    def __init__(self) -> None:
        self.waiters: deque[Waiter] = deque()
        self.cost = 0.0

    def __len__(self) -> int:
        return len(self.waiters)

    def join(self, waiter: Waiter) -> bool:
        """Append *waiter*; True if it is at the head (its turn is now)."""
        self.waiters.append(waiter)
        self.cost += waiter.cost
        if len(self.waiters) == 1:
            waiter.turn.set_result(None)
            return True
        return False

    def leave(self, waiter: Waiter) -> None:
        """Remove *waiter* (passed, gave up or cancelled) and hand the turn to the next one."""
        if self.waiters and self.waiters[0] is waiter:
            self.waiters.popleft()
        else:
            self.waiters.remove(waiter)
        self.cost -= waiter.cost
        if self.waiters:
            head = self.waiters[0]
            if not head.turn.done():
                head.turn.set_result(None)
        else:
            self.cost = 0.0
