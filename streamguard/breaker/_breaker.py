"""`CircuitBreaker`: stop calling a failing downstream, probe until it recovers.

The hot path is two plain method calls with attribute arithmetic::

    permit = breaker.try_acquire()        # None: refused
    ... make the call ...
    breaker.on_success(permit, duration)  # or on_failure(permit, error, duration)

A permit is the breaker's *generation* at the time it was granted. Every transition starts a
new generation, so the result of a call permitted before the breaker opened cannot be taken
for a half-open probe's result: late results from an earlier state are ignored.

``await breaker.acquire(timeout)`` is the waiting form: it raises
:class:`CircuitOpenError` when no permit came within *timeout* seconds (default 0: a breaker
answers at once, that is its purpose).

With ``storage="redis://…"`` the state is shared by every process whose breaker has the same
name (``_shared.py``): the hot path stays the same attribute reads, the outcomes go to Redis in
the background, and the state Redis decides comes back through ``_adopt`` as ordinary
transitions, with their events.

The breaker belongs to one event loop, like asyncio's own primitives: it is not thread-safe
and needs no lock. Events are queued while the state changes and published once it is
consistent again, so listeners run outside every critical section and may call back in.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import math
import random
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, ParamSpec, Protocol, TypeAlias, TypeVar

from ..core._checks import is_async_callable, is_number
from ..core._clock import SYSTEM_CLOCK, Clock, MonotonicClock
from ..core._errors import require
from ..core._events import Event, EventBus, default_bus
from ._config import BreakerConfig, Verdict, classify
from ._shared import RedisBreakerStorage, SharedLink, SharedView
from ._state import (
    BreakerEvent,
    BreakerStatistics,
    CallFailed,
    CallIgnored,
    CallNotPermitted,
    CallSucceeded,
    CircuitOpenError,
    ProbeExpired,
    SharedStateLost,
    SharedStateRestored,
    StaleResultIgnored,
    State,
    StateTransition,
)
from ._window import FAILED, OK, SLOW, CountWindow, TimeWindow, Window

_log = logging.getLogger("streamguard.breaker")

P = ParamSpec("P")
R = TypeVar("R")

Permit: TypeAlias = int
"""What :meth:`CircuitBreaker.try_acquire` grants: the generation the call belongs to."""

_CLOSED = State.CLOSED
_OPEN = State.OPEN
_HALF_OPEN = State.HALF_OPEN
_DISABLED = State.DISABLED
_FORCED_OPEN = State.FORCED_OPEN
_SUCCESS = Verdict.SUCCESS
_FAILURE = Verdict.FAILURE


class CircuitBreaker:
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

    __slots__ = (
        "_anon", "_anon_stale", "_anon_stale_gen", "_bus", "_clock", "_deadlines", "_gen",
        "_held", "_link", "_measure", "_not_permitted", "_observers", "_open_for", "_open_until",
        "_pending", "_probes", "_publishing", "_quiet", "_reopens", "_rng", "_slow_s",
        "_state", "_state_observers", "_successes", "_timer", "_waiters", "_window",
        "config", "name",
    )

    def __init__(
        self, name: str, config: BreakerConfig | None = None, *, clock: Clock | None = None,
        bus: EventBus | None = None, rng: random.Random | None = None,
        storage: str | RedisBreakerStorage | None = None,
    ) -> None:
        require(isinstance(name, str) and bool(name), "name must be a non-empty string", name)
        require(config is None or isinstance(config, BreakerConfig),
                "config must be a BreakerConfig or None", config)
        self.name = name
        self.config = cfg = config if config is not None else BreakerConfig()
        self._clock: Clock = clock if clock is not None else SYSTEM_CLOCK
        self._bus = bus if bus is not None else default_bus()
        # Per-instance subscribers (on_event, on_state_change): plain EventBus objects, so
        # that a failing listener is logged the same way and unsubscribing is the same.
        self._observers = EventBus()
        self._state_observers = EventBus()
        self._rng = rng if rng is not None else random.Random()
        self._window: Window = (CountWindow(cfg.window_size) if cfg.window == "count"
                                else TimeWindow(cfg.window_size))
        self._measure = cfg.slow_call_duration is not None
        self._slow_s = math.inf if cfg.slow_call_duration is None else cfg.slow_call_duration
        self._state = _CLOSED
        self._gen = 0
        self._quiet = False  # CLOSED and recording a success would change nothing
        self._open_until = 0.0
        self._open_for = 0.0
        self._reopens = 0
        self._probes = 0
        self._deadlines: deque[float] = deque()
        self._successes = 0
        self._timer: _Timer | None = None
        self._pending: list[Event] = []
        self._publishing = False
        self._waiters: list[asyncio.Future[None]] = []
        self._not_permitted = 0
        # `async with` bookkeeping, see __aenter__.
        self._anon = 0
        self._anon_stale = 0
        self._anon_stale_gen = -1
        self._held: dict[object, list[tuple[Permit, float]]] = {}
        self._link: SharedLink | None = None
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
    @property
    def state(self) -> State:
        """The current state (moves ``OPEN`` to ``HALF_OPEN`` if its time is up)."""
        if self._state is _OPEN or self._state is _HALF_OPEN:
            self._catch_up(self._clock.now())
            self._flush()
        return self._state

    @property
    def generation(self) -> int:
        """Grows by one with every transition."""
        return self._gen

    def statistics(self) -> BreakerStatistics:
        """Return a frozen snapshot of the breaker."""
        state = self.state
        now = self._clock.now()
        calls, failures, slow = self._window.totals(now)
        link = self._link
        if link is not None and link.up and link.view is not None and state is _CLOSED:
            calls, failures, slow = link.view.calls, link.view.failures, link.view.slow
        return BreakerStatistics(
            name=self.name, state=state, generation=self._gen, calls=calls,
            failures=failures, slow_calls=slow,
            failure_rate=failures / calls if calls else 0.0,
            slow_call_rate=slow / calls if calls else 0.0,
            not_permitted=self._not_permitted, probes_in_flight=self._probes,
            consecutive_reopens=self._reopens,
            open_remaining=max(0.0, self._open_until - now) if state is _OPEN else 0.0,
            shared=link is not None,
            shared_down=link is not None and not link.up and not link.closed,
            shared_outages=0 if link is None else link.outages,
            local_outcomes=0 if link is None else link.local_outcomes,
        )

    # ------------------------------------------------------------------ subscriptions
    def on_state_change(self, fn: Callable[[StateTransition], None]) -> Callable[[], None]:
        """Call *fn* with every :class:`StateTransition` of this breaker; return a function
        that unsubscribes.

        *fn* runs once the breaker's state is consistent, so it may call back in (read
        :attr:`state`, acquire a permit). An exception from *fn* is logged, not raised.

        Example::

            unsubscribe = breaker.on_state_change(lambda e: print(e.from_state, e.to_state))
        """
        return self._state_observers.subscribe(fn)

    def on_event(self, fn: Callable[[BreakerEvent], None]) -> Callable[[], None]:
        """Call *fn* with every event of this breaker (transitions and call outcomes); return
        a function that unsubscribes. The process-wide bus carries the same events."""
        return self._observers.subscribe(fn)

    def _watched(self) -> bool:
        """Whether anyone listens to call events (then they are built and published)."""
        return self._bus.active or self._observers.active

    # ------------------------------------------------------------------ permits
    def try_acquire(self) -> Permit | None:
        """Ask to make one call: a permit, or ``None`` if the breaker refuses."""
        if self._state is _CLOSED:
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
        if self._state is _CLOSED:
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
        return state is _FORCED_OPEN or (state is _OPEN and self._open_until > until)

    def _permit_or_raise(self) -> Permit:
        permit = self._gen if self._state is _CLOSED else self._acquire_other()
        if permit is None:
            raise self.open_error()
        return permit

    def on_success(self, permit: Permit, duration: float = 0.0) -> None:
        """The call made under *permit* succeeded after *duration* seconds."""
        # This early return is the whole cost of a healthy call: keep it to attribute reads.
        if (self._quiet and permit == self._gen and not self._bus.active
                and not self._observers.active):
            return
        self._settle(permit, _SUCCESS, None, duration)

    def on_failure(self, permit: Permit, error: BaseException, duration: float = 0.0) -> None:
        """The call made under *permit* raised *error* after *duration* seconds.

        Whether it counts as a failure is the config's decision: cancellation never does.
        """
        self._settle(permit, classify(self.config, error), error, duration)

    def release(self, permit: Permit) -> None:
        """Give *permit* back without a verdict (the call was not made after all)."""
        self._settle(permit, Verdict.IGNORED, None, 0.0, "released")

    def open_error(self) -> CircuitOpenError:
        """The error describing why the breaker refuses calls now."""
        state = self._state
        remaining: float | None = None
        if state is _OPEN:
            remaining = max(0.0, self._open_until - self._clock.now())
        elif state is _HALF_OPEN:
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
        if self._state is _OPEN and self._timer is None:
            self._arm(self._open_until - self._clock.now(), self._open_elapsed)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        alarm = None if limit is None else start_timer(
            self._clock, limit, lambda: _resolve(waiter))
        try:
            await waiter
        finally:
            if alarm is not None:
                alarm.cancel()
            if waiter in self._waiters:
                self._waiters.remove(waiter)

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

    async def sync(self) -> State:
        """With shared state: send the outcomes not yet sent, read the shared state now, and
        return it (a worker may call it once at start, to begin from the group's state). A
        breaker of this process alone just returns :attr:`state`. Never raises for an
        unreachable Redis: the breaker then decides alone, as always."""
        if self._link is not None and self._link.up:
            await self._link.settle()
        return self.state

    # ------------------------------------------------------------------ manual control
    def force_open(self) -> None:
        """Refuse every call until :meth:`reset` or :meth:`disable`."""
        self._manual(_FORCED_OPEN, "forced open by hand")

    def reset(self) -> None:
        """Close now, with an empty window and the open-duration growth forgotten (also the
        way out of ``FORCED_OPEN`` and ``DISABLED``)."""
        self._manual(_CLOSED, "reset by hand")

    def disable(self) -> None:
        """Permit every call and record nothing until :meth:`reset`."""
        self._manual(_DISABLED, "disabled by hand")

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

    # ------------------------------------------------------------------ guarding calls
    async def call(self, fn: Callable[P, Awaitable[R]], /, *args: P.args,
                   **kwargs: P.kwargs) -> R:
        """Await ``fn(*args, **kwargs)`` under the breaker.

        Raises:
            CircuitOpenError: the breaker refused; *fn* was not called.
            TypeError: *fn* is not an async function (checked before anything is called).
        """
        if not is_async_callable(fn):
            raise self._not_async(fn, "call")
        if self._link is not None:
            await self.wait_shared()
        if self._measure:
            return await self._call_timed(fn(*args, **kwargs))
        permit = self.try_acquire()
        if permit is None:
            raise self.open_error()
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            self.on_failure(permit, exc)
            raise
        self.on_success(permit)
        return result

    def _not_async(self, fn: object, verb: str) -> TypeError:
        return TypeError(
            f"CircuitBreaker {self.name!r} can only {verb} an async function, got plain "
            f"callable {fn!r}; define it with `async def` (a blocking call belongs in "
            "`async def f(...): return await asyncio.to_thread(...)`)")

    async def _call_timed(self, awaitable: Awaitable[R]) -> R:
        try:
            permit = self._permit_or_raise()
        except CircuitOpenError:
            if inspect.iscoroutine(awaitable):
                awaitable.close()  # never awaited, on purpose
            raise
        start = self._clock.now()
        try:
            result = await awaitable
        except BaseException as exc:
            self.on_failure(permit, exc, self._clock.now() - start)
            raise
        self.on_success(permit, self._clock.now() - start)
        return result

    def __call__(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        """Decorate an async function so that every call goes through the breaker."""
        if not is_async_callable(fn):
            raise self._not_async(fn, "decorate")
        # The body of call(), inlined: one coroutine per guarded call instead of two.
        @functools.wraps(fn)
        async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            if self._link is not None:
                await self.wait_shared()
            if self._measure:
                return await self._call_timed(fn(*args, **kwargs))
            permit = self._gen if self._state is _CLOSED else self._acquire_other()
            if permit is None:
                raise self.open_error()
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                self.on_failure(permit, exc)
                raise
            self.on_success(permit)
            return result

        return guarded

    async def __aenter__(self) -> None:
        # `async with` has nowhere to keep a permit, so in the common case (CLOSED, no calls
        # left over from an earlier generation) calls are only counted: all counted calls
        # belong to the current generation. Otherwise the permit is kept per task.
        if self._link is not None:
            await self.wait_shared()
        if (self._state is _CLOSED and not self._anon_stale and not self._held
                and not self._measure):
            self._anon += 1
            return
        permit = self._permit_or_raise()
        start = self._clock.now() if self._measure else 0.0
        self._held.setdefault(asyncio.current_task(), []).append((permit, start))

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if not self._held and not self._anon_stale:
            self._anon -= 1
            if exc is None and self._quiet and not self._bus.active and not self._observers.active:
                return
            self._finish(self._gen, exc, 0.0)
            return
        if self._held:
            key = asyncio.current_task()
            stack = self._held.get(key)
            if stack:
                permit, start = stack.pop()
                if not stack:
                    del self._held[key]
                duration = self._clock.now() - start if self._measure else 0.0
                self._finish(permit, exc, duration)
                return
        if self._anon_stale:
            self._anon_stale -= 1
            self._finish(self._anon_stale_gen, exc, 0.0)
            return
        self._anon -= 1
        self._finish(self._gen, exc, 0.0)

    def _finish(self, permit: Permit, exc: BaseException | None, duration: float) -> None:
        if exc is None:
            self.on_success(permit, duration)
        else:
            self.on_failure(permit, exc, duration)

    # ------------------------------------------------------------------ permits, slow path
    def _acquire_other(self) -> Permit | None:
        now = self._clock.now()
        self._catch_up(now)
        state = self._state
        if state is _CLOSED or state is _DISABLED:
            permit: Permit | None = self._gen
        elif state is _HALF_OPEN and self._probes < self._probe_slots():
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
        if state is _CLOSED or state is _DISABLED:
            return True
        if state is not _HALF_OPEN:
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

    def _catch_up(self, now: float) -> None:
        """Apply what the timers would have done by *now* (when there is no timer)."""
        if self._state is _OPEN and now >= self._open_until:
            self._to_half_open()
        if self._state is _HALF_OPEN and self._deadlines and now >= self._deadlines[0]:
            self._expire_probe()

    # ------------------------------------------------------------------ outcomes
    def _settle(self, permit: Permit, verdict: Verdict, error: BaseException | None,
                duration: float, reason: str | None = None) -> None:
        if permit != self._gen:
            if self._watched():
                self._pending.append(StaleResultIgnored(
                    self.name, self._gen, permit, verdict is _SUCCESS))
                self._flush()
            return
        if verdict is _SUCCESS or verdict is _FAILURE:
            self._judge(verdict is _FAILURE, error, duration)
        else:
            if self._watched():
                self._pending.append(CallIgnored(
                    self.name, self._gen, error, reason or verdict.value))
            if self._state is _HALF_OPEN:
                self._free_probe_slot()
                if self._link is not None and self._link.up:
                    self._link.lease = False
                    self._link.record("r")  # the lease goes back to the group
                self._wake()
        self._flush()

    def _judge(self, failed: bool, error: BaseException | None, duration: float) -> None:
        slow = duration >= self._slow_s
        if self._watched():
            if failed:
                assert error is not None
                self._pending.append(CallFailed(self.name, self._gen, error, duration, slow))
            else:
                self._pending.append(CallSucceeded(self.name, self._gen, duration, slow))
        state = self._state
        link = self._link
        if link is not None:
            if link.up:
                if state is _HALF_OPEN:
                    self._free_probe_slot()  # the shared answer decides what comes next
                    link.lease = False
                if state is _CLOSED or state is _HALF_OPEN:
                    link.record("0123"[failed | (slow << 1)])
                return
            link.local_outcomes += 1
        if state is _CLOSED:
            self._record(failed, slow)
        elif state is _HALF_OPEN:
            self._judge_probe(failed, slow)

    def _record(self, failed: bool, slow: bool) -> None:
        cfg = self.config
        window = self._window
        now = self._clock.now() if isinstance(window, TimeWindow) else 0.0
        window.record((FAILED if failed else OK) | (SLOW if slow else OK), now)
        calls, failures, slows = window.totals(now)
        if calls >= cfg.minimum_calls:
            if failures / calls >= cfg.failure_rate_threshold:
                self._to_open(f"failure rate {failures / calls:.0%} >= "
                              f"{cfg.failure_rate_threshold:.0%} over {calls} calls")
                return
            if self._measure and slows / calls >= cfg.slow_call_rate_threshold:
                self._to_open(f"slow call rate {slows / calls:.0%} >= "
                              f"{cfg.slow_call_rate_threshold:.0%} over {calls} calls")
                return
        self._quiet = window.clean and not self._measure

    def _judge_probe(self, failed: bool, slow: bool) -> None:
        self._free_probe_slot()
        if failed or slow:
            self._reopens += 1
            self._to_open("probe failed" if failed else "probe was slow")
            return
        self._successes += 1
        need = self.config.half_open_successes
        if self._successes >= need:
            self._reopens = 0
            self._transition(_CLOSED, f"{need} probe(s) succeeded")
        else:
            self._wake()

    def _free_probe_slot(self) -> None:
        self._probes -= 1
        if self._deadlines:
            # Probes are interchangeable: the oldest deadline goes, so a lost probe is
            # noticed at the latest one probe_timeout after the last grant.
            self._deadlines.popleft()
            if not self._deadlines:
                self._disarm()

    # ------------------------------------------------------------------ transitions
    def _to_open(self, reason: str) -> None:
        unit = self._rng.random() if self.config.open_duration_jitter else 0.0
        self._open_for = self.config.open_duration_for(self._reopens, unit)
        self._open_until = self._clock.now() + self._open_for
        self._transition(_OPEN, reason)
        self._arm(self._open_for, self._open_elapsed)

    def _to_half_open(self) -> None:
        link = self._link
        if link is not None and link.up:
            # The shared script moves the state, on the server's clock; until it answers
            # this process keeps refusing. A lease is asked for only if a call waits.
            link.sync(claim=link.wanted or bool(self._waiters))
            return
        self._transition(_HALF_OPEN, f"open for {self._open_for:.3g} s")

    def _expire_probe(self) -> None:
        if self._watched():
            self._pending.append(ProbeExpired(self.name, self._gen, self.config.probe_timeout))
        if self._link is not None and self._link.up:
            self._free_probe_slot()
            self._link.lease = False
            self._link.record("1")  # a lost probe is a failed one, for the whole group
            return
        self._reopens += 1
        self._to_open(f"probe gave no result within {self.config.probe_timeout:g} s")

    def _manual(self, to: State, reason: str) -> None:
        if self._link is not None and self._link.up:
            self._link.set_state(to)  # every process follows; this one at once
        self._reopens = 0
        self._transition(to, reason)
        self._flush()

    def _transition(self, to: State, reason: str) -> None:
        old = self._state
        self._gen += 1
        self._state = to
        self._quiet = False
        self._disarm()
        if self._anon:
            self._anon_stale += self._anon
            self._anon_stale_gen = self._gen - 1
            self._anon = 0
        self._probes = 0
        self._successes = 0
        self._deadlines.clear()
        self._window.reset()
        if self._watched() or self._state_observers.active:
            self._pending.append(StateTransition(
                self.name, self._gen, old, to, reason,
                self._open_for if to is _OPEN else None))
        self._wake()

    # ------------------------------------------------------------------ shared state
    def _adopt(self, view: SharedView, moved: bool) -> None:
        """Take the shared state one script call returned (*moved*: its epoch changed)."""
        assert self._link is not None
        to = view.state
        if to is not self._state or (moved and to in (_OPEN, _HALF_OPEN)):
            self._reopens = view.reopens
            self._open_for = view.open_for
            self._transition(to, f"shared: {view.why}")
        if to is _OPEN:
            self._open_until = self._clock.now() + view.open_remaining
            self._arm(view.open_remaining, self._open_elapsed)
        self._link.lease = to is _HALF_OPEN and view.holds_lease and not self._probes
        if self._link.lease:
            self._wake()
        self._flush()

    def _go_local(self, error: str, batch: str) -> None:
        """Redis stopped answering: judge *batch* (outcomes it did not take) here, and go on
        alone from the current state."""
        assert self._link is not None
        if self._watched():
            self._pending.append(SharedStateLost(self.name, self._gen,
                                                 self._link.storage.uri, error))
        for code in batch:
            if code == "r":
                continue
            outcome = int(code)
            self._link.local_outcomes += 1
            if self._state is _CLOSED:
                self._record(bool(outcome & FAILED), bool(outcome & SLOW))
            elif self._state is _HALF_OPEN:
                self._probes += 1  # its slot was given back when it was queued
                self._judge_probe(bool(outcome & FAILED), bool(outcome & SLOW))
        self._flush()
        self._wake()

    def _rejoin(self, view: SharedView, duration: float) -> None:
        """Redis answers again: the shared state replaces the one decided alone."""
        assert self._link is not None
        if self._watched():
            self._pending.append(SharedStateRestored(
                self.name, self._gen, self._link.storage.uri, duration,
                self._link.local_outcomes))
        self._quiet = False  # every outcome must reach the shared window again
        self._adopt(view, moved=True)

    # ------------------------------------------------------------------ timers
    def _arm(self, delay: float, action: Callable[[int], None]) -> None:
        self._disarm()
        gen = self._gen
        self._timer = start_timer(self._clock, delay, lambda: action(gen))

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _open_elapsed(self, gen: int) -> None:
        if gen == self._gen and self._state is _OPEN:
            self._timer = None
            self._to_half_open()
            self._flush()

    def _probe_deadline(self, gen: int) -> None:
        if gen != self._gen or self._state is not _HALF_OPEN or not self._deadlines:
            return
        self._timer = None
        wait = self._deadlines[0] - self._clock.now()
        if wait > 0:
            self._arm(wait, self._probe_deadline)  # an earlier probe's slot was freed
        else:
            self._expire_probe()
            self._flush()

    # ------------------------------------------------------------------ signalling
    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            _resolve(waiter)

    def _flush(self) -> None:
        if self._publishing or not self._pending:
            return
        self._publishing = True
        try:
            pending = self._pending
            while pending:
                event = pending.pop(0)
                if self._bus.active:
                    self._bus.publish(event)
                if self._observers.active:
                    self._observers.publish(event)
                if self._state_observers.active and isinstance(event, StateTransition):
                    self._state_observers.publish(event)
        finally:
            self._publishing = False


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


# ---------------------------------------------------------------------- timers
# A breaker must move from OPEN to HALF_OPEN when its time is up even if nobody calls it: a
# stage that stopped asking for items makes no next call. The timer runs on the clock's own
# `call_later` when it has one (a virtual clock fires it from advance/tick), on the event loop
# for the system clock, and otherwise as a task sleeping on `clock.sleep`. Without a running
# loop there is no timer; the breaker then notices the deadline when next asked.


class _Timer(Protocol):
    """Anything that can be cancelled (``asyncio.TimerHandle``, a virtual timer, a task)."""

    def cancel(self) -> Any:
        """Do not fire."""
        ...


def _logged(callback: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        try:
            callback()
        except Exception:
            _log.exception("breaker timer callback %r failed", callback)

    return run


async def _sleep_then(clock: Clock, delay: float, callback: Callable[[], None]) -> None:
    await clock.sleep(delay)
    callback()


def start_timer(clock: Clock, delay: float, callback: Callable[[], object]) -> _Timer | None:
    """Call *callback* after *delay* seconds of *clock*; ``None`` if nothing can wait."""
    run = _logged(callback)
    call_later = getattr(clock, "call_later", None)
    if callable(call_later):
        handle: _Timer = call_later(delay, run)
        return handle
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    if isinstance(clock, MonotonicClock):
        return loop.call_later(max(0.0, delay), run)  # loop.time() is this clock
    return loop.create_task(_sleep_then(clock, delay, run), name="streamguard-breaker-timer")
