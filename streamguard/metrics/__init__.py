"""Prometheus metrics for streamguard: one subscriber to the event bus, plus a collector
that reads the running pipelines' statistics at scrape time (the hot path pays nothing).

Stages, limiters, breakers, retries and the Kafka adapter never import ``prometheus_client``;
they publish typed events, and this package turns them into the families listed in
:data:`FAMILIES` (the README's metrics table is generated from the same list).

Example::

    from streamguard.metrics import PrometheusExporter

    exporter = PrometheusExporter()
    server = await exporter.serve(port=9464)
    await pipeline.run(name="orders")  # scrape http://127.0.0.1:9464/metrics meanwhile
    await server.aclose()
"""

from ..core._public import publish as _publish
from ._exporter import PrometheusExporter
from ._families import EVENT_FAMILIES, FAMILIES, STATISTICS_FAMILIES, Family
from ._handlers import BREAKER_STATE_VALUES
from ._server import MetricsServer, serve_registry
from ._telemetry import StageSample, Telemetry

__all__ = [
    "BREAKER_STATE_VALUES",
    "EVENT_FAMILIES",
    "FAMILIES",
    "STATISTICS_FAMILIES",
    "Family",
    "MetricsServer",
    "PrometheusExporter",
    "StageSample",
    "Telemetry",
    "serve_registry",
]

_publish(__name__, globals(), __all__)
