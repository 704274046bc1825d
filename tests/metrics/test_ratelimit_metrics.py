"""Rate-limit events become decision, wait and storage metrics."""

from __future__ import annotations

from typing import Any

from streamguard import EventBus, ratelimit
from streamguard.metrics import PrometheusExporter

from ._scrape import parse, value


def _decided(limiter: str, result: Any, waited: float = 0.0) -> ratelimit.RateLimitDecided:
    return ratelimit.RateLimitDecided(source=limiter, limiter=limiter, result=result, key="k",
                                      cost=1.0, waited=waited, decision=None)  # type: ignore[arg-type]


def test_rate_limit_decisions_waits_and_outages() -> None:
    bus = EventBus()
    with PrometheusExporter(bus=bus) as exporter:
        for result, waited in (("allowed", 0.0), ("allowed", 0.0), ("delayed", 0.25),
                               ("delayed", 0.5), ("rejected", 0.0)):
            bus.publish(_decided("api", result, waited))
        bus.publish(ratelimit.StorageOutageBegan(source="api", limiter="api", storage="redis",
                                                 failure_mode="open", error="refused"))
        during = parse(exporter.exposition())
        bus.publish(ratelimit.StorageOutageEnded(source="api", limiter="api", storage="redis",
                                                 duration=3.0, decisions=10))
        after = parse(exporter.exposition())
    decisions = "streamguard_ratelimit_decisions_total"
    assert value(after, decisions, limiter="api", result="allowed") == 2
    assert value(after, decisions, limiter="api", result="delayed") == 2
    assert value(after, decisions, limiter="api", result="rejected") == 1
    assert value(after, "streamguard_ratelimit_wait_seconds_total", limiter="api") == 0.75
    assert value(during, "streamguard_ratelimit_storage_up", limiter="api") == 0
    assert value(after, "streamguard_ratelimit_storage_up", limiter="api") == 1
    assert value(after, "streamguard_ratelimit_storage_outages_total",
                 limiter="api", failure_mode="open") == 1
