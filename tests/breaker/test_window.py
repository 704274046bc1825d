"""The private sliding windows: the last N calls, the last N seconds."""

from __future__ import annotations

from streamguard.breaker._window import FAILED, OK, SLOW, CountWindow, TimeWindow


def test_count_window_keeps_the_last_n() -> None:
    w = CountWindow(3)
    for outcome in (FAILED, FAILED, OK, OK):
        w.record(outcome, 0.0)
    assert w.totals(0.0) == (3, 1, 0)
    w.record(OK, 0.0)
    assert w.totals(0.0) == (3, 0, 0)
    assert w.clean


def test_count_window_counts_slow_and_failed_separately() -> None:
    w = CountWindow(4)
    for outcome in (SLOW, FAILED | SLOW, OK):
        w.record(outcome, 0.0)
    assert w.totals(0.0) == (3, 1, 2)
    assert not w.clean  # not full yet
    w.reset()
    assert w.totals(0.0) == (0, 0, 0)


def test_time_window_forgets_old_seconds() -> None:
    w = TimeWindow(3)
    w.record(FAILED, 0.2)
    w.record(OK, 1.9)
    w.record(SLOW, 2.0)
    assert w.totals(2.5) == (3, 1, 1)
    assert w.totals(3.0) == (2, 0, 1)   # second 0 left the window
    assert w.totals(4.99) == (1, 0, 1)
    assert w.totals(5.0) == (0, 0, 0)


def test_time_window_after_a_long_idle_is_empty() -> None:
    w = TimeWindow(2)
    w.record(FAILED, 10.0)
    assert w.totals(1000.0) == (0, 0, 0)
    w.record(OK, 1000.5)
    assert w.totals(1000.5) == (1, 0, 0)
    assert not w.clean


def test_time_window_puts_a_late_timestamp_in_the_newest_bucket() -> None:
    w = TimeWindow(2)
    w.record(OK, 5.0)
    w.record(FAILED, 4.0)
    assert w.totals(5.0) == (2, 1, 0)
    assert w.totals(6.0) == (2, 1, 0)
    assert w.totals(7.0) == (0, 0, 0)
