"""Rebalancing: the bridge from aiokafka's rebalance callbacks, and what the source does then.

aiokafka awaits these coroutines inside its group coordinator, before it rejoins (revoke)
and after the new assignment is in place (assign) — the only moments at which in-flight
records can be finished and committed by their owner, and pause flags put back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from ._commits import Committer
from ._completion import Completion
from ._context import SourceContext
from ._events import PartitionsAssigned, PartitionsRevoked
from ._partition import PartitionState
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


class Rebalancer:
    """What the source does when partitions are revoked or assigned.

    Revoke: drop what was fetched and not handed out, wait (up to ``revoke_timeout``) for the
    records in flight, commit what completed, forget the partitions. Assign: start tracking
    the new partitions and put streamguard's pause state back on the consumer.
    """

    def __init__(self, ctx: SourceContext, completion: Completion, committer: Committer,
                 apply_pauses: Callable[[], list[TP]]) -> None:
        self._ctx = ctx
        self._completion = completion
        self._committer = committer
        self._apply_pauses = apply_pauses
        self.unknown_committed = False  # newly assigned partitions whose committed offset
        # the pump still has to read (for broker lag)

    async def on_revoked(self, revoked: frozenset[TP]) -> None:
        """aiokafka is about to take *revoked* away."""
        ctx = self._ctx
        parts = [ctx.parts[tp] for tp in sorted(revoked) if tp in ctx.parts]
        if not parts or not ctx.life.open:
            return
        loop = asyncio.get_running_loop()
        began = loop.time()
        dropped = 0
        for part in parts:
            part.revoking = True
            dropped += part.drop_buffer()
        pending_before = sum(p.tracker.pending_records for p in parts)
        await self._completion.wait_in_flight(parts, ctx.config.revoke_timeout)
        if ctx.config.group_id:
            await self._committer.commit(parts, "revoke", final=True)
        left = sum(p.tracker.pending_records for p in parts)
        for part in parts:
            part.tracker.dead = True
            del ctx.parts[part.tp]
        ctx.pause.revoke(frozenset(p.tp for p in parts))
        ctx.publish(PartitionsRevoked(
            source=ctx.name, partitions=tuple((p.tp.topic, p.tp.partition) for p in parts),
            completed=pending_before - left, dropped=dropped + left,
            waited=loop.time() - began,
        ))

    async def on_assigned(self, assigned: frozenset[TP]) -> None:
        """*assigned* is the new assignment (aiokafka cleared every pause flag)."""
        ctx = self._ctx
        for tp in assigned:
            if tp not in ctx.parts:
                holder: list[PartitionState] = []
                part = PartitionState(tp, self._completion.tracker_for(holder))
                holder.append(part)
                ctx.parts[tp] = part
                self.unknown_committed = True
        ctx.pause.assign(assigned)
        paused = self._apply_pauses()
        ctx.publish(PartitionsAssigned(
            source=ctx.name,
            partitions=tuple((tp.topic, tp.partition) for tp in sorted(assigned)),
            paused=tuple((tp.topic, tp.partition) for tp in paused),
        ))

    async def learn_committed(self) -> None:
        """Read the group's committed offsets of newly assigned partitions (for broker lag)."""
        self.unknown_committed = False
        ctx = self._ctx
        if not ctx.config.group_id or ctx.usable_consumer is None:
            return
        for part in list(ctx.parts.values()):
            if not part.committed_known and not part.revoking:
                part.committed_known = True
                try:
                    committed = await ctx.consumer.committed(part.tp)
                except KafkaError:
                    part.committed_known = False
                    self.unknown_committed = True
                    return
                if part.tracker.committed is None and committed is not None and committed >= 0:
                    part.tracker.committed = committed
