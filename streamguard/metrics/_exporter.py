"""`PrometheusExporter`: a :class:`Telemetry` registered in a Prometheus registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from ..core._events import EventBus
from ._collector import TelemetryCollector
from ._server import MetricsServer, serve_registry
from ._telemetry import Telemetry


class PrometheusExporter:
    """Exports streamguard's metrics in the Prometheus format.

    One subscriber to *bus* (the process-wide :func:`~streamguard.core.default_bus` by
    default) and one collector in *registry* (a fresh, private ``CollectorRegistry`` by
    default, so two exporters never clash; pass ``prometheus_client.REGISTRY`` to join the
    process-wide one). Stage statistics are read at scrape time. ``every_bus=True`` also
    watches every bus created while the exporter is open (see :class:`Telemetry`).

    Example::

        exporter = PrometheusExporter()
        server = await exporter.serve(port=9464)   # http://127.0.0.1:9464/metrics
        await stream.run(name="orders")
        print(exporter.exposition().decode())
        await server.aclose()
        exporter.close()
    """

    def __init__(
        self, *, bus: EventBus | None = None, every_bus: bool = False,
        registry: CollectorRegistry | None = None, max_finished_pipelines: int = 1000,
    ) -> None:
        self.telemetry = Telemetry(bus, every_bus=every_bus,
                                   max_finished_pipelines=max_finished_pipelines)
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self._collector = TelemetryCollector(self.telemetry)
        self.registry.register(self._collector)
        self._closed = False

    def exposition(self) -> bytes:
        """The metrics now, in the Prometheus text format (what a scrape returns)."""
        return generate_latest(self.registry)

    async def serve(self, *, host: str = "127.0.0.1", port: int = 0) -> MetricsServer:
        """Serve the metrics over HTTP on the running event loop; port 0 picks a free one.

        Pass ``host="0.0.0.0"`` to be reachable from other machines.
        """
        return await serve_registry(self.registry, host=host, port=port)

    def close(self) -> None:
        """Unsubscribe from the bus and leave the registry (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.telemetry.close()
        self.registry.unregister(self._collector)

    def __enter__(self) -> PrometheusExporter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
