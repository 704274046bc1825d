"""Retry budget arithmetic over a sliding window on a virtual clock."""

from __future__ import annotations

from streamguard.retry import BudgetConfig, BudgetStatistics, RetryBudget
from streamguard.testing import VirtualClock


def make(**kwargs: float) -> tuple[RetryBudget, VirtualClock]:
    clock = VirtualClock()
    return RetryBudget(BudgetConfig(**kwargs), clock=clock), clock  # type: ignore[arg-type]


def spend_all(budget: RetryBudget) -> int:
    n = 0
    while budget.try_acquire():
        n += 1
    return n


def test_retries_are_a_fraction_of_calls() -> None:
    budget, _ = make(ratio=0.2, min_per_second=0)
    for _ in range(10):
        budget.record_call()
    assert spend_all(budget) == 2
    assert budget.statistics() == BudgetStatistics(calls=10, retries=2, available=0.0,
                                                   exhausted=1)


def test_the_floor_allows_retries_without_traffic() -> None:
    budget, _ = make(ratio=0.2, min_per_second=1, window=10)
    assert spend_all(budget) == 10


def test_floor_and_ratio_add_up() -> None:
    budget, _ = make(ratio=0.5, min_per_second=0.5, window=4)
    for _ in range(6):
        budget.record_call()
    assert spend_all(budget) == 5  # 0.5 × 6 + 0.5 × 4


def test_spent_retries_leave_the_window() -> None:
    budget, clock = make(ratio=0, min_per_second=1, window=3)
    assert spend_all(budget) == 3
    clock.tick(1)
    assert not budget.try_acquire()
    clock.tick(2)  # the second they were spent in has left the 3 s window
    assert spend_all(budget) == 3


def test_calls_leave_the_window_too() -> None:
    budget, clock = make(ratio=1, min_per_second=0, window=2)
    for _ in range(5):
        budget.record_call()
    clock.tick(2)
    assert not budget.try_acquire()
    budget.record_call()
    assert budget.try_acquire()


def test_an_outage_cannot_multiply_the_load() -> None:
    budget, clock = make()  # defaults: 20 % + 10/s over 10 s
    requests = 0
    for _ in range(60):  # one minute of 1000 calls/s that all fail, each wanting 3 retries
        for _ in range(1000):
            budget.record_call()
            requests += 1
            for _ in range(3):
                if not budget.try_acquire():
                    break
                requests += 1
        clock.tick(1)
    assert requests <= 60 * 1000 * 1.2 + 60 * 10
