"""Every event a streamguard package exports becomes a metric, or is listed here with the
reason it is not one: an event that is added or renamed without its metric fails here
instead of silently disappearing from the dashboard."""

from __future__ import annotations

import importlib
import inspect

import pytest

from streamguard.core import Event
from streamguard.metrics._handlers import resolve_handler

AREAS = ["streamguard.core", "streamguard.breaker", "streamguard.ratelimit",
         "streamguard.retry", "streamguard.guard", "streamguard.kafka",
         "streamguard.adaptive", "streamguard.operators"]

# event -> why no metric reads it
NOT_METRICS = {
    # bases: their concrete subclasses are handled
    "Event": "base class", "StageEvent": "base class", "BreakerEvent": "base class",
    "RateLimitEvent": "base class", "RetryEvent": "base class", "KafkaEvent": "base class",
    # stage outcomes are read from the stages' statistics at scrape time, not from events
    "ItemsDropped": "counted by streamguard_stage_items_total{outcome=dropped}",
    "ItemFailed": "counted by streamguard_stage_items_total{outcome=failed}",
}


def _exported_events() -> list[tuple[str, type]]:
    found: dict[type, str] = {}
    for area in AREAS:
        try:
            module = importlib.import_module(area)
        except ImportError:  # an optional area whose dependency is missing
            continue
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isclass(value) and issubclass(value, Event):
                found.setdefault(value, f"{area}.{name}")
    return sorted((path, cls) for cls, path in found.items())


def test_the_areas_export_events() -> None:
    names = {path.rsplit(".", 1)[1] for path, _ in _exported_events()}
    assert {"StageTerminated", "StateTransition", "PauseReasonsChanged"} <= names


@pytest.mark.parametrize(("path", "cls"), _exported_events(), ids=lambda p: str(p))
def test_every_exported_event_has_a_metric_or_a_reason(path: str, cls: type) -> None:
    name = path.rsplit(".", 1)[1]
    has_metric = resolve_handler(cls) is not None
    assert has_metric or name in NOT_METRICS, f"{path} has no metric and no reason"
    assert not (has_metric and name in NOT_METRICS), f"{path} has a metric: drop its reason"
