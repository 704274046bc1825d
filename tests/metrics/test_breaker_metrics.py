"""Breaker events become state, transition and call metrics."""

from __future__ import annotations

import pytest

from streamguard import EventBus
from streamguard.breaker import BreakerConfig, CircuitBreaker, CircuitOpenError
from streamguard.metrics import PrometheusExporter
from streamguard.testing import VirtualClock

from ._scrape import parse, series, value

CONFIG = BreakerConfig(window_size=4, minimum_calls=4, open_duration=10.0)


async def _fail() -> None:
    raise ConnectionError("downstream down")


async def _ok() -> str:
    return "ok"


async def test_open_half_open_closed_cycle_is_exported() -> None:
    bus, clock = EventBus(), VirtualClock()
    with PrometheusExporter(bus=bus) as exporter:
        breaker = CircuitBreaker("payments", CONFIG, clock=clock, bus=bus)
        await breaker.call(_ok)
        closed = parse(exporter.exposition())
        for _ in range(3):  # 3 failures in 4 calls: 75% >= 50%
            with pytest.raises(ConnectionError):
                await breaker.call(_fail)
        for _ in range(3):
            with pytest.raises(CircuitOpenError):
                await breaker.call(_ok)
        opened = parse(exporter.exposition())
        await clock.advance(10.0)
        half_open = parse(exporter.exposition())
        await breaker.call(_ok)
        recovered = parse(exporter.exposition())

    state = "streamguard_breaker_state"
    assert value(closed, state, breaker="payments") == 0
    assert value(opened, state, breaker="payments") == 1
    assert value(half_open, state, breaker="payments") == 2
    assert value(recovered, state, breaker="payments") == 0

    transitions = series(recovered, "streamguard_breaker_transitions_total")
    assert transitions == {
        frozenset({("breaker", "payments"), ("from_state", "closed"), ("to_state", "open")}): 1,
        frozenset({("breaker", "payments"), ("from_state", "open"),
                   ("to_state", "half_open")}): 1,
        frozenset({("breaker", "payments"), ("from_state", "half_open"),
                   ("to_state", "closed")}): 1,
    }
    calls = "streamguard_breaker_calls_total"
    assert value(recovered, calls, breaker="payments", outcome="successful") == 2
    assert value(recovered, calls, breaker="payments", outcome="failed") == 3
    assert value(recovered, calls, breaker="payments", outcome="not_permitted") == 3


async def test_slow_calls_are_counted() -> None:
    bus, clock = EventBus(), VirtualClock()
    config = BreakerConfig(slow_call_duration=1.0, window_size=10, minimum_calls=10)
    with PrometheusExporter(bus=bus) as exporter:
        breaker = CircuitBreaker("search", config, clock=clock, bus=bus)
        permit = await breaker.acquire()
        breaker.on_success(permit, duration=2.5)
        permit = await breaker.acquire()
        breaker.on_success(permit, duration=0.1)
        samples = parse(exporter.exposition())
    assert value(samples, "streamguard_breaker_slow_calls_total",
                 breaker="search", outcome="successful") == 1
    assert value(samples, "streamguard_breaker_calls_total",
                 breaker="search", outcome="successful") == 2


async def test_forced_states_have_their_own_values() -> None:
    bus = EventBus()
    with PrometheusExporter(bus=bus) as exporter:
        breaker = CircuitBreaker("manual", CONFIG, clock=VirtualClock(), bus=bus)
        breaker.force_open()
        forced = parse(exporter.exposition())
        breaker.disable()
        disabled = parse(exporter.exposition())
    assert value(forced, "streamguard_breaker_state", breaker="manual") == 4
    assert value(disabled, "streamguard_breaker_state", breaker="manual") == 3
