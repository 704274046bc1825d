"""The bridge from aiokafka's rebalance callbacks to the source.

aiokafka awaits these coroutines inside its group coordinator, before it rejoins (revoke)
and after the new assignment is in place (assign) — the only moments at which in-flight
records can be finished and committed by their owner, and pause flags put back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.abc import ConsumerRebalanceListener

from ._types import TP

Handler = Callable[[frozenset[TP]], Awaitable[None]]


class RebalanceBridge(ConsumerRebalanceListener):  # type: ignore[misc]
    """Calls *on_revoked* and *on_assigned* with frozensets of partitions."""

    def __init__(self, on_revoked: Handler, on_assigned: Handler) -> None:
        self._on_revoked = on_revoked
        self._on_assigned = on_assigned

    async def on_partitions_revoked(self, revoked: Any) -> None:
        """aiokafka: these partitions are about to be taken away."""
        await self._on_revoked(frozenset(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        """aiokafka: this is the new assignment (every pause flag is cleared)."""
        await self._on_assigned(frozenset(assigned))
