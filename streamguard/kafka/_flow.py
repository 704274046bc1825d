"""Pause application: the one place where the pause planner's decisions reach the fetching.

:class:`~streamguard.kafka._pause.PauseController` decides (pure: reasons in, changes out);
:class:`PauseApplier` applies its plan — only for partitions the consumer has assigned, and
never once the source is closing — and publishes what changed.

A pause is *soft*: the pump leaves a paused partition out of its ``getmany(*partitions)``
instead of calling ``consumer.pause``. aiokafka throws away what it had already fetched for a
partition it pauses, and fetches it again on resume; left out of ``getmany``, the partition
keeps at most the one fetch it holds (aiokafka fetches no more for a partition whose records
were not taken yet), and a resume hands those records out without a broker round trip. The
cost of a hard pause was memory as well as time: each dropped fetch buffer (up to
``max_partition_fetch_bytes``) lived on until the garbage collector found it (#11).
"""

from __future__ import annotations

import asyncio

from aiokafka.structs import TopicPartition

from ._context import SourceContext
from ._events import PartitionPaused, PartitionResumed, PauseReasonsChanged
from ._pause import PauseChange
from ._types import TP

# No partition is fetchable: ``getmany`` is still called — an active ``getmany`` is what
# keeps the consumer in its group past ``max_poll_interval`` — but for a partition that no
# consumer is ever assigned, so it returns nothing.
NOTHING: tuple[TP, ...] = (TopicPartition("", -1),)


class PauseApplier:
    """Applies a source's pause plan: which of its partitions the pump fetches from."""

    __slots__ = ("_ctx", "_polling", "_wake")

    def __init__(self, ctx: SourceContext) -> None:
        self._ctx = ctx
        self._polling: tuple[TP, ...] = ()  # the filter of the poll that waits for _wake
        self._wake: asyncio.Future[None] | None = None

    def fetch_filter(self) -> tuple[TP, ...]:
        """The partitions ``getmany`` should return records of: ``()`` for all of them."""
        paused = self._ctx.pause.paused
        if not paused:
            return ()
        return tuple(tp for tp in self._ctx.parts if tp not in paused) or NOTHING

    def wake_on_change(self, polling: tuple[TP, ...]) -> asyncio.Future[None]:
        """A future set once the fetch filter differs from *polling* (a partition resumed or
        was assigned), so that a ``getmany`` waiting with the old filter can stop."""
        self._polling = polling
        self._wake = asyncio.get_running_loop().create_future()
        return self._wake

    def apply(self) -> list[TP]:
        """Apply the controller's plan; return the partitions paused now."""
        ctx = self._ctx
        paused: list[TP] = []
        if ctx.usable_consumer is not None:
            changes = ctx.pause.plan()
            if changes:
                paused = self._publish(changes)
        wake = self._wake
        if wake is not None and not wake.done() and self.fetch_filter() != self._polling:
            wake.set_result(None)
        return paused

    def _publish(self, changes: list[PauseChange]) -> list[TP]:
        ctx = self._ctx
        assigned = ctx.parts
        to_pause = [c.tp for c in changes if c.paused and not c.again and c.tp in assigned]
        ctx.counts.pauses += len(to_pause)
        ctx.counts.resumes += sum(1 for c in changes if not c.paused and c.tp in assigned)
        if ctx.bus.active:
            for change in changes:
                tp, reasons = change.tp, tuple(sorted(str(r) for r in change.reasons))
                if change.again:
                    ctx.publish(PauseReasonsChanged(source=ctx.name, topic=tp.topic,
                                                    partition=tp.partition, reasons=reasons))
                elif change.paused:
                    ctx.publish(PartitionPaused(source=ctx.name, topic=tp.topic,
                                                partition=tp.partition, reasons=reasons))
                else:
                    ctx.publish(PartitionResumed(source=ctx.name, topic=tp.topic,
                                                 partition=tp.partition,
                                                 paused_for=change.paused_for))
        return to_pause
