"""Bad arguments are refused when the pipeline is built, naming the rule, the field and the
value (``ConfigError``); a bool is not a number."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from streamguard import ConfigError
from streamguard import operators as op


def _ts(x: Any) -> float:
    return 0.0


CASES: list[tuple[Callable[[], object], str]] = [
    (lambda: op.window(), "window needs count= or duration=, got None"),
    (lambda: op.window(0), "count must be an int >= 1, got 0"),
    (lambda: op.window(True), "count must be an int >= 1, got True"),
    (lambda: op.window(3, step=4),
     "step must be <= count=3 (a larger step would skip items), got 4"),
    (lambda: op.window(3, every=1.0),
     "every= needs duration= (use step= for count windows), got 1.0"),
    (lambda: op.window(duration=-1), "duration must be > 0 and finite, got -1"),
    (lambda: op.window(duration="1"),  # type: ignore[arg-type]
     "duration must be a number of seconds, got '1'"),
    (lambda: op.window(duration=1, every=2),
     "every must be <= duration=1.0 (a larger one would skip items), got 2"),
    (lambda: op.window(duration=1, step=2),
     "step= is for count windows; use every= with duration=, got 2"),
    (lambda: op.window(2, duration=1, every=1), "count= cannot be combined with every=, got 2"),
    (lambda: op.window(2, max_items=0), "max_items must be an int >= 1, got 0"),
    (lambda: op.debounce(0), "seconds must be > 0 and finite, got 0"),
    (lambda: op.throttle_first(float("inf")), "seconds must be > 0 and finite, got inf"),
    (lambda: op.sample(True), "seconds must be a number of seconds, got True"),
    (lambda: op.timeout(1, per="call"),  # type: ignore[arg-type]
     "per must be 'item' or 'idle', got 'call'"),
    (lambda: op.delay(1, capacity=0), "capacity must be an int >= 1, got 0"),
    (lambda: op.delay(1, clock=object()),  # type: ignore[arg-type]
     "clock must be a Clock (now() and sleep()) or None, got <object object"),
    (lambda: op.interval(0), "period must be > 0 and finite, got 0"),
    (lambda: op.distinct(capacity=0), "capacity must be an int >= 1, got 0"),
    (lambda: op.distinct("id"), "key must be callable item -> hashable, or None, got 'id'"),  # type: ignore[arg-type]
    (lambda: op.scan(1, 0), "fn must be callable (acc, item) -> acc, got 1"),  # type: ignore[arg-type]
    (lambda: op.reduce(None, 0), "fn must be callable (acc, item) -> acc, got None"),  # type: ignore[arg-type]
    (lambda: op.tumbling_window(0, timestamp=_ts), "size must be > 0 and finite, got 0"),
    (lambda: op.tumbling_window(10, timestamp="ts"),  # type: ignore[arg-type]
     "timestamp must be callable item -> number, got 'ts'"),
    (lambda: op.tumbling_window(10, timestamp=_ts, lateness=-1),
     "lateness must be a number >= 0, got -1"),
    (lambda: op.tumbling_window(10, timestamp=_ts, delay=True),
     "delay must be a number >= 0, got True"),
    (lambda: op.tumbling_window(10, timestamp=_ts, on_late="ignore"),  # type: ignore[arg-type]
     "on_late must be 'drop' or a callable (item, LateRecord), got 'ignore'"),
    (lambda: op.hopping_window(10, 20, timestamp=_ts),
     "slide must be <= size=10.0 (a larger slide would skip records), got 20"),
    (lambda: op.session_window(0, timestamp=_ts), "gap must be > 0 and finite, got 0"),
    (lambda: op.session_window(5, timestamp=_ts, max_items=0),
     "max_items must be an int >= 1, got 0"),
]


@pytest.mark.parametrize(("build", "message"), CASES)
def test_bad_arguments_name_rule_field_and_value(
    build: Callable[[], object], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        build()
    assert str(info.value).startswith(message)


def test_exports_carry_their_public_path() -> None:
    for obj in (op.EventWindow, op.LateRecord, op.StreamTimeoutError, op.window, op.interval,
                op.tumbling_window):
        assert obj.__module__ == "streamguard.operators"
