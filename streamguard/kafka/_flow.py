"""Soft pause: the one way streamguard pauses a partition, and where the at-least-once source's
pause plan reaches the fetching.

A pause is *soft*: a paused partition is left out of ``getmany(*partitions)`` instead of
calling ``consumer.pause``. aiokafka throws away what it had already fetched for a partition
it pauses, and fetches it again on resume; left out of ``getmany``, the partition keeps at most
the one fetch it holds (aiokafka fetches no more for a partition whose records were not taken
yet), and a resume hands those records out without a broker round trip. The cost of a hard
pause was memory as well as time: each dropped fetch buffer (up to
``max_partition_fetch_bytes``) lived on until the garbage collector found it (#11).

:class:`SoftPause` is the mechanism, for any owner of a consumer that says which partitions
it has and which of them are paused: :class:`PauseApplier` (the source, whose
:class:`~streamguard.kafka._pause.PauseController` decides: reasons in, changes out) and the
exactly-once pipeline's lanes (:mod:`._transactional`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Iterable
from typing import Any

from aiokafka.structs import TopicPartition

from ._context import SourceContext
from ._events import PartitionPaused, PartitionResumed, PauseReasonsChanged
from ._pause import PauseChange
from ._types import TP

_STOP = "streamguard: the owner stopped fetching"  # the message of stop()'s cancel

# No partition is fetchable: ``getmany`` is still called — an active ``getmany`` is what
# keeps the consumer in its group past ``max_poll_interval`` — but for a partition that no
# consumer is ever assigned, so it returns nothing.
NOTHING: tuple[TP, ...] = (TopicPartition("", -1),)


class SoftPause:
    """Polls a consumer for its partitions that are not paused (see the module docstring).

    Args:
        assigned: the partitions the owner has now.
        paused: those of them (or more) that must not be fetched now.
    """

    __slots__ = ("_assigned", "_paused", "_poller", "_polling", "_stopped", "_wake")

    def __init__(self, assigned: Callable[[], Iterable[TP]],
                 paused: Callable[[], Collection[TP]]) -> None:
        self._assigned = assigned
        self._paused = paused
        self._polling: tuple[TP, ...] = ()  # the filter of the poll that waits for _wake
        self._wake: asyncio.Future[None] | None = None
        self._poller: asyncio.Task[Any] | None = None  # the task waiting in getmany now
        self._stopped = False

    def stop(self) -> None:
        """The owner stopped fetching for good: the ``getmany`` under way returns (empty)
        now, not when its ``poll_timeout`` runs out, and every later one returns at once, so
        that the owner's close starts promptly.

        Cancelling ``consumer.getmany`` loses no record: aiokafka takes records out of its
        fetcher only between awaits and returns them at once, so a cancel lands either
        before the records are taken (they stay in the fetcher, fetched again by the next
        owner from the committed offset) or after they were returned (the owner, which
        stopped fetching, hands none of them out and commits none of them).
        """
        if self._stopped:
            return  # one cancel only: a second would look like a cancel from outside
        self._stopped = True
        if self._poller is not None:
            self._poller.cancel(_STOP)

    @property
    def stopped(self) -> bool:
        """True once :meth:`stop` was called: the owner fetches no more."""
        return self._stopped

    def fetch_filter(self) -> tuple[TP, ...]:
        """The partitions ``getmany`` should return records of: ``()`` for all of them."""
        paused = self._paused()
        if not paused:
            return ()
        return tuple(tp for tp in self._assigned() if tp not in paused) or NOTHING

    def wake_on_change(self, polling: tuple[TP, ...]) -> asyncio.Future[None]:
        """A future set once the fetch filter differs from *polling* (a partition resumed or
        was assigned), so that a ``getmany`` waiting with the old filter can stop."""
        self._polling = polling
        self._wake = asyncio.get_running_loop().create_future()
        return self._wake

    def changed(self) -> None:
        """Wake the waiting poll if the fetch filter is no longer the one it polls with (call
        after any pause, resume, assignment or revocation)."""
        wake = self._wake
        if wake is not None and not wake.done() and self.fetch_filter() != self._polling:
            wake.set_result(None)

    async def getmany(self, consumer: Any, *, timeout_ms: int, max_records: int
                      ) -> dict[Any, list[Any]]:
        """One ``consumer.getmany`` over the partitions that are not paused; it returns early
        (empty) when the filter changes meanwhile, so a resume never waits for the timeout,
        and at once after :meth:`stop`."""
        if self._stopped:
            return {}
        self._poller = task = asyncio.current_task()
        try:
            return await self._getmany(consumer, timeout_ms=timeout_ms, max_records=max_records)
        except asyncio.CancelledError:
            # stop()'s own cancel ends the poll quietly; any other cancel goes on.
            if not self._stopped or task is None or task.uncancel() > 0:
                raise
            return {}
        finally:
            self._poller = None

    async def _getmany(self, consumer: Any, *, timeout_ms: int, max_records: int
                       ) -> dict[Any, list[Any]]:
        only = self.fetch_filter()
        if not only:  # nothing paused: the common case, no task and no future
            batch: dict[Any, list[Any]] = await consumer.getmany(
                timeout_ms=timeout_ms, max_records=max_records)
            return batch
        changed = self.wake_on_change(only)
        poll = asyncio.ensure_future(consumer.getmany(*only, timeout_ms=timeout_ms,
                                                      max_records=max_records))
        try:
            await asyncio.wait((poll, changed), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not poll.done():
                # Safe: getmany takes records only between its awaits, and returns at once.
                poll.cancel()
                try:
                    await poll
                except asyncio.CancelledError:
                    if _cancelling():  # this task's own cancel, not the poll's
                        raise
        return {} if poll.cancelled() else poll.result()


class PauseApplier(SoftPause):
    """Applies a source's pause plan — only for partitions the consumer has assigned, and
    never once the source is closing — publishes what changed, and is the pump's
    :class:`SoftPause`."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: SourceContext) -> None:
        super().__init__(lambda: ctx.parts, lambda: ctx.pause.paused)
        self._ctx = ctx

    def apply(self) -> list[TP]:
        """Apply the controller's plan; return the partitions paused now."""
        ctx = self._ctx
        paused: list[TP] = []
        if ctx.usable_consumer is not None:
            changes = ctx.pause.plan()
            if changes:
                paused = self._publish(changes)
        self.changed()
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


def _cancelling() -> int:
    task = asyncio.current_task()
    return 0 if task is None else task.cancelling()
