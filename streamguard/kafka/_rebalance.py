"""Rebalancing: the bridge from aiokafka's rebalance callbacks, and what the source does then.

aiokafka awaits these coroutines inside its group coordinator, before it rejoins (revoke)
and after the new assignment is in place (assign) — the only moments at which in-flight
records can be finished and committed by their owner, and streamguard's pause state applied
to the new assignment (a soft pause: a paused partition is left out of the pump's ``getmany``;
no consumer pause flag is set, see :mod:`._flow`).

A newly assigned partition's committed offset is then read once (by the pump, before its
next fetch): for broker lag and, with ``completed_metadata`` (#13), for the completed offsets
above it that the last owner wrote into the commit's metadata. Until that read returns, the
partition's fetched records are held back, so none of those is delivered again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from ._commits import Committer
from ._completion import Completion
from ._context import SourceContext
from ._events import PartitionsAssigned, PartitionsRevoked
from ._lifecycle import Phase
from ._offset_map import MetadataError, decode
from ._partition import PartitionState
from ._types import TP

Handler = Callable[[frozenset[TP]], Awaitable[None]]
_log = logging.getLogger("streamguard.kafka")


async def read_committed(consumer: Any, tps: list[TP]) -> dict[TP, tuple[int, str]]:
    """The group's committed ``(offset, metadata)`` of *tps* (absent: never committed).

    aiokafka's public ``consumer.committed(tp)`` returns the offset alone. It reads it with
    the group coordinator's ``fetch_committed_offsets``, whose answer is Kafka's
    OffsetAndMetadata; that call (one private attribute, ``consumer._coordinator``, in one
    request for every partition, on the consumer's own coordinator connection) is used here.
    The public alternative, ``AIOKafkaAdminClient.list_consumer_group_offsets``, would open a
    second client per source. Should a later aiokafka lack the attribute, the offsets come
    from ``committed()`` without metadata: records are delivered again, never lost.
    """
    fetch = getattr(getattr(consumer, "_coordinator", None), "fetch_committed_offsets", None)
    if fetch is None:
        found = {tp: await consumer.committed(tp) for tp in tps}
        return {tp: (o, "") for tp, o in found.items() if o is not None and o >= 0}
    answer = await fetch(tps)
    return {tp: (int(om.offset), om.metadata or "") for tp, om in answer.items()
            if om.offset is not None and om.offset >= 0}


class RebalanceBridge(ConsumerRebalanceListener):  # type: ignore[misc]
    """Calls *on_revoked* and *on_assigned* with frozensets of partitions."""

    def __init__(self, on_revoked: Handler, on_assigned: Handler) -> None:
        self._on_revoked = on_revoked
        self._on_assigned = on_assigned

    async def on_partitions_revoked(self, revoked: Any) -> None:
        """aiokafka: these partitions are about to be taken away."""
        await self._on_revoked(frozenset(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        """aiokafka: this is the new assignment."""
        await self._on_assigned(frozenset(assigned))


class Rebalancer:
    """What the source does when partitions are revoked or assigned.

    Revoke: drop what was fetched and not handed out, wait (up to ``revoke_timeout``, or the
    drain's deadline while draining) for the records in flight, commit what completed,
    forget the partitions. While the source closes, the revoke waits for nothing and makes
    the close's last commit for its partitions itself, before they go. Assign: start
    tracking the new partitions and apply streamguard's pause state to them.
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
        # While the source closes, the group may rebalance before the close's last commit:
        # that commit is made here for these partitions, before aiokafka rejoins and hands
        # them to another member. Returning at once let the new owner start from the
        # previous commit (delivering again what completed here), and the close's own commit
        # was then refused: a partition it named was no longer assigned. The broker still
        # takes this one: the member has not rejoined, so its generation holds. Nothing is
        # waited for (the close does not wait either: a drain waited before CLOSING, a cancel
        # or an error abandons what is in flight). A partition whose tracker is dead had the
        # close's last commit already.
        closing = not ctx.life.open
        if closing:
            parts = [p for p in parts if not p.tracker.dead]
        if not parts:
            return
        loop = asyncio.get_running_loop()
        began = loop.time()
        dropped = 0
        for part in parts:
            part.revoking = True
            dropped += part.drop_buffer()
        pending_before = sum(p.tracker.pending_records for p in parts)
        if not closing:
            # While draining, the pipeline finishes what it holds whatever happens: give the
            # revoked partitions' records the drain's deadline, not revoke_timeout, or those
            # finishing after it are accepted downstream yet never committed (#14: three
            # --workers draining at once, one leaving first, under load).
            limit = ctx.config.revoke_timeout
            if ctx.life.phase is Phase.DRAINING:
                limit = max(limit, ctx.drain_timeout)
            await self._completion.wait_in_flight(parts, limit)
        if ctx.config.group_id:
            await self._committer.commit(parts, "revoke", final=True)
        left = sum(p.tracker.pending_records for p in parts)
        self._let_go(parts, completed=pending_before - left, dropped=dropped + left,
                     waited=loop.time() - began)

    def _let_go(self, parts: list[PartitionState], *, completed: int, dropped: int,
                waited: float) -> None:
        """Forget the revoked *parts* (late completions are ignored) and report them."""
        ctx = self._ctx
        for part in parts:
            part.tracker.dead = True
            if ctx.parts.get(part.tp) is part:
                del ctx.parts[part.tp]
        ctx.pause.revoke(frozenset(p.tp for p in parts))
        ctx.publish(PartitionsRevoked(
            source=ctx.name, partitions=tuple((p.tp.topic, p.tp.partition) for p in parts),
            completed=completed, dropped=dropped, waited=waited,
        ))

    async def on_assigned(self, assigned: frozenset[TP]) -> None:
        """*assigned* is the new assignment: track its new partitions and announce which of
        them streamguard holds paused."""
        ctx = self._ctx
        for tp in assigned:
            if tp not in ctx.parts:
                holder: list[PartitionState] = []
                part = PartitionState(tp, self._completion.tracker_for(holder))
                holder.append(part)
                if ctx.config.group_id and ctx.config.completed_metadata:
                    part.held = []  # until the completed offsets above the commit are known
                ctx.parts[tp] = part
                self.unknown_committed = True
        ctx.pause.assign(assigned)
        paused = self._apply_pauses()
        ctx.publish(PartitionsAssigned(
            source=ctx.name,
            partitions=tuple((tp.topic, tp.partition) for tp in sorted(assigned)),
            paused=tuple((tp.topic, tp.partition) for tp in paused),
        ))

    async def learn_committed(self) -> list[tuple[PartitionState, list[list[Any]]]]:
        """Read the committed offsets (and completed offsets above them) of newly assigned
        partitions; return the partitions whose held-back batches may now be accepted."""
        self.unknown_committed = False
        ctx = self._ctx
        if not ctx.config.group_id or ctx.usable_consumer is None:
            return []
        parts = [p for p in ctx.parts.values() if not p.committed_known and not p.revoking]
        if not parts:
            return []
        try:
            found = await read_committed(ctx.consumer, [p.tp for p in parts])
        except KafkaError as exc:
            self.unknown_committed = True  # read again at the next poll (for broker lag)
            if any(p.held is not None for p in parts):
                _log.warning("source %r: reading the committed offsets failed (%r); records "
                             "above them are delivered again", ctx.name, exc)
            return [(p, release(p)) for p in parts if p.held is not None]
        for part in parts:
            part.committed_known = True
            offset, metadata = found.get(part.tp, (None, ""))
            if offset is not None and part.tracker.committed is None:
                part.tracker.committed = offset
            if offset is not None and part.held is not None:
                self._learn_completed(part, offset, metadata)
        return [(p, release(p)) for p in parts if p.held is not None]

    def _learn_completed(self, part: PartitionState, offset: int, metadata: str) -> None:
        try:
            part.skip = decode(metadata, offset)
        except MetadataError as exc:
            _log.info("source %r: the commit metadata of %s/%d is ignored (%s); the records "
                      "above offset %d are delivered again", self._ctx.name, part.tp.topic,
                      part.tp.partition, exc, offset)
            return
        part.metadata = metadata


def release(part: PartitionState) -> list[list[Any]]:
    """Stop holding *part*'s fetched records back; return the batches held so far."""
    held, part.held = part.held or [], None
    if held:  # the lag reader may have taken the position after them for the start
        part.start = held[0][0].offset
    return held
