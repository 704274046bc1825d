"""Bad arguments are refused when the pipeline is built, naming the operator, the rule, the
field and the value (``ConfigError``); a bool is not a number."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from streamguard import ConfigError
from streamguard import operators as op


def _ts(x: Any) -> float:
    return 0.0


CASES: list[tuple[Callable[[], object], str]] = [
    (lambda: op.window(), "op.window: needs count= or duration=, got None"),
    (lambda: op.window(0), "op.window: count must be an int >= 1, got 0"),
    (lambda: op.window(True), "op.window: count must be an int >= 1, got True"),
    (lambda: op.window(3, step=4),
     "op.window: step must be <= count=3 (a larger step would skip items), got 4"),
    (lambda: op.window(3, every=1.0),
     "op.window: every= needs duration= (use step= for count windows), got 1.0"),
    (lambda: op.window(duration=-1), "op.window: duration must be > 0 and finite, got -1"),
    (lambda: op.window(duration="1"),  # type: ignore[arg-type]
     "op.window: duration must be a number of seconds, got '1'"),
    (lambda: op.window(duration=1, every=2),
     "op.window: every must be <= duration=1.0 (a larger one would skip items), got 2"),
    (lambda: op.window(duration=1, step=2),
     "op.window: step= is for count windows; use every= with duration=, got 2"),
    (lambda: op.window(2, duration=1, every=1),
     "op.window: count= cannot be combined with every=, got 2"),
    (lambda: op.window(2, max_items=0), "op.window: max_items must be an int >= 1, got 0"),
    (lambda: op.debounce(0), "op.debounce: seconds must be > 0 and finite, got 0"),
    (lambda: op.throttle_first(float("inf")),
     "op.throttle_first: seconds must be > 0 and finite, got inf"),
    (lambda: op.sample(True), "op.sample: seconds must be a number of seconds, got True"),
    (lambda: op.timeout(1, per="call"),  # type: ignore[arg-type]
     "op.timeout: per must be 'item' or 'idle', got 'call'"),
    (lambda: op.delay(1, capacity=0), "op.delay: capacity must be an int >= 1, got 0"),
    (lambda: op.delay(1, clock=object()),  # type: ignore[arg-type]
     "op.delay: clock must be a Clock (now() and sleep()) or None, got <object object"),
    (lambda: op.interval(0), "op.interval: period must be > 0 and finite, got 0"),
    (lambda: op.distinct(capacity=0), "op.distinct: capacity must be an int >= 1, got 0"),
    (lambda: op.distinct("id"),  # type: ignore[arg-type]
     "op.distinct: key must be callable item -> hashable, or None, got 'id'"),
    (lambda: op.scan(1, 0),  # type: ignore[arg-type]
     "op.scan: fn must be callable (acc, item) -> acc, got 1"),
    (lambda: op.reduce(None, 0),  # type: ignore[arg-type]
     "op.reduce: fn must be callable (acc, item) -> acc, got None"),
    (lambda: op.tumbling_window(0, timestamp=_ts),
     "op.tumbling_window: size must be > 0 and finite, got 0"),
    (lambda: op.tumbling_window(10, timestamp="ts"),  # type: ignore[arg-type]
     "op.tumbling_window: timestamp must be callable item -> number, got 'ts'"),
    (lambda: op.tumbling_window(10, timestamp=_ts, lateness=-1),
     "op.tumbling_window: lateness must be a number >= 0, got -1"),
    (lambda: op.tumbling_window(10, timestamp=_ts, delay=True),
     "op.tumbling_window: delay must be a number >= 0, got True"),
    (lambda: op.tumbling_window(10, timestamp=_ts, on_late="ignore"),  # type: ignore[arg-type]
     "op.tumbling_window: on_late must be 'drop' or a callable (item, LateRecord), got 'ignore'"),
    (lambda: op.hopping_window(10, 20, timestamp=_ts),
     "op.hopping_window: slide must be <= size=10.0 (a larger slide would skip records), got 20"),
    (lambda: op.session_window(0, timestamp=_ts),
     "op.session_window: gap must be > 0 and finite, got 0"),
    (lambda: op.session_window(5, timestamp=_ts, max_items=0),
     "op.session_window: max_items must be an int >= 1, got 0"),
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
