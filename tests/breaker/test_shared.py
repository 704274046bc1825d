"""Breakers sharing one state through a real Redis (started by the test run): they open
together on one failure window, a half-open cycle admits one probe among all of them, and
while Redis is stopped each decides alone — logged once, counted — then rejoins."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from streamguard import from_iterable
from streamguard.breaker import (
    BreakerConfig,
    CircuitBreaker,
    CircuitOpenError,
    RedisBreakerStorage,
    SharedStateLost,
    SharedStateRestored,
    State,
    StateTransition,
)
from streamguard.core import ConfigError, EventBus
from streamguard.guard import guarded_sink
from streamguard.metrics import PrometheusExporter
from streamguard.servers import RedisConfig, RedisServer
from streamguard.testing import VirtualClock
from tests.metrics._scrape import parse, value

pytestmark = pytest.mark.integration

DOWN = ConnectionError("503 Service Unavailable")


async def until(condition: Callable[[], bool], limit: float = 10.0) -> None:
    """Wait (real time: Redis answers in real time) until *condition* holds; fail after
    *limit* seconds, a bound far above what a loaded machine needs."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


def breakers(url: str, n: int, config: BreakerConfig,
             **options: float) -> tuple[list[CircuitBreaker], RedisBreakerStorage]:
    storage = RedisBreakerStorage.from_uri(url, **options)
    return [CircuitBreaker("orders-api", config, storage=storage, bus=EventBus())
            for _ in range(n)], storage


async def fail_round_robin(group: list[CircuitBreaker], rounds: int) -> int:
    """Each breaker in turn makes a failing call if it permits one, and waits for Redis's
    answer (``sync``) before the next breaker calls; the calls made."""
    made = 0
    for _ in range(rounds):
        for breaker in group:
            permit = breaker.try_acquire()
            if permit is not None:
                made += 1
                breaker.on_failure(permit, DOWN)
                await breaker.sync()
    return made


@pytest.mark.parametrize("window", ["count", "time"])
async def test_breakers_open_together_on_one_window(redis_url: str, window: str) -> None:
    config = BreakerConfig(window=window, window_size=10, minimum_calls=10,  # type: ignore[arg-type]
                           open_duration=60)
    group, storage = breakers(redis_url, 3, config)
    seen: list[list[StateTransition]] = [[] for _ in group]
    for breaker, log in zip(group, seen, strict=True):
        breaker.on_state_change(log.append)
    try:
        made = await fail_round_robin(group, 20)
        await until(lambda: all(b.state is State.OPEN for b in group))
        # One window of 10 failures for all three, not 3 x 10. The two that did not make
        # the 10th call hear of the opening with the answer to their next call: one each.
        assert made == 10 + len(group) - 1
        for log in seen:
            assert [(e.from_state, e.to_state) for e in log] == [(State.CLOSED, State.OPEN)]
            assert log[0].reason.startswith("shared: failure rate 100% >= 50% over 1")
        assert all(b.try_acquire() is None for b in group)
        assert all(b.statistics().shared and not b.statistics().shared_down for b in group)
    finally:
        for breaker in group:
            await breaker.aclose()
        await storage.aclose()


async def probes_in_cycle(group: list[CircuitBreaker], seconds: float) -> list[tuple[int, int]]:
    """Every breaker asks for a permit every 5 ms for *seconds*: (breaker, permit) granted."""
    granted: list[tuple[int, int]] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        for i, breaker in enumerate(group):
            permit = breaker.try_acquire()
            if permit is not None:
                granted.append((i, permit))
        await asyncio.sleep(0.005)
    return granted


async def test_one_probe_per_half_open_cycle_among_all(redis_url: str) -> None:
    config = BreakerConfig(window_size=4, minimum_calls=4, open_duration=0.3)
    group, storage = breakers(redis_url, 3, config, sync_interval=0.05)
    try:
        await fail_round_robin(group, 4)
        await until(lambda: all(b.state is State.OPEN for b in group))

        # Cycle 1: after 0.3 s exactly one probe among the three; it fails: all open again.
        probes = await probes_in_cycle(group, 0.6)
        assert len(probes) == 1
        prober, permit = probes[0]
        group[prober].on_failure(permit, DOWN)
        await until(lambda: all(b.state is State.OPEN for b in group))
        assert group[prober].statistics().consecutive_reopens == 1

        # Cycle 2: one probe again (possibly another breaker's); it succeeds: all close.
        probes = await probes_in_cycle(group, 0.6)
        assert len(probes) == 1
        prober, permit = probes[0]
        group[prober].on_success(permit)
        await until(lambda: all(b.state is State.CLOSED for b in group))
        assert all(b.try_acquire() is not None for b in group)
    finally:
        for breaker in group:
            await breaker.aclose()
        await storage.aclose()


async def test_a_lost_probe_reopens_for_everyone(redis_url: str) -> None:
    config = BreakerConfig(window_size=2, minimum_calls=2, open_duration=0.2,
                           probe_timeout=0.3)
    group, storage = breakers(redis_url, 2, config, sync_interval=0.05)
    try:
        await fail_round_robin(group, 2)
        await until(lambda: all(b.state is State.OPEN for b in group))
        probes = await probes_in_cycle(group, 0.4)
        assert len(probes) == 1  # granted, then never answered
        reopened: list[StateTransition] = []
        other = group[1 - probes[0][0]]
        other.on_state_change(reopened.append)
        await until(lambda: any(e.to_state is State.OPEN for e in reopened))
        assert "probe gave no result within 0.3 s" in reopened[-1].reason
    finally:
        for breaker in group:
            await breaker.aclose()
        await storage.aclose()


async def test_a_state_set_by_hand_reaches_every_process(redis_url: str) -> None:
    group, storage = breakers(redis_url, 2, BreakerConfig(), sync_interval=0.05)
    try:
        await until(lambda: all(b.statistics().shared for b in group))
        await asyncio.sleep(0.05)
        group[0].force_open()
        await until(lambda: group[1].state is State.FORCED_OPEN)
        group[1].reset()
        await until(lambda: group[0].state is State.CLOSED)
        group[1].force_open()
        await until(lambda: group[0].state is State.FORCED_OPEN)
        await storage.delete("orders-api")  # forgotten: every process starts again, CLOSED
        await until(lambda: all(b.state is State.CLOSED for b in group))
    finally:
        for breaker in group:
            await breaker.aclose()
        await storage.aclose()


async def test_redis_down_each_decides_alone_logged_once_then_rejoins(
        own_redis: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    config = BreakerConfig(window_size=5, minimum_calls=5, open_duration=60)
    bus = EventBus()
    events: list[object] = []
    bus.subscribe(events.append)
    storage = RedisBreakerStorage.from_uri(f"{own_redis.url}?timeout=0.2", outage_probe=0.2)
    group = [CircuitBreaker("orders-api", config, storage=storage, bus=bus) for _ in range(2)]
    exporter = PrometheusExporter(bus=bus)
    try:
        await fail_round_robin(group, 2)  # 4 failures: shared window not full yet
        await until(lambda: all(b.statistics().calls == 4 for b in group))

        own_redis.kill()
        with caplog.at_level(logging.WARNING, logger="streamguard.breaker"):
            made = await fail_round_robin(group, 30)
            await until(lambda: all(b.state is State.OPEN for b in group))
        # Alone, each needs a window of its own: 5 failures each, from an empty local
        # window (the outcome whose batch met the dead server is judged locally, not lost).
        assert made == 2 * 5
        down = [r for r in caplog.records if "is unreachable" in r.getMessage()]
        assert len(down) == 2  # once per breaker for the whole outage, not per call
        assert all(own_redis.url in r.getMessage() for r in down)
        for breaker in group:
            stats = breaker.statistics()
            assert stats.shared_down
            assert stats.shared_outages == 1
            assert stats.local_outcomes == 5
        assert sum(isinstance(e, SharedStateLost) for e in events) == 2
        during = parse(exporter.exposition())
        assert value(during, "streamguard_breaker_shared_state_up", breaker="orders-api") == 0
        assert value(during, "streamguard_breaker_shared_state_outages_total",
                     breaker="orders-api") == 2  # one outage seen by each of the two

        own_redis.start()  # a fresh, empty server on the same port
        await until(lambda: not any(b.statistics().shared_down for b in group))
        # The shared state replaces the local one: Redis restarted empty, so CLOSED.
        assert all(b.state is State.CLOSED for b in group)
        restored = [e for e in events if isinstance(e, SharedStateRestored)]
        assert len(restored) == 2
        assert all(e.duration > 0 and e.local_outcomes == 5 for e in restored)
        after = parse(exporter.exposition())
        assert value(after, "streamguard_breaker_shared_state_up", breaker="orders-api") == 1
        made = await fail_round_robin(group, 10)
        await until(lambda: all(b.state is State.OPEN for b in group))
        assert made == 5 + len(group) - 1  # one shared window again
    finally:
        exporter.close()
        for breaker in group:
            await breaker.aclose()
        await storage.aclose()


async def test_a_breaker_with_another_config_is_refused_loudly_and_decides_alone(
        redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    # One window judged by two sets of rules would open at a threshold that depends on who
    # called last: the second config changes nothing there, says so once, and goes alone.
    storage = RedisBreakerStorage.from_uri(redis_url, outage_probe=0.05)
    small = CircuitBreaker("orders-api", BreakerConfig(window_size=4, minimum_calls=4,
                                                       open_duration=60),
                           storage=storage, bus=EventBus())
    # The first config to reach Redis governs: small, before big exists.
    assert await small.sync() is State.CLOSED
    bus = EventBus()
    lost: list[SharedStateLost] = []
    bus.subscribe(lambda e: lost.append(e) if isinstance(e, SharedStateLost) else None)
    big = CircuitBreaker("orders-api", BreakerConfig(window_size=100, minimum_calls=50,
                                                     open_duration=60),
                         storage=storage, bus=bus)
    differ = ("window_size 100 here, 4 in the shared state; minimum_calls 50 here, 4 in the "
              "shared state. Every process that shares a breaker must give it the same "
              "BreakerConfig; this one decides alone meanwhile.")
    try:
        with caplog.at_level(logging.WARNING, logger="streamguard.breaker"):
            for _ in range(2):
                with pytest.raises(ConfigError) as info:
                    await big.sync()
                assert f"CircuitBreaker 'orders-api': its shared state ({storage.prefix}" \
                       f"orders-api at {storage.uri}) is governed by another config: " \
                       f"{differ}" in str(info.value)
            # big's failures stay in its own window: the shared one is small's alone.
            for _ in range(10):
                permit = big.try_acquire()
                assert permit is not None
                big.on_failure(permit, DOWN)
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert [r.getMessage() for r in errors] == [str(info.value)]  # once, not per call
        stats = big.statistics()
        assert (stats.shared_down, stats.failures, big.state) == (True, 10, State.CLOSED)
        assert [e.error for e in lost] == [str(info.value)]
        assert await fail_round_robin([small], 10) == 4  # its own threshold, unchanged
        assert small.state is State.OPEN

        # Once no process runs the old config and its state is gone, big shares again.
        await small.aclose()
        await storage.delete("orders-api")
        await until(lambda: not big.statistics().shared_down)
        assert await big.sync() is State.CLOSED
    finally:
        await small.aclose()
        await big.aclose()
        await storage.aclose()


async def test_a_breaker_that_owns_its_connection_closes_it(redis_url: str) -> None:
    breaker = CircuitBreaker("owned", BreakerConfig(), storage=redis_url, bus=EventBus())
    permit = breaker.try_acquire()
    assert permit is not None
    breaker.on_success(permit)
    await until(lambda: breaker.statistics().calls == 1)
    await breaker.aclose()
    await breaker.aclose()  # idempotent
    # It keeps answering, alone from now on: no connection is made again, no outage counted.
    permit = breaker.try_acquire()
    assert permit is not None
    breaker.on_failure(permit, DOWN)
    await breaker.sync()
    stats = breaker.statistics()
    assert (stats.failures, stats.shared_down, stats.shared_outages) == (1, False, 0)


@pytest.mark.parametrize(("build", "message"), [
    (lambda: CircuitBreaker("x", storage="memory://"),
     "breaker storage URI must start with redis:// or rediss://, got 'memory://'"),
    (lambda: CircuitBreaker("x", storage=42),  # type: ignore[arg-type]
     "storage must be a redis:// or rediss:// URI, a RedisBreakerStorage or None, got 42"),
    (lambda: CircuitBreaker("x", storage="redis://u:secret@h:1/0?size=3"),
     "breaker storage URI takes only timeout, prefix and (rediss://) ssl_ca_certs, "
     "ssl_certfile, ssl_keyfile (in 'redis://h:1/0?size=3'), got ['size']"),
    (lambda: RedisBreakerStorage("redis://h:1/0", sync_interval=0),
     "sync_interval must be a number > 0 (seconds), got 0"),
    (lambda: RedisBreakerStorage("redis://h:1/0", outage_probe=True),
     "outage_probe must be a number > 0 (seconds), got True"),
    (lambda: RedisBreakerStorage.from_uri("redis://h:1/0?timeout=0"),
     "timeout must be a number of seconds > 0 (in 'redis://h:1/0?timeout=0'), got '0'"),
])
def test_bad_shared_storage_is_refused_when_built(build: Callable[[], object],
                                                  message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build()
    assert str(info.value) == message
    assert "secret" not in str(info.value)


async def test_alone_from_the_start_the_local_rules_run_in_virtual_time(
        own_redis: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    own_redis.kill()  # Redis never answers this breaker
    clock = VirtualClock()
    storage = RedisBreakerStorage.from_uri(f"{own_redis.url}?timeout=0.2", outage_probe=1.0)
    config = BreakerConfig(window_size=2, minimum_calls=2, open_duration=5)
    with caplog.at_level(logging.WARNING, logger="streamguard.breaker"):
        breaker = CircuitBreaker("api", config, clock=clock, storage=storage, bus=EventBus())
        try:
            await until(lambda: breaker.statistics().shared_down)
            await fail_round_robin([breaker], 2)
            assert breaker.state is State.OPEN  # its own window of 2, decided here
            await clock.advance(4.9)  # outage probes fall due (and fail) meanwhile
            assert breaker.state is State.OPEN
            await clock.advance(0.1)
            state: State = breaker.state
            assert state is State.HALF_OPEN  # the local timer, on the virtual clock
            assert breaker.try_acquire() is not None  # the local probe: no lease needed
            stats = breaker.statistics()
            assert (stats.shared_outages, stats.local_outcomes) == (1, 2)
        finally:
            await breaker.aclose()
    assert len([r for r in caplog.records if "is unreachable" in r.getMessage()]) == 1


async def test_at_the_threshold_calls_wait_for_the_answer_so_an_opening_stops_the_next(
        redis_url: str) -> None:
    # Each breaker stands for a worker whose calls fail at once: without waiting for Redis's
    # answer, a worker would make many calls per round trip after the window filled.
    config = BreakerConfig(window_size=10, minimum_calls=10, open_duration=60)
    group, storage = breakers(redis_url, 3, config)
    made = 0

    async def worker(breaker: CircuitBreaker) -> None:
        nonlocal made

        @breaker
        async def down() -> None:
            nonlocal made
            made += 1
            await asyncio.sleep(0)
            raise DOWN

        while True:
            try:
                await down()
            except CircuitOpenError:
                return
            except ConnectionError:
                pass

    try:
        for breaker in group:
            await breaker.sync()
        await asyncio.wait_for(asyncio.gather(*(worker(b) for b in group)), 30)
        # One window of 10; each of the others may have had one call in flight when it
        # opened, and none started another before hearing the answer.
        assert 10 <= made <= 10 + len(group) - 1
        assert not any(b.awaiting_shared for b in group)
    finally:
        for breaker in group:
            await breaker.aclose()
        await storage.aclose()


async def test_only_a_failure_at_the_threshold_makes_calls_wait(redis_url: str) -> None:
    breaker = CircuitBreaker("api", BreakerConfig(window_size=4, minimum_calls=4),
                             storage=redis_url, bus=EventBus())
    try:
        await breaker.sync()
        for _ in range(3):
            permit = breaker.try_acquire()
            assert permit is not None
            breaker.on_success(permit)
            assert not breaker.awaiting_shared  # healthy: sent in the background, no wait
        await breaker.sync()
        assert breaker.statistics().calls == 3
        permit = breaker.try_acquire()
        assert permit is not None
        breaker.on_failure(permit, DOWN)
        assert not breaker.awaiting_shared  # 1 failure in 4: below the 50 % threshold
        await breaker.sync()
        permit = breaker.try_acquire()
        assert permit is not None
        breaker.on_failure(permit, DOWN)
        assert breaker.awaiting_shared  # 2 in 4 may open it: wait for the answer
        await breaker.wait_shared()
        assert not breaker.awaiting_shared
        assert breaker.state is State.OPEN  # it did: the next call is refused, not made
    finally:
        await breaker.aclose()


async def test_guarded_sinks_share_one_breaker_and_recover_together(redis_url: str) -> None:
    # Two pipelines stand for two workers; the downstream is down until the breaker opens,
    # then back: one probe (whoever's) closes the shared breaker and both deliver everything.
    config = BreakerConfig(window_size=6, minimum_calls=6, open_duration=0.3)
    group, storage = breakers(redis_url, 2, config, sync_interval=0.05)
    failed = 0
    delivered: list[int] = []
    parked: list[int] = []

    async def post(item: int) -> None:
        nonlocal failed
        await asyncio.sleep(0.001)
        if group[0].statistics().generation == 0:  # down until the breaker first opens
            failed += 1
            raise DOWN
        delivered.append(item)

    try:
        for breaker in group:
            await breaker.sync()
        await asyncio.wait_for(asyncio.gather(*(
            from_iterable(range(k * 100, k * 100 + 100)).pipe(
                guarded_sink(post, breaker=breaker, concurrency=1,
                             dead_letter=lambda item, error: parked.append(item))).run()
            for k, breaker in enumerate(group))), 30)
        assert sorted(delivered + parked) == list(range(200))  # nothing lost
        # Without retries an item that failed before the breaker opened may be parked (the
        # guarded sink's rule for a downstream that still takes calls); the rest waited.
        assert len(parked) < 6
        assert 6 <= failed <= 6 + 1  # one window; the other sink's call in flight at most
    finally:
        for breaker in group:
            await breaker.aclose()
        await storage.aclose()


async def test_slow_calls_open_the_shared_breaker_too(redis_url: str) -> None:
    config = BreakerConfig(window_size=4, minimum_calls=4, slow_call_duration=1.0,
                           slow_call_rate_threshold=0.5)
    group, storage = breakers(redis_url, 2, config)
    try:
        for breaker in group * 2:  # 4 successful calls, each slower than 1 s
            permit = breaker.try_acquire()
            assert permit is not None
            breaker.on_success(permit, duration=2.0)
            await breaker.sync()
        await until(lambda: all(b.state is State.OPEN for b in group))
    finally:
        for breaker in group:
            await breaker.aclose()
        await storage.aclose()


async def test_tls_and_a_password_reach_the_shared_state() -> None:
    password = "r3dis-Pa55word"
    with RedisServer(RedisConfig(tls=True, users={"alice": password})) as server:
        seen: list[StateTransition] = []
        group, storage = breakers(server.url_for("alice", password), 2,
                                  BreakerConfig(window_size=2, minimum_calls=2))
        group[1].on_state_change(seen.append)
        try:
            await fail_round_robin(group[:1], 2)
            await until(lambda: group[1].state is State.OPEN)
            assert seen[0].reason.startswith("shared: failure rate 100%")
            assert not any(b.statistics().shared_down for b in group)
            assert password not in repr(storage)
        finally:
            for breaker in group:
                await breaker.aclose()
            await storage.aclose()
