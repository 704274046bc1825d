"""The HTTP endpoint: port 0 picks a free port, /metrics answers, the rest is refused."""

from __future__ import annotations

import asyncio

from streamguard import EventBus, from_iterable
from streamguard import operators as op
from streamguard.metrics import PrometheusExporter

from ._scrape import parse, value


async def http(port: int, request: str) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request.encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


async def test_scrape_over_http() -> None:
    bus = EventBus()
    with PrometheusExporter(bus=bus) as exporter:
        server = await exporter.serve(port=0)
        try:
            assert server.port > 0
            assert server.url == f"http://127.0.0.1:{server.port}/metrics"
            await from_iterable(range(7)).pipe(op.map(str, name="fmt")).run(name="p", bus=bus)
            status, headers, body = await http(
                server.port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        finally:
            await server.aclose()
    assert status == 200
    assert headers["content-type"].startswith("text/plain")
    assert int(headers["content-length"]) == len(body)
    samples = parse(body)
    assert value(samples, "streamguard_stage_items_total",
                 pipeline="p", stage="fmt", outcome="emitted") == 7


async def test_openmetrics_is_negotiated() -> None:
    with PrometheusExporter(bus=EventBus()) as exporter:
        async with await exporter.serve() as server:
            status, headers, body = await http(
                server.port, "GET /metrics HTTP/1.1\r\n"
                "Accept: application/openmetrics-text; version=1.0.0\r\n\r\n")
    assert status == 200
    assert headers["content-type"].startswith("application/openmetrics-text")
    assert body.rstrip().endswith(b"# EOF")


async def test_head_unknown_path_and_method() -> None:
    with PrometheusExporter(bus=EventBus()) as exporter:
        async with await exporter.serve() as server:
            head = await http(server.port, "HEAD /metrics HTTP/1.1\r\n\r\n")
            missing = await http(server.port, "GET /nope HTTP/1.1\r\n\r\n")
            post = await http(server.port, "POST /metrics HTTP/1.1\r\n\r\n")
            garbage = await http(server.port, "hello\r\n\r\n")
    assert head[0] == 200
    assert head[2] == b""
    assert int(head[1]["content-length"]) > 0
    assert missing[0] == 404
    assert b"/metrics" in missing[2]
    assert post[0] == 405
    assert garbage[0] == 400


async def test_closed_server_refuses_connections() -> None:
    with PrometheusExporter(bus=EventBus()) as exporter:
        server = await exporter.serve()
        await server.aclose()
        await server.aclose()
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    except OSError:
        return
    writer.close()
    await writer.wait_closed()
    raise AssertionError("the closed metrics server still accepted a connection")
