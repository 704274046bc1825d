"""When the source samples its lag: every ``lag_interval`` seconds, from the pump, through
:class:`~streamguard.kafka._lag.SourceLag` (which owns how lag is computed)."""

from __future__ import annotations

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

    async def aclose(self) -> None:
        """Close the side reader, if one was opened."""
        await self._lag.aclose()
