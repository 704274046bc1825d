"""The breaker's state machine: outcomes in, transitions out.

Outcomes are judged here: in ``CLOSED`` by the sliding window (``_window.py``), in
``HALF_OPEN`` by the probes. Every transition starts a new *generation*, and a permit is the
generation it was granted in (``_permits.py``), so the result of a call permitted before the
breaker opened cannot be taken for a half-open probe's result: late results from an earlier
state are ignored. Timers move ``OPEN`` to ``HALF_OPEN`` when its time is up and expire lost
probes. With shared state, the link (``_shared.py``) hands back the state Redis decided
through :meth:`BreakerMachine._adopt`, as ordinary transitions with their events.

The machine belongs to one event loop, like asyncio's own primitives: it is not thread-safe
and needs no lock. Events are queued while the state changes and published once it is
consistent again (``_listeners.py``).
"""

from __future__ import annotations

import asyncio
import math
import random
from collections import deque
from collections.abc import Callable
from typing import TypeAlias

from ..core._clock import SYSTEM_CLOCK, Clock
from ..core._events import EventBus
from ._config import BreakerConfig, Verdict, classify
from ._listeners import Listeners
from ._shared import SharedLink, SharedView
from ._state import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    CallFailed,
    CallIgnored,
    CallSucceeded,
    ProbeExpired,
    SharedStateLost,
    SharedStateRestored,
    StaleResultIgnored,
    State,
    StateTransition,
)
from ._timers import Timer, resolve, start_timer
from ._window import FAILED, OK, SLOW, CountWindow, TimeWindow, Window

Permit: TypeAlias = int
"""What :meth:`CircuitBreaker.try_acquire` grants: the generation the call belongs to."""

_SUCCESS = Verdict.SUCCESS
_FAILURE = Verdict.FAILURE


class BreakerMachine(Listeners):
    """The state of a :class:`~streamguard.breaker.CircuitBreaker` and the rules that move it.

    Protected API for the layers above (``Permits``, ``CallGuard``, ``CircuitBreaker``):
    ``_state`` and ``_gen`` are read on the hot path; ``_quiet`` says that a success would
    change nothing (``CLOSED``, clean window, no slow-call threshold); ``_measure`` that calls
    are timed; ``_link`` is the shared state (``None``: this process alone); ``_waiters`` are
    woken by :meth:`_wake` on every change that may permit a call; ``_catch_up(now)`` applies
    what the timers would have done; ``_manual(state, reason)`` is a change by hand. The
    ``async with`` bookkeeping (``_anon``, ``_anon_stale``, ``_anon_stale_gen``, ``_held``)
    belongs to ``CallGuard``; :meth:`_transition` ages it.
    """

    __slots__ = (
        "_anon", "_anon_stale", "_anon_stale_gen", "_clock", "_deadlines", "_gen", "_held",
        "_link", "_measure", "_not_permitted", "_open_for", "_open_until", "_probes", "_quiet",
        "_reopens", "_rng", "_slow_s", "_state", "_successes", "_timer", "_waiters", "_window",
        "config", "name",
    )

    def __init__(self, name: str, config: BreakerConfig, clock: Clock | None,
                 bus: EventBus | None, rng: random.Random | None) -> None:
        super().__init__(bus)
        self.name = name
        self.config = cfg = config
        self._clock: Clock = clock if clock is not None else SYSTEM_CLOCK
        self._rng = rng if rng is not None else random.Random()
        self._window: Window = (CountWindow(cfg.window_size) if cfg.window == "count"
                                else TimeWindow(cfg.window_size))
        self._measure = cfg.slow_call_duration is not None
        self._slow_s = math.inf if cfg.slow_call_duration is None else cfg.slow_call_duration
        self._state = CLOSED
        self._gen = 0
        self._quiet = False  # CLOSED and recording a success would change nothing
        self._open_until = 0.0
        self._open_for = 0.0
        self._reopens = 0
        self._probes = 0
        self._deadlines: deque[float] = deque()
        self._successes = 0
        self._timer: Timer | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._not_permitted = 0
        # `async with` bookkeeping, see CallGuard.__aenter__.
        self._anon = 0
        self._anon_stale = 0
        self._anon_stale_gen = -1
        self._held: dict[object, list[tuple[Permit, float]]] = {}
        self._link: SharedLink | None = None

    # ------------------------------------------------------------------ reading
    @property
    def state(self) -> State:
        """The current state (moves ``OPEN`` to ``HALF_OPEN`` if its time is up)."""
        if self._state is OPEN or self._state is HALF_OPEN:
            self._catch_up(self._clock.now())
            self._flush()
        return self._state

    @property
    def generation(self) -> int:
        """Grows by one with every transition."""
        return self._gen

    # ------------------------------------------------------------------ outcomes
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
            if self._state is HALF_OPEN:
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
                if state is HALF_OPEN:
                    self._free_probe_slot()  # the shared answer decides what comes next
                    link.lease = False
                if state is CLOSED or state is HALF_OPEN:
                    link.record("0123"[failed | (slow << 1)])
                return
            link.local_outcomes += 1
        if state is CLOSED:
            self._record(failed, slow)
        elif state is HALF_OPEN:
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
            self._transition(CLOSED, f"{need} probe(s) succeeded")
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
        self._transition(OPEN, reason)
        self._arm(self._open_for, self._open_elapsed)

    def _to_half_open(self) -> None:
        link = self._link
        if link is not None and link.up:
            # The shared script moves the state, on the server's clock; until it answers
            # this process keeps refusing. A lease is asked for only if a call waits.
            link.sync(claim=link.wanted or bool(self._waiters))
            return
        self._transition(HALF_OPEN, f"open for {self._open_for:.3g} s")

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
                self._open_for if to is OPEN else None))
        self._wake()

    # ------------------------------------------------------------------ shared state
    def _adopt(self, view: SharedView, moved: bool) -> None:
        """Take the shared state one script call returned (*moved*: its epoch changed)."""
        assert self._link is not None
        to = view.state
        if to is not self._state or (moved and to in (OPEN, HALF_OPEN)):
            self._reopens = view.reopens
            self._open_for = view.open_for
            self._transition(to, f"shared: {view.why}")
        if to is OPEN:
            self._open_until = self._clock.now() + view.open_remaining
            self._arm(view.open_remaining, self._open_elapsed)
        self._link.lease = to is HALF_OPEN and view.holds_lease and not self._probes
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
            if self._state is CLOSED:
                self._record(bool(outcome & FAILED), bool(outcome & SLOW))
            elif self._state is HALF_OPEN:
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
    def _catch_up(self, now: float) -> None:
        """Apply what the timers would have done by *now* (when there is no timer)."""
        if self._state is OPEN and now >= self._open_until:
            self._to_half_open()
        if self._state is HALF_OPEN and self._deadlines and now >= self._deadlines[0]:
            self._expire_probe()

    def _arm(self, delay: float, action: Callable[[int], None]) -> None:
        self._disarm()
        gen = self._gen
        self._timer = start_timer(self._clock, delay, lambda: action(gen))

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _open_elapsed(self, gen: int) -> None:
        if gen == self._gen and self._state is OPEN:
            self._timer = None
            self._to_half_open()
            self._flush()

    def _probe_deadline(self, gen: int) -> None:
        if gen != self._gen or self._state is not HALF_OPEN or not self._deadlines:
            return
        self._timer = None
        wait = self._deadlines[0] - self._clock.now()
        if wait > 0:
            self._arm(wait, self._probe_deadline)  # an earlier probe's slot was freed
        else:
            self._expire_probe()
            self._flush()

    # ------------------------------------------------------------------ waiting
    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            resolve(waiter)
