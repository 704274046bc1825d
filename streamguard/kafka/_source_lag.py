"""The source's view of its partitions' lag, sampled every ``lag_interval`` seconds.

``highwater()`` goes stale while a partition is paused, and some brokers answer ListOffsets
wrongly, so for paused partitions a side reader (:class:`~streamguard.kafka.LogEndReader`)
fetches the current high-watermark.
"""

from __future__ import annotations

import contextlib

from aiokafka.errors import KafkaError

from ._context import SourceContext
from ._errors import KafkaAdapterError
from ._events import LagSampled
from ._group_lag import LogEndReader
from ._lag import PartitionLag, broker_lag, in_flight, log_end_estimate
from ._partition import PartitionState


class LagView:
    """Lag per partition now (:meth:`of`), and :class:`LagSampled` events on the bus."""

    def __init__(self, ctx: SourceContext) -> None:
        self._ctx = ctx
        self._ends: LogEndReader | None = None
        self._next = 0.0

    def all(self) -> tuple[PartitionLag, ...]:
        """The lag of every assigned partition now."""
        return tuple(self.of(part) for _, part in sorted(self._ctx.parts.items()))

    async def maybe_sample(self) -> None:
        """Publish a :class:`LagSampled` event if ``lag_interval`` has passed."""
        ctx = self._ctx
        if ctx.clock.now() < self._next:
            return
        self._next = ctx.clock.now() + ctx.config.lag_interval
        paused = [tp for tp in ctx.pause.paused if tp in ctx.parts]
        if paused:
            if self._ends is None:
                self._ends = LogEndReader(ctx.config.bootstrap_servers,
                                          connect_timeout=ctx.config.connect_timeout,
                                          client_id=f"{ctx.config.client_id}-lag")
            with contextlib.suppress(KafkaError, KafkaAdapterError, TimeoutError):
                for tp, end in (await self._ends.log_end_offsets(paused)).items():
                    part = ctx.parts.get(tp)
                    if part is not None:
                        part.listed_end = end
        if ctx.bus.active:
            ctx.bus.publish(LagSampled(source=ctx.name, partitions=self.all()))

    def of(self, part: PartitionState) -> PartitionLag:
        """The lag of one partition now."""
        tp = part.tp
        highwater = None
        consumer = self._ctx.usable_consumer
        if consumer is not None:
            with contextlib.suppress(Exception):  # not assigned any more: no high-watermark
                highwater = consumer.highwater(tp)
        log_end = log_end_estimate(highwater, part.listed_end, part.fetched)
        committed = part.tracker.committed
        completed = part.completed
        return PartitionLag(
            topic=tp.topic, partition=tp.partition, log_end=log_end, committed=committed,
            fetched=part.fetched, completed=completed, broker=broker_lag(log_end, committed),
            in_flight=in_flight(part.fetched, completed),
            backlog=part.backlog, backlog_bytes=part.backlog_bytes,
            paused=self._ctx.pause.is_paused(tp),
        )

    async def aclose(self) -> None:
        """Close the side reader, if one was opened."""
        if self._ends is not None:
            await self._ends.aclose()
