"""When the source samples its lag: every ``lag_interval`` seconds, from the pump, through
:class:`~streamguard.kafka._lag.SourceLag` (which owns how lag is computed)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

from ._context import SourceContext
from ._events import LagSampled
from ._lag import PartitionLag, SourceLag


class LagView:
    """Lag per partition now (:meth:`all`), and :class:`LagSampled` events on the bus."""

    def __init__(self, ctx: SourceContext) -> None:
        self._ctx = ctx
        cfg = ctx.config
        self._lag = SourceLag(cfg.bootstrap_servers, connect_timeout=cfg.connect_timeout,
                              client_id=cfg.client_id)
        self._next = 0.0

    def all(self) -> tuple[PartitionLag, ...]:
        """The lag of every assigned partition now."""
        ctx = self._ctx
        consumer = ctx.usable_consumer
        return tuple(SourceLag.of(part, consumer, paused=ctx.pause.is_paused(tp))
                     for tp, part in sorted(ctx.parts.items()))

    async def maybe_sample(self) -> None:
        """Refresh and publish a :class:`LagSampled` event if ``lag_interval`` has passed."""
        ctx = self._ctx
        if ctx.clock.now() < self._next or ctx.usable_consumer is None:
            return
        self._next = ctx.clock.now() + ctx.config.lag_interval
        await self._lag.refresh(ctx.consumer, ctx.parts.values(), ctx.pause.paused)
        if ctx.bus.active:
            ctx.bus.publish(LagSampled(source=ctx.name, partitions=self.all()))

    async def final_sample(self) -> None:
        """Publish the last :class:`LagSampled` (``final=True``): called by the close after
        its last commit, while the consumer is still open. Without it a summary shows the
        last periodic sample, up to ``lag_interval`` old: records still in flight then, and
        partitions paused then, as if they still were."""
        ctx = self._ctx
        consumer = ctx.consumer  # closing, not closed yet: still open for this last read
        if not ctx.bus.active or consumer is None:
            return
        # The log ends of paused partitions are read again (their high-watermark is stale);
        # bounded, so that a close with the brokers gone does not wait connect_timeout more.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(ctx.config.connect_timeout, _FINAL_READ_WITHIN)):
                await self._lag.refresh(consumer, ctx.parts.values(), ctx.pause.paused)
        left = tuple(dataclasses.replace(SourceLag.of(part, consumer, paused=False),
                                         in_flight=0, backlog=0, backlog_bytes=0)
                     for _tp, part in sorted(ctx.parts.items()))
        ctx.bus.publish(LagSampled(source=ctx.name, partitions=left, final=True))

    async def aclose(self) -> None:
        """Close the side reader, if one was opened."""
        await self._lag.aclose()


_FINAL_READ_WITHIN = 2.0
"""Seconds the close gives the last sample to read the log ends of paused partitions."""
