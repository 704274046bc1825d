"""PauseController: hysteresis, minimum pause, reasons, re-applied after rebalance."""

from __future__ import annotations

import pytest

from streamguard.core._errors import ConfigError
from streamguard.kafka._pause import FlowControl, PauseChange, PauseController, PauseReason
from streamguard.kafka._types import TopicPartition
from streamguard.testing import VirtualClock

A = TopicPartition("t", 0)
B = TopicPartition("t", 1)


def controller(**kw: object) -> tuple[PauseController, VirtualClock]:
    clock = VirtualClock()
    cfg = FlowControl(**{"high_mark": 100, "low_mark": 20, "min_pause": 1.0, **kw})  # type: ignore[arg-type]
    ctl = PauseController(cfg, clock)
    ctl.assign(frozenset({A, B}))
    return ctl, clock


def test_pause_at_high_mark_resume_at_low_mark() -> None:
    ctl, clock = controller()
    ctl.backlog(A, 99)
    assert ctl.plan() == []
    ctl.backlog(A, 100)
    assert ctl.plan() == [PauseChange(A, True, frozenset({PauseReason.BACKLOG}))]
    ctl.backlog(A, 50)  # between the marks: stays paused (hysteresis)
    clock.tick(5)
    assert ctl.plan() == []
    ctl.backlog(A, 20)
    assert ctl.plan() == [PauseChange(A, False, frozenset(), 5.0)]
    assert ctl.paused == frozenset()


def test_minimum_pause_holds_a_partition_that_drained_quickly() -> None:
    ctl, clock = controller()
    ctl.backlog(A, 150)
    ctl.plan()
    ctl.backlog(A, 0)
    clock.tick(0.4)
    assert ctl.plan() == []
    assert ctl.next_resume_at() == pytest.approx(1.0)
    clock.tick(0.6)
    assert [c.paused for c in ctl.plan()] == [False]
    assert ctl.next_resume_at() is None


def test_bytes_pause_too() -> None:
    ctl, _ = controller(high_bytes=1000)
    ctl.backlog(B, 5, 1000)
    assert [(c.tp, c.paused) for c in ctl.plan()] == [(B, True)]
    ctl.backlog(B, 5, 251)  # above a quarter of high_bytes
    assert B in ctl.paused
    ctl.backlog(B, 5, 250)
    assert PauseReason.BACKLOG not in ctl.reasons(B)


def test_reasons_add_up_and_all_must_clear() -> None:
    ctl, clock = controller()
    ctl.pause(PauseReason.BREAKER)
    ctl.pause(PauseReason.USER, frozenset({A}))
    assert {c.tp for c in ctl.plan()} == {A, B}
    assert ctl.reasons(A) == {PauseReason.BREAKER, PauseReason.USER}
    clock.tick(2)
    ctl.resume(PauseReason.BREAKER)
    assert [(c.tp, c.paused) for c in ctl.plan()] == [(B, False)]
    ctl.resume(PauseReason.USER, frozenset({A}))
    assert [(c.tp, c.paused) for c in ctl.plan()] == [(A, False)]


def test_pause_state_is_reapplied_after_a_rebalance() -> None:
    ctl, _ = controller()
    ctl.pause(PauseReason.USER, frozenset({A}))
    ctl.pause(PauseReason.BREAKER)
    ctl.backlog(B, 500)
    ctl.plan()
    ctl.revoke(frozenset({A, B}))
    assert ctl.plan() == []
    C = TopicPartition("t", 2)
    ctl.assign(frozenset({A, C}))  # aiokafka cleared every pause flag
    changes = {c.tp: c.reasons for c in ctl.plan()}
    assert changes == {
        A: {PauseReason.USER, PauseReason.BREAKER},
        C: {PauseReason.BREAKER},
    }


def test_a_retained_partition_is_paused_again_after_assignment() -> None:
    ctl, _ = controller()
    ctl.backlog(A, 500)
    ctl.plan()
    ctl.assign(frozenset({A, B}))  # same partitions, flags cleared by aiokafka
    assert [(c.tp, c.paused) for c in ctl.plan()] == [(A, True)]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"high_mark": 0}, "high_mark must be >= 1, got 0"),
        ({"low_mark": 10, "high_mark": 10}, "low_mark must be >= 0 and < high_mark=10, got 10"),
        ({"min_pause": -1}, "min_pause must be >= 0 seconds, got -1"),
        ({"high_bytes": 10, "low_bytes": 10}, "low_bytes must be >= 0 and < high_bytes=10, got 10"),
    ],
)
def test_bad_flow_control_is_a_config_error(kw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        FlowControl(**kw)  # type: ignore[arg-type]


def test_a_paused_partition_that_gains_a_reason_is_reported_again() -> None:
    ctl, _ = controller()
    ctl.backlog(A, 500)
    assert [c.again for c in ctl.plan()] == [False]
    ctl.pause(PauseReason.BREAKER)
    changes = ctl.plan()
    assert [(c.tp, c.again) for c in changes] == [(A, True), (B, False)]
    assert changes[0].reasons == {PauseReason.BACKLOG, PauseReason.BREAKER}
    ctl.resume(PauseReason.BREAKER)  # losing a reason while still paused: nothing to report
    assert ctl.plan() == []
