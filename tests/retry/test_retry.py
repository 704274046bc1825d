"""Retry behaviour: backoff slept on a fake clock, budget, Retry-After, breaker, cancellation."""

from __future__ import annotations

import asyncio
import random
import re
from typing import Any

import pytest

from streamguard.breaker import (
    BreakerConfig,
    CircuitBreaker,
    CircuitOpenError,
    State,
)
from streamguard.core import ConfigError, EventBus, TooManyRequests
from streamguard.retry import (
    BudgetConfig,
    Retry,
    RetryAttempted,
    RetryBudget,
    RetryBudgetExhausted,
    RetryConfig,
    RetryError,
    RetryGaveUp,
)
from streamguard.retry._retry import describe_call, is_retryable
from streamguard.testing import VirtualClock


class SleepRecorder:
    """A clock whose sleep returns at once and records how long it would have waited."""

    def __init__(self) -> None:
        self.t = 0.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, delay: float) -> None:
        self.slept.append(delay)
        self.t += delay
        await asyncio.sleep(0)


class Flaky:
    """Fails with the given errors in turn, then returns "ok"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self, *args: Any) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def make(
    config: RetryConfig | None = None, **kwargs: Any
) -> tuple[Retry, SleepRecorder, list[Any]]:
    clock, bus = SleepRecorder(), EventBus()
    events: list[Any] = []
    bus.subscribe(events.append)
    kwargs.setdefault("rng", random.Random(1))
    return Retry("payments", config, clock=clock, bus=bus, **kwargs), clock, events


EXP = RetryConfig(attempts=4, backoff="exponential", base_delay=0.5, max_delay=3)


async def test_retries_until_success_with_backoff() -> None:
    retry, clock, events = make(EXP)
    fn = Flaky(ConnectionError("a"), ConnectionError("b"), ConnectionError("c"))
    assert await retry.call(fn) == "ok"
    assert fn.calls == 4
    assert clock.slept == [0.5, 1.0, 2.0]
    assert [(e.attempt, e.delay, str(e.error)) for e in events] == [
        (2, 0.5, "a"), (3, 1.0, "b"), (4, 2.0, "c")]
    assert all(isinstance(e, RetryAttempted) and e.source == "payments" for e in events)


async def test_full_jitter_waits_come_from_the_seeded_rng() -> None:
    retry, clock, _ = make(RetryConfig(attempts=3, base_delay=1, max_delay=10),
                           rng=random.Random(9))
    await retry.call(Flaky(OSError(), OSError()))
    expected = random.Random(9)
    assert clock.slept == [expected.uniform(0, 1), expected.uniform(0, 2)]


async def test_gives_up_with_an_error_naming_call_and_cause() -> None:
    retry, _, events = make(EXP)

    async def send(order: int) -> None:
        raise ConnectionError("refused")

    with pytest.raises(RetryError) as info:
        await retry.call(send, 42)
    assert str(info.value) == (
        "Retry 'payments' gave up on test_gives_up_with_an_error_naming_call_and_cause."
        "<locals>.send(42) after 4 attempts (attempts exhausted): ConnectionError: refused")
    assert isinstance(info.value.__cause__, ConnectionError)
    assert (info.value.attempts, info.value.reason) == (4, "attempts_exhausted")
    assert info.value.detail == "attempts exhausted"
    assert isinstance(events[-1], RetryGaveUp)
    assert (events[-1].attempts, events[-1].reason, events[-1].detail) == (
        4, "attempts_exhausted", "attempts exhausted")


def test_calls_are_described_briefly() -> None:
    assert describe_call(Flaky(), ("x" * 100,)).startswith("Flaky('xxx")
    assert describe_call(Flaky(), ("x" * 100,)).endswith("…)")
    assert describe_call(len, (1, "a")) == "len(1, 'a')"


async def test_one_attempt_means_no_retry() -> None:
    retry, clock, _ = make(RetryConfig(attempts=1))
    with pytest.raises(RetryError, match=r"after 1 attempt \(attempts exhausted\)"):
        await retry.call(Flaky(OSError("x")))
    assert clock.slept == []


async def test_not_retryable_errors_pass_through_unchanged() -> None:
    retry, clock, _ = make(RetryConfig(retry_on=(ConnectionError,)))
    fn = Flaky(ValueError("bad request"))
    with pytest.raises(ValueError, match="bad request"):
        await retry.call(fn)
    assert fn.calls == 1
    assert clock.slept == []


@pytest.mark.parametrize("error", [
    TypeError("object NoneType can't be used in 'await' expression"),
    AttributeError("'Bad' object has no attribute 'topic'"), NameError("nme"),
    UnboundLocalError("x"), ImportError("m"), AssertionError(), NotImplementedError(),
    RecursionError(),
])
async def test_programming_errors_are_never_retried_by_default(error: Exception) -> None:
    retry, clock, events = make(EXP)
    fn = Flaky(error)
    with pytest.raises(type(error)):
        await retry.call(fn)
    assert fn.calls == 1
    assert clock.slept == []
    assert events == []


async def test_the_default_retryable_set_keeps_data_and_io_errors() -> None:
    retry, _, _ = make(EXP)
    fn = Flaky(ConnectionError(), TimeoutError(), ValueError("garbled"), KeyError("id"),
               RuntimeError("session closed"))
    with pytest.raises(RetryError):
        await retry.call(fn)  # 4 attempts: every one of these was retried
    assert fn.calls == 4


async def test_never_retry_on_wins_over_retry_if_and_can_be_emptied() -> None:
    retry, _, _ = make(RetryConfig(attempts=2, retry_if=lambda e: True))
    fn = Flaky(TypeError("bug"))
    with pytest.raises(TypeError):
        await retry.call(fn)
    assert fn.calls == 1
    retry, _, _ = make(RetryConfig(attempts=2, never_retry_on=()))
    fn = Flaky(TypeError("flaky C extension"))
    assert await retry.call(fn) == "ok"
    assert fn.calls == 2


async def test_call_refuses_a_plain_function_before_calling_it() -> None:
    retry, _, _ = make(EXP)
    calls: list[int] = []

    def post(order: int) -> None:
        calls.append(order)

    with pytest.raises(TypeError, match=re.escape(
            "Retry 'payments' can only call an async function, got plain callable")):
        await retry.call(post, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="can only call an async function"):
        await retry.call(lambda order: post(order), 1)  # type: ignore[arg-type,return-value]
    assert calls == []


def test_what_is_retryable() -> None:
    class Declared(Exception):
        retryable = True

    class Permanent(ConnectionError):
        retryable = False

    config = RetryConfig(retry_on=(ConnectionError,))
    assert is_retryable(config, ConnectionError())
    assert not is_retryable(config, KeyError())
    assert is_retryable(config, Declared())  # the exception's own word wins
    assert not is_retryable(config, Permanent())
    assert not is_retryable(config, asyncio.CancelledError())
    assert not is_retryable(config, CircuitOpenError("b", State.OPEN, 1.0))
    assert is_retryable(config, TooManyRequests())
    assert is_retryable(RetryConfig(retry_if=lambda e: "again" in str(e)), KeyError("again"))
    assert not is_retryable(RetryConfig(retry_if=lambda e: False), ConnectionError())


async def test_retry_after_is_honoured() -> None:
    retry, clock, events = make(EXP)
    await retry.call(Flaky(TooManyRequests(retry_after=2.5), OSError()))
    assert clock.slept == [2.5, 1.0]  # max(backoff, Retry-After), then plain backoff
    assert events[0].delay == 2.5


async def test_retry_after_can_be_ignored() -> None:
    retry, clock, _ = make(RetryConfig(attempts=2, backoff="exponential", base_delay=0.5,
                                       honour_retry_after=False))
    await retry.call(Flaky(TooManyRequests(retry_after=30)))
    assert clock.slept == [0.5]


async def test_a_too_long_retry_after_ends_the_retries() -> None:
    retry, clock, events = make(RetryConfig(max_retry_after=10))
    detail = "Retry-After of 60 s exceeds max_retry_after=10 s"
    with pytest.raises(RetryError, match=re.escape(f"({detail})")) as info:
        await retry.call(Flaky(TooManyRequests(retry_after=60)))
    assert clock.slept == []
    # The code is fixed whatever the values; the values are in the detail only.
    assert (info.value.reason, info.value.detail) == ("retry_after_too_long", detail)
    gave_up = events[-1]
    assert isinstance(gave_up, RetryGaveUp)
    assert (gave_up.reason, gave_up.detail) == ("retry_after_too_long", detail)


async def test_budget_exhaustion_stops_retries() -> None:
    clock = SleepRecorder()
    budget = RetryBudget(BudgetConfig(ratio=0.5, min_per_second=0), clock=clock)
    retry, _, events = make(EXP, budget=budget)
    retry._clock = clock
    assert await retry.call(Flaky()) == "ok"
    assert await retry.call(Flaky(OSError())) == "ok"  # 2 calls earned 1 retry
    with pytest.raises(RetryError, match=re.escape(
            "(retry budget exhausted: retries may not exceed 50% of calls + 0/s over 10 s)"
    )) as info:
        await retry.call(Flaky(OSError()))  # 3 calls earned 1.5, 1 is spent
    assert info.value.reason == "budget_exhausted"
    assert [e.reason for e in events if isinstance(e, RetryGaveUp)] == ["budget_exhausted"]
    exhausted = [e for e in events if isinstance(e, RetryBudgetExhausted)]
    assert len(exhausted) == 1
    assert budget.statistics().exhausted == 1


async def test_budget_is_shared_between_retries() -> None:
    clock = SleepRecorder()
    budget = RetryBudget(BudgetConfig(ratio=0, min_per_second=0.1, window=10), clock=clock)
    a, _, _ = make(EXP, budget=budget)
    b, _, _ = make(EXP, budget=budget)
    a._clock = b._clock = clock
    assert await a.call(Flaky(OSError())) == "ok"  # spends the only retry
    with pytest.raises(RetryError, match="retry budget exhausted"):
        await b.call(Flaky(OSError()))


async def test_a_refused_call_is_not_retried() -> None:
    breaker = CircuitBreaker("payments", BreakerConfig(window_size=1, minimum_calls=1),
                             clock=VirtualClock(), bus=EventBus())
    retry, clock, _ = make(EXP, breaker=breaker)
    fn = Flaky(ConnectionError("down"), ConnectionError("down"))
    with pytest.raises(CircuitOpenError) as info:
        await retry.call(fn)
    assert fn.calls == 1  # the second try was refused by the open breaker, not made
    assert clock.slept == [0.5]  # one backoff, then the breaker said no
    assert isinstance(info.value.__cause__, ConnectionError)  # why it was retried


async def test_retries_go_through_the_breaker_and_count_there() -> None:
    breaker = CircuitBreaker("p", BreakerConfig(window_size=4, minimum_calls=4),
                             clock=VirtualClock(), bus=EventBus())
    retry, _, _ = make(EXP, breaker=breaker)
    assert await retry.call(Flaky(OSError(), OSError())) == "ok"
    stats = breaker.statistics()
    assert (stats.calls, stats.failures) == (3, 2)


async def test_cancellation_during_a_try_is_not_swallowed() -> None:
    retry, _, _ = make(EXP)
    started = asyncio.Event()
    calls = 0

    async def hang() -> None:
        nonlocal calls
        calls += 1
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(retry.call(hang))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert calls == 1


async def test_cancellation_during_backoff_is_not_swallowed() -> None:
    clock = VirtualClock()
    retry = Retry("p", EXP, clock=clock, bus=EventBus())
    fn = Flaky(OSError(), OSError())
    task = asyncio.create_task(retry.call(fn))
    await clock.advance(0.1)
    assert fn.calls == 1  # waiting 0.5 s before the retry
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await clock.advance(10)
    assert fn.calls == 1


async def test_an_inner_cancelled_error_is_not_retried() -> None:
    retry, _, _ = make(EXP)
    fn = Flaky(asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await retry.call(fn)
    assert fn.calls == 1


async def test_decorator() -> None:
    retry, _, _ = make(EXP)
    fn = Flaky(OSError())

    @retry
    async def pay(x: int) -> str:
        return await fn(x)

    assert await pay(1) == "ok"
    assert pay.__name__ == "pay"
    with pytest.raises(TypeError, match="Retry 'payments' can only decorate an async function"):
        retry(print)  # type: ignore[arg-type]


def test_name_must_be_given() -> None:
    with pytest.raises(ConfigError, match=r"^name must be a non-empty string, got ''$"):
        Retry("")


async def test_a_first_success_never_enters_the_retry_loop(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # #11: the retry loop costs nothing on first success — no loop, no description of the
    # call, no backoff state.
    async def never(*args: Any) -> Any:
        raise AssertionError("the retry loop ran for a call that succeeded at once")

    monkeypatch.setattr(Retry, "resume", never)
    retry, clock, events = make(EXP, budget=RetryBudget())
    described: list[int] = []

    def describe() -> str:
        described.append(1)
        return "ok()"

    async def ok() -> str:
        return "ok"

    assert await retry.call(ok) == "ok"
    assert await retry.run(ok, describe) == "ok"
    assert described == []
    assert clock.slept == []
    assert events == []
