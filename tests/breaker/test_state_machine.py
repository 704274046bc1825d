"""The breaker against a small reference model, step by step, on a virtual clock.

Hypothesis drives random sequences of calls (permits granted, results in any order, late
results from earlier generations), time passing and manual transitions; after every step the
breaker and the model must agree on the state, the generation, the window's counts, the
probes in flight and what was refused. Time moves with ``VirtualClock.tick``, which fires due
timers synchronously, and the state is read from the published events, so OPEN → HALF_OPEN is
checked to happen by the timer, with no call to the breaker.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from streamguard.breaker import (
    BreakerConfig,
    CircuitBreaker,
    StaleResultIgnored,
    State,
    StateTransition,
)
from streamguard.core import EventBus, TooManyRequests
from streamguard.testing import VirtualClock


@st.composite
def configs(draw: st.DrawFn) -> BreakerConfig:
    window: Literal["count", "time"] = draw(st.sampled_from(["count", "time"]))
    size = draw(st.integers(1, 5))
    return BreakerConfig(
        failure_rate_threshold=draw(st.sampled_from([0.25, 0.5, 1.0])),
        slow_call_duration=draw(st.sampled_from([None, 2.0])),
        slow_call_rate_threshold=draw(st.sampled_from([0.5, 1.0])),
        window=window,
        window_size=size,
        minimum_calls=draw(st.integers(1, size if window == "count" else 6)),
        open_duration=draw(st.sampled_from([1.0, 4.0])),
        open_duration_multiplier=draw(st.sampled_from([1.0, 2.0])),
        max_open_duration=10.0,
        half_open_probes=draw(st.integers(1, 3)),
        half_open_successes=draw(st.integers(1, 3)),
        probe_timeout=draw(st.sampled_from([2.0, 7.0])),
    )


@dataclass
class Model:
    """The breaker's rules, written as plainly as possible."""

    cfg: BreakerConfig
    state: State = State.CLOSED
    gen: int = 0
    window: list[tuple[float, bool, bool]] = field(default_factory=list)  # (time, failed, slow)
    open_until: float = 0.0
    reopens: int = 0
    deadlines: list[float] = field(default_factory=list)
    successes: int = 0
    not_permitted: int = 0

    def transition(self, to: State) -> None:
        self.gen += 1
        self.state = to
        self.window = []
        self.deadlines = []
        self.successes = 0

    def open(self, now: float) -> None:
        c = self.cfg
        self.open_until = now + min(c.max_open_duration,
                                    c.open_duration * c.open_duration_multiplier ** self.reopens)
        self.transition(State.OPEN)

    def timers(self, now: float) -> None:
        if self.state is State.OPEN and now >= self.open_until:
            self.transition(State.HALF_OPEN)
        elif self.state is State.HALF_OPEN and self.deadlines and now >= self.deadlines[0]:
            self.reopens += 1
            self.open(now)

    def acquire(self, now: float) -> int | None:
        if self.state in (State.CLOSED, State.DISABLED):
            return self.gen
        if self.state is State.HALF_OPEN and len(self.deadlines) < self.cfg.half_open_probes:
            self.deadlines.append(now + self.cfg.probe_timeout)
            return self.gen
        self.not_permitted += 1
        return None

    def counted(self, now: float) -> list[tuple[float, bool, bool]]:
        if self.cfg.window == "count":
            return self.window[-self.cfg.window_size:]
        first = math.floor(now) - self.cfg.window_size + 1
        return [o for o in self.window if math.floor(o[0]) >= first]

    def judge(self, permit: int, failed: bool, duration: float, now: float) -> None:
        if permit != self.gen:
            return
        c = self.cfg
        slow = c.slow_call_duration is not None and duration >= c.slow_call_duration
        if self.state is State.CLOSED:
            self.window.append((now, failed, slow))
            seen = self.counted(now)
            calls = len(seen)
            if calls >= c.minimum_calls and (
                sum(f for _, f, _ in seen) / calls >= c.failure_rate_threshold
                or (c.slow_call_duration is not None
                    and sum(s for _, _, s in seen) / calls >= c.slow_call_rate_threshold)):
                self.open(now)
        elif self.state is State.HALF_OPEN:
            self.deadlines.pop(0)
            if failed or slow:
                self.reopens += 1
                self.open(now)
                return
            self.successes += 1
            if self.successes >= c.half_open_successes:
                self.reopens = 0
                self.transition(State.CLOSED)

    def no_verdict(self, permit: int) -> None:
        if permit == self.gen and self.state is State.HALF_OPEN:
            self.deadlines.pop(0)

    def manual(self, to: State) -> None:
        self.reopens = 0
        self.transition(to)


durations = st.sampled_from([0.0, 0.5, 2.0, 3.0])


class BreakerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = VirtualClock()
        self.bus = EventBus()
        self.transitions: list[StateTransition] = []
        self.stale: list[StaleResultIgnored] = []
        self.bus.subscribe(self._listen)
        self.permits: list[int] = []

    def _listen(self, event: object) -> None:
        if isinstance(event, StateTransition):
            self.transitions.append(event)
        elif isinstance(event, StaleResultIgnored):
            self.stale.append(event)

    @initialize(config=configs())
    def start(self, config: BreakerConfig) -> None:
        self.breaker = CircuitBreaker("m", config, clock=self.clock, bus=self.bus)
        self.model = Model(config)

    @rule()
    def acquire(self) -> None:
        expected = self.model.acquire(self.clock.now())
        got = self.breaker.try_acquire()
        assert got == expected
        if got is not None:
            self.permits.append(got)

    def _take(self, data: st.DataObject) -> int:
        # Half the time the newest permit, which is likely of the current generation, so that
        # probes and trips are reached; otherwise any, which exercises late results.
        index = data.draw(st.one_of(st.just(-1), st.integers(0, len(self.permits) - 1)))
        return self.permits.pop(index)

    def _settle(self, permit: int, expect: Callable[[], None], act: Callable[[], None]) -> None:
        stale = permit != self.model.gen
        before = len(self.stale)
        expect()
        act()
        assert len(self.stale) - before == stale  # late results are reported, not counted

    @precondition(lambda self: self.permits)
    @rule(data=st.data(), duration=durations)
    def succeed(self, data: st.DataObject, duration: float) -> None:
        permit, now = self._take(data), self.clock.now()
        self._settle(permit, lambda: self.model.judge(permit, False, duration, now),
                     lambda: self.breaker.on_success(permit, duration))

    @precondition(lambda self: self.permits)
    @rule(data=st.data(), duration=durations)
    def fail(self, data: st.DataObject, duration: float) -> None:
        permit, now = self._take(data), self.clock.now()
        self._settle(permit, lambda: self.model.judge(permit, True, duration, now),
                     lambda: self.breaker.on_failure(permit, ConnectionError("down"), duration))

    @precondition(lambda self: self.permits)
    @rule(data=st.data(), error=st.sampled_from([asyncio.CancelledError(), TooManyRequests()]))
    def no_verdict(self, data: st.DataObject, error: BaseException) -> None:
        permit = self._take(data)
        self._settle(permit, lambda: self.model.no_verdict(permit),
                     lambda: self.breaker.on_failure(permit, error))

    @precondition(lambda self: hasattr(self, "model") and self.model.state is State.HALF_OPEN)
    @rule()
    def probe_round_trip(self) -> None:
        # A quick successful probe: without it, closing after a failed recovery is too rare
        # for random steps to reach.
        self.acquire()
        if self.permits and self.permits[-1] == self.model.gen:
            permit = self.permits.pop()
            self.model.judge(permit, False, 0.0, self.clock.now())
            self.breaker.on_success(permit, 0.0)

    @rule(dt=st.sampled_from([0.5, 1.0, 2.0, 5.0]))
    def tick(self, dt: float) -> None:
        self.clock.tick(dt)
        self.model.timers(self.clock.now())
        # Read from the events, not from `state`: the timer alone must have moved it.
        observed = self.transitions[-1].to_state if self.transitions else State.CLOSED
        assert observed is self.model.state

    @rule(to=st.sampled_from([State.CLOSED, State.FORCED_OPEN, State.DISABLED]),
          chance=st.integers(0, 7))
    def manual(self, to: State, chance: int) -> None:
        if chance:
            return  # rarely: a manual transition resets everything the other rules built up
        self.model.manual(to)
        {State.CLOSED: self.breaker.reset, State.FORCED_OPEN: self.breaker.force_open,
         State.DISABLED: self.breaker.disable}[to]()

    @invariant()
    def agrees_with_model(self) -> None:
        if not hasattr(self, "breaker"):
            return
        model = self.model
        stats = self.breaker.statistics()
        assert stats.state is model.state
        assert stats.generation == model.gen == len(self.transitions)
        assert stats.probes_in_flight == len(model.deadlines) <= model.cfg.half_open_probes
        assert stats.not_permitted == model.not_permitted
        assert stats.consecutive_reopens == model.reopens
        if model.state is State.CLOSED:
            seen = model.counted(self.clock.now())
            assert (stats.calls, stats.failures, stats.slow_calls) == (
                len(seen), sum(f for _, f, _ in seen), sum(s for _, _, s in seen))
        if model.state is State.OPEN:
            assert stats.open_remaining == model.open_until - self.clock.now() > 0


BreakerMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=80, deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
TestBreakerAgainstModel = BreakerMachine.TestCase
