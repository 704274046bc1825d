"""Per-instance, typed subscriptions: `on_state_change` and `on_event` (virtual clock)."""

from __future__ import annotations

from typing import Any

from streamguard.breaker import (
    BreakerConfig,
    BreakerEvent,
    CallFailed,
    CallNotPermitted,
    CallSucceeded,
    CircuitBreaker,
    State,
    StateTransition,
)
from streamguard.core import EventBus
from streamguard.testing import VirtualClock

CONFIG = BreakerConfig(window_size=2, minimum_calls=2, open_duration=5)


def make(name: str = "payments") -> tuple[CircuitBreaker, VirtualClock, EventBus]:
    clock, bus = VirtualClock(), EventBus()
    return CircuitBreaker(name, CONFIG, clock=clock, bus=bus), clock, bus


def trip(b: CircuitBreaker) -> None:
    for _ in range(2):
        permit = b.try_acquire()
        assert permit is not None
        b.on_failure(permit, ConnectionError("down"))


def test_on_state_change_receives_each_transition_typed_and_in_order() -> None:
    b, clock, _ = make()
    seen: list[StateTransition] = []
    b.on_state_change(seen.append)
    trip(b)
    clock.tick(5)
    permit = b.try_acquire()
    assert permit is not None
    b.on_success(permit)
    assert [(e.from_state, e.to_state) for e in seen] == [
        (State.CLOSED, State.OPEN), (State.OPEN, State.HALF_OPEN), (State.HALF_OPEN, State.CLOSED)]
    assert all(type(e) is StateTransition and e.source == "payments" for e in seen)
    assert [e.generation for e in seen] == [1, 2, 3]


def test_on_state_change_sees_no_call_events() -> None:
    b, _, _ = make()
    seen: list[Any] = []
    b.on_state_change(seen.append)
    permit = b.try_acquire()
    assert permit is not None
    b.on_success(permit)
    assert seen == []


def test_unsubscribe_stops_delivery_and_is_idempotent() -> None:
    b, _, _ = make()
    seen: list[StateTransition] = []
    unsubscribe = b.on_state_change(seen.append)
    unsubscribe()
    unsubscribe()
    trip(b)
    assert seen == []
    assert b.state is State.OPEN


def test_subscriptions_are_per_instance() -> None:
    clock, bus = VirtualClock(), EventBus()
    a = CircuitBreaker("a", CONFIG, clock=clock, bus=bus)
    b = CircuitBreaker("b", CONFIG, clock=clock, bus=bus)
    seen_a: list[StateTransition] = []
    a.on_state_change(seen_a.append)
    trip(b)
    assert seen_a == []
    trip(a)
    assert [e.source for e in seen_a] == ["a"]


def test_on_event_receives_call_outcomes_and_transitions_without_a_bus_listener() -> None:
    b, _, bus = make()
    assert not bus.active
    seen: list[BreakerEvent] = []
    b.on_event(seen.append)
    for _ in range(3):  # the quiet fast path must still report to an instance listener
        permit = b.try_acquire()
        assert permit is not None
        b.on_success(permit)
    permit = b.try_acquire()
    assert permit is not None
    b.on_failure(permit, ConnectionError("down"))  # 1 of the last 2 failed: opens
    assert b.try_acquire() is None
    kinds = [type(e) for e in seen]
    assert kinds == [CallSucceeded] * 3 + [CallFailed, StateTransition, CallNotPermitted]


def test_the_bus_and_instance_listeners_get_the_same_events() -> None:
    b, _, bus = make()
    on_bus: list[Any] = []
    bus.subscribe(on_bus.append)
    mine: list[BreakerEvent] = []
    b.on_event(mine.append)
    trip(b)
    assert len(mine) == 3
    assert mine == on_bus


def test_a_listener_may_call_back_into_the_breaker() -> None:
    b, clock, _ = make()
    states: list[tuple[State, State]] = []
    b.on_state_change(lambda e: states.append((e.to_state, b.state)))
    trip(b)
    clock.tick(5)
    assert states == [(State.OPEN, State.OPEN), (State.HALF_OPEN, State.HALF_OPEN)]


def test_a_failing_listener_is_logged_and_others_still_run(caplog: Any) -> None:
    b, _, _ = make()

    def broken(event: StateTransition) -> None:
        raise RuntimeError("listener bug")

    seen: list[StateTransition] = []
    b.on_state_change(broken)
    b.on_state_change(seen.append)
    trip(b)
    assert len(seen) == 1
    assert "listener bug" in caplog.text
    assert b.state is State.OPEN


def test_manual_changes_are_reported() -> None:
    b, _, _ = make()
    seen: list[StateTransition] = []
    b.on_state_change(seen.append)
    b.force_open()
    b.disable()
    assert [e.to_state for e in seen] == [State.FORCED_OPEN, State.DISABLED]
