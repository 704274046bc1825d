"""A small HTTP endpoint for Prometheus, served by the running event loop.

Serving from the loop (not a thread, as ``prometheus_client.start_http_server`` does) means a
scrape reads the pipelines' statistics between two steps of the loop, never while a stage is
halfway through changing them. A scrape waits for the loop, so a loop blocked by a careless
callback shows up as a slow scrape, which is worth seeing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

_log = logging.getLogger("streamguard.metrics")

_MAX_HEAD = 16 * 1024
_READ_TIMEOUT = 10.0
_PATHS = ("/", "/metrics")


class MetricsServer:
    """A running metrics endpoint; :meth:`aclose` stops it. Made by
    :meth:`~streamguard.metrics.PrometheusExporter.serve` or :func:`serve_registry`."""

    def __init__(self, server: asyncio.Server, host: str, port: int) -> None:
        self._server = server
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        """The address to scrape, e.g. ``http://127.0.0.1:9464/metrics``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    async def aclose(self) -> None:
        """Stop accepting connections and close the open ones (idempotent)."""
        self._server.close()
        with contextlib.suppress(AttributeError):  # Python < 3.12 has no close_clients()
            self._server.close_clients()  # type: ignore[attr-defined]
        await self._server.wait_closed()

    async def __aenter__(self) -> MetricsServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


async def serve_registry(
    registry: CollectorRegistry, *, host: str = "127.0.0.1", port: int = 0
) -> MetricsServer:
    """Serve *registry* at ``http://host:port/metrics``; port 0 picks a free port (read it
    back from :attr:`MetricsServer.port`)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await _answer(registry, reader, writer)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError):
            pass  # the scraper went away or sent garbage; nothing to tell it
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, host, port, limit=_MAX_HEAD)
    bound = server.sockets[0].getsockname()[1]
    return MetricsServer(server, host, int(bound))


async def _answer(
    registry: CollectorRegistry, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT)
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = request_line.split()
    if len(parts) != 3:
        await _respond(writer, 400, b"bad request\n", "text/plain; charset=utf-8")
        return
    method, target, _version = parts
    headers = dict(_header(line) for line in header_lines if ":" in line)
    path = target.split("?", 1)[0]
    if method not in ("GET", "HEAD"):
        await _respond(writer, 405, b"only GET and HEAD\n", "text/plain; charset=utf-8")
    elif path not in _PATHS:
        await _respond(writer, 404, b"not found; scrape /metrics\n", "text/plain; charset=utf-8")
    else:
        encoder, content_type = choose_encoder(headers.get("accept", ""))
        body = encoder(registry)
        await _respond(writer, 200, b"" if method == "HEAD" else body, content_type,
                       length=len(body))


def _header(line: str) -> tuple[str, str]:
    name, _, value = line.partition(":")
    return name.strip().lower(), value.strip()


async def _respond(
    writer: asyncio.StreamWriter, status: int, body: bytes, content_type: str,
    length: int | None = None,
) -> None:
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}[status]
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body) if length is None else length}\r\n"
            "Connection: close\r\n\r\n")
    writer.write(head.encode("latin-1") + body)
    await writer.drain()
