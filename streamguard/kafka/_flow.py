"""Pause application: the one place where the pause planner's decisions touch the consumer.

:class:`~streamguard.kafka._pause.PauseController` decides (pure: reasons in, changes out);
:class:`PauseApplier` applies its plan to the consumer — only for partitions the consumer
has assigned, and never once the source is closing — and publishes what changed.
"""

from __future__ import annotations

from ._context import SourceContext
from ._events import PartitionPaused, PartitionResumed, PauseReasonsChanged
from ._types import TP


class PauseApplier:
    """Applies a source's pause plan on its consumer."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: SourceContext) -> None:
        self._ctx = ctx

    def apply(self) -> list[TP]:
        """Apply the controller's plan on the consumer; return the partitions paused now."""
        ctx = self._ctx
        consumer = ctx.usable_consumer
        if consumer is None:
            return []
        changes = ctx.pause.plan()
        if not changes:
            return []
        assigned = consumer.assignment()
        to_pause = [c.tp for c in changes if c.paused and not c.again and c.tp in assigned]
        to_resume = [c.tp for c in changes if not c.paused and c.tp in assigned]
        if to_pause:
            consumer.pause(*to_pause)
            ctx.counts.pauses += len(to_pause)
        if to_resume:
            consumer.resume(*to_resume)
            ctx.counts.resumes += len(to_resume)
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
