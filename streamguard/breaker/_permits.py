"""Asking a breaker for a permit: at once, waiting, or waiting for the shared state first.

The hot path is two plain method calls with attribute arithmetic::

    permit = breaker.try_acquire()        # None: refused
    ... make the call ...
    breaker.on_success(permit, duration)  # or on_failure(permit, error, duration)

A permit is the breaker's *generation* at the time it was granted (see ``_machine.py``).
``await breaker.acquire(timeout)`` is the waiting form: it raises :class:`CircuitOpenError`
when no permit came within *timeout* seconds (default 0: a breaker answers at once, that is
its purpose). In ``HALF_OPEN`` a permit takes a probe slot; with shared state, only while
this process holds a probe lease of the current cycle.
"""

from __future__ import annotations

import asyncio

from ..core._checks import is_number
from ..core._errors import require
from ._machine import BreakerMachine, Permit
from ._state import (
    CLOSED,
    DISABLED,
    FORCED_OPEN,
    HALF_OPEN,
    OPEN,
    CallNotPermitted,
    CircuitOpenError,
)
from ._timers import resolve, start_timer


class Permits(BreakerMachine):
    """The permit layer of :class:`~streamguard.breaker.CircuitBreaker`: who may call now.

    Protected API for the layers above: ``_permit_or_raise()`` (a permit or the breaker's
    :class:`CircuitOpenError`), ``_acquire_other()`` (a permit outside ``CLOSED``, or
    ``None``).
    """

    __slots__ = ()

    # ------------------------------------------------------------------ permits
    def try_acquire(self) -> Permit | None:
        """Ask to make one call: a permit, or ``None`` if the breaker refuses."""
        if self._state is CLOSED:
            return self._gen
        return self._acquire_other()

    # The README's conventions give every guardian this signature (ASYNC109 prefers
    # asyncio.timeout, but a refusal must be the guardian's own error, not TimeoutError).
    async def acquire(self, timeout: float | None = 0.0) -> Permit:  # noqa: ASYNC109
        """Ask to make one call, waiting at most *timeout* seconds for a permit.

        The default ``0`` does not wait: a refused call raises at once, which is what a
        breaker is for. ``None`` waits as long as it takes (until the breaker closes, or a
        half-open probe slot frees); a number waits up to that many seconds of the clock —
        and raises at once if the breaker will still refuse then (open for longer, or
        forced open).

        Raises:
            CircuitOpenError: no permit within *timeout*; the call must not be made.
        """
        if timeout is not None and (type(timeout) is not float or timeout != 0.0):
            require(is_number(timeout) and timeout >= 0,
                    "timeout must be a number >= 0 (seconds) or None", timeout)
        if self._link is not None:
            await self.wait_shared()
        if self._state is CLOSED:
            return self._gen
        if timeout == 0.0:
            return self._permit_or_raise()
        until = None if timeout is None else self._clock.now() + timeout
        while True:
            if self._would_permit():
                permit = self._acquire_other()
                if permit is not None:
                    return permit
            remaining = None
            if until is not None:
                remaining = until - self._clock.now()
                if remaining <= 0 or self._refused_beyond(until):
                    return self._permit_or_raise()
            await self._wait(remaining)

    def _refused_beyond(self, until: float) -> bool:
        """Whether the breaker is sure to refuse until after *until*: open past it, or forced
        open (only a manual change ends that). Waiting would only delay the same answer."""
        state = self._state
        return state is FORCED_OPEN or (state is OPEN and self._open_until > until)

    def _permit_or_raise(self) -> Permit:
        permit = self._gen if self._state is CLOSED else self._acquire_other()
        if permit is None:
            raise self.open_error()
        return permit

    def open_error(self) -> CircuitOpenError:
        """The error describing why the breaker refuses calls now."""
        state = self._state
        remaining: float | None = None
        if state is OPEN:
            remaining = max(0.0, self._open_until - self._clock.now())
        elif state is HALF_OPEN:
            remaining = 0.0
        return CircuitOpenError(self.name, state, remaining)

    async def wait_permitted(self) -> None:
        """Return once a call would be permitted, without taking a permit (the next call may
        still lose a race). A stage that holds back demand while the breaker is open uses it."""
        if self._link is not None:
            await self.wait_shared()
        while not self._would_permit():
            await self._wait(None)

    async def _wait(self, limit: float | None) -> None:
        """Wait for the next change that may permit a call, or *limit* seconds."""
        if self._state is OPEN and self._timer is None:
            self._arm(self._open_until - self._clock.now(), self._open_elapsed)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        alarm = None if limit is None else start_timer(
            self._clock, limit, lambda: resolve(waiter))
        try:
            await waiter
        finally:
            if alarm is not None:
                alarm.cancel()
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    # ------------------------------------------------------------------ shared state
    @property
    def awaiting_shared(self) -> bool:
        """True while this process's last outcomes are on their way to Redis and the shared
        failure window, with them, stands at its threshold: the answer may open the breaker
        for every process, so an async caller should :meth:`wait_shared` before its next
        call. Always False for a breaker of this process alone (one attribute read)."""
        link = self._link
        return link is not None and link.holding()

    async def wait_shared(self) -> None:
        """Wait until Redis answered the outcomes this process sent, if
        :attr:`awaiting_shared` (one round trip, at most the storage timeout); at once
        otherwise. ``acquire``, ``call``, the decorator, ``async with`` and the guarded sink
        do it before a call, so an opening decided by another process's failures stops this
        one's next call rather than the one after. ``try_acquire`` never waits."""
        link = self._link
        if link is not None and link.holding():
            await link.answer()

    # ------------------------------------------------------------------ permits, slow path
    def _acquire_other(self) -> Permit | None:
        now = self._clock.now()
        self._catch_up(now)
        state = self._state
        if state is CLOSED or state is DISABLED:
            permit: Permit | None = self._gen
        elif state is HALF_OPEN and self._probes < self._probe_slots():
            permit = self._grant_probe(now)
        else:
            permit = None
            self._not_permitted += 1
            if self._link is not None:
                self._link.wanted = True
            if self._watched():
                self._pending.append(CallNotPermitted(self.name, self._gen, state))
        self._flush()
        return permit

    def _grant_probe(self, now: float) -> Permit:
        self._probes += 1
        self._deadlines.append(now + self.config.probe_timeout)
        if len(self._deadlines) == 1:
            self._arm(self.config.probe_timeout, self._probe_deadline)
        return self._gen

    def _would_permit(self) -> bool:
        state = self.state
        if state is CLOSED or state is DISABLED:
            return True
        if state is not HALF_OPEN:
            return False
        if self._probes < self._probe_slots():
            return True
        link = self._link
        if link is not None and link.up and not link.lease and not self._probes:
            link.sync(claim=True)  # a caller waits: ask for this cycle's probe lease
        return False

    def _probe_slots(self) -> int:
        """Probes this process may have in flight: the config's number alone; with shared
        state, one while it holds a probe lease of the current cycle, else none."""
        link = self._link
        if link is None or not link.up:
            return self.config.half_open_probes
        return 1 if link.lease else 0
