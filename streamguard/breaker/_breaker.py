"""`CircuitBreaker`: stop calling a failing downstream, probe until it recovers.

One breaker is built in layers, one concept a module, each the base of the next:
``_listeners.py`` (who hears its events), ``_machine.py`` (the state machine: outcomes,
transitions, timers), ``_permits.py`` (who may call now), ``_guard.py`` (``call``, the
decorator, ``async with``) and this module, the object users make and read.

With ``storage="redis://…"`` the state is shared by every process whose breaker has the same
name (``_shared.py``): the hot path stays the same attribute reads, the outcomes go to Redis in
the background, and the state Redis decides comes back through ``_adopt`` as ordinary
transitions, with their events.

The breaker belongs to one event loop, like asyncio's own primitives: it is not thread-safe
and needs no lock. Events are queued while the state changes and published once it is
consistent again, so listeners run outside every critical section and may call back in.
"""

from __future__ import annotations

import random

from ..core._clock import Clock
from ..core._errors import ConfigError, require
from ..core._events import EventBus
from ._config import BreakerConfig
from ._guard import CallGuard
from ._shared import RedisBreakerStorage, SharedLink
from ._state import CLOSED, DISABLED, FORCED_OPEN, OPEN, BreakerStatistics, State


class CircuitBreaker(CallGuard):
    """A circuit breaker around calls to one downstream.

    Use it as a decorator, an async context manager, or with explicit permits::

        breaker = CircuitBreaker("payments")

        @breaker
        async def pay(order: Order) -> Receipt: ...

        async with breaker:
            await client.post(...)

    A refused call raises :class:`~streamguard.breaker.CircuitOpenError` without being made.

    Args:
        name: names the breaker in errors, events and metrics.
        config: its rules (default :class:`~streamguard.breaker.BreakerConfig`).
        clock: where time comes from; its timers move ``OPEN`` to ``HALF_OPEN``.
        bus: where events go (default: the process-wide bus).
        rng: the random source of the open-duration jitter.
        storage: share the state with every process whose breaker has this name and this
            storage: a ``redis://`` / ``rediss://`` URI (the breaker then owns the
            connection and closes it in :meth:`aclose`) or a
            :class:`~streamguard.breaker.RedisBreakerStorage`. ``None`` (default): this
            process alone. See ``_shared.py`` for what it costs and what happens while Redis
            is unreachable.
    """

    __slots__ = ()

    def __init__(
        self, name: str, config: BreakerConfig | None = None, *, clock: Clock | None = None,
        bus: EventBus | None = None, rng: random.Random | None = None,
        storage: str | RedisBreakerStorage | None = None,
    ) -> None:
        require(isinstance(name, str) and bool(name), "name must be a non-empty string", name)
        require(config is None or isinstance(config, BreakerConfig),
                "config must be a BreakerConfig or None", config)
        super().__init__(name, config if config is not None else BreakerConfig(), clock,
                         bus, rng)
        if storage is not None:
            require(isinstance(storage, str | RedisBreakerStorage), "storage must be a "
                    "redis:// or rediss:// URI, a RedisBreakerStorage or None", storage)
            owns = isinstance(storage, str)
            store = RedisBreakerStorage.from_uri(storage) if isinstance(storage, str) \
                else storage
            self._link = SharedLink(self, store, owns)
            self._link.sync()  # learn the shared state now if a loop runs

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self.name!r} {self._state.value} generation={self._gen}>"

    # ------------------------------------------------------------------ reading
    def statistics(self) -> BreakerStatistics:
        """Return a frozen snapshot of the breaker."""
        state = self.state
        now = self._clock.now()
        calls, failures, slow = self._window.totals(now)
        link = self._link
        if link is not None and link.up and link.view is not None and state is CLOSED:
            calls, failures, slow = link.view.calls, link.view.failures, link.view.slow
        return BreakerStatistics(
            name=self.name, state=state, generation=self._gen, calls=calls,
            failures=failures, slow_calls=slow,
            failure_rate=failures / calls if calls else 0.0,
            slow_call_rate=slow / calls if calls else 0.0,
            not_permitted=self._not_permitted, probes_in_flight=self._probes,
            consecutive_reopens=self._reopens,
            open_remaining=max(0.0, self._open_until - now) if state is OPEN else 0.0,
            shared=link is not None,
            shared_down=link is not None and not link.up and not link.closed,
            shared_outages=0 if link is None else link.outages,
            local_outcomes=0 if link is None else link.local_outcomes,
        )

    # ------------------------------------------------------------------ shared state
    async def sync(self) -> State:
        """With shared state: send the outcomes not yet sent, read the shared state now, and
        return it (a worker may call it once at start, to begin from the group's state). A
        breaker of this process alone just returns :attr:`state`. Never raises for an
        unreachable Redis: the breaker then decides alone, as always.

        Raises:
            ConfigError: the shared state is governed by another config (another process
                shares this name with other rules); the message names the fields that
                differ. The breaker decides alone meanwhile (logged once as an error).
        """
        link = self._link
        if link is not None:
            if link.up:
                await link.settle()
            if link.conflict is not None:
                raise ConfigError(str(link.conflict))
        return self.state

    # ------------------------------------------------------------------ manual control
    def force_open(self) -> None:
        """Refuse every call until :meth:`reset` or :meth:`disable`."""
        self._manual(FORCED_OPEN, "forced open by hand")

    def reset(self) -> None:
        """Close now, with an empty window and the open-duration growth forgotten (also the
        way out of ``FORCED_OPEN`` and ``DISABLED``)."""
        self._manual(CLOSED, "reset by hand")

    def disable(self) -> None:
        """Permit every call and record nothing until :meth:`reset`."""
        self._manual(DISABLED, "disabled by hand")

    async def aclose(self) -> None:
        """Release the pending timer; idempotent.

        The breaker keeps working: it then notices that an open duration is over when it is
        next asked. Waiting callers are woken to check again (their wait arms a timer anew).
        A shared breaker first sends the outcomes it still holds (if Redis answers within
        its timeout) and closes the connection it made from a URI.
        """
        self._disarm()
        self._wake()
        if self._link is not None:
            await self._link.aclose()
