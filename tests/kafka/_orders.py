"""The orders service and the helpers shared by the tests that run
``examples/kafka_orders_http.py`` under ``streamguard run`` on Apache Kafka
(test_example_orders.py: one process; test_workers.py: ``--workers 3``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path

import orjson
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
USERS = 20


def order(i: int) -> bytes:
    # Every 97th order is refused by the service (422): it must end in the dead-letter topic.
    return orjson.dumps({"id": i, "user": f"u{i % USERS}", "amount": -1 if i % 97 == 5 else i})


def refused_orders(ids: Iterable[int]) -> set[int]:
    """The orders of *ids* that the service refuses (see :func:`order`)."""
    return {i for i in ids if i % 97 == 5}


class OrdersService:
    """The downstream: accepts an order after a short delay, refuses negative amounts, and
    notes every accepted call with the record it came from (the Idempotency-Key header)."""

    def __init__(self) -> None:
        self.accepted: list[tuple[int, str]] = []  # (order id, topic-partition-offset)
        self.refused: set[int] = set()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        await asyncio.sleep(0.004)
        if body["amount"] < 0:
            self.refused.add(body["id"])
            return web.Response(status=422, text="negative amount")
        self.accepted.append((body["id"], request.headers["Idempotency-Key"]))
        return web.Response(status=201)

    def ids(self) -> set[int]:
        return {i for i, _ in self.accepted}


@contextlib.asynccontextmanager
async def serve_orders() -> AsyncIterator[tuple[OrdersService, str]]:
    """A real HTTP orders service on a free port: the service and its URL."""
    orders = OrdersService()
    app = web.Application()
    app.router.add_post("/orders", orders.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield orders, f"http://127.0.0.1:{port}/orders"
    finally:
        await runner.cleanup()


def example_env(url: str, topic: str, group: str, *, per_user_rate: float = 40) -> dict[str, str]:
    """The environment the example reads its settings from."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "ORDERS_URL": url, "ORDERS_TOPIC": topic,
            "ORDERS_GROUP": group, "ORDERS_DEAD_LETTER_TOPIC": f"{topic}.dlq",
            "ORDERS_PER_USER_RATE": f"{per_user_rate:g}"}


def uncommitted(accepted: Iterable[tuple[int, str]], committed: dict[int, int]) -> list[str]:
    """The Idempotency-Keys (topic-partition-offset) of accepted orders at or above their
    partition's committed offset: accepted but not committed."""
    return [key for _, key in accepted
            if int(key.rsplit("-", 1)[1]) >= committed.get(int(key.rsplit("-", 2)[1]), 0)]


async def until(predicate: Callable[[], bool], proc: subprocess.Popen[str], *, within: float,
                what: str) -> None:
    """Wait until *predicate* holds; fail if *proc* exits first or *within* seconds pass."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"the consumer exited ({proc.returncode}) before {what}: "
                                 f"{proc.stderr.read() if proc.stderr else ''}")
        assert loop.time() < deadline, f"timed out after {within} s waiting for {what}"
        await asyncio.sleep(0.05)


async def stop(proc: subprocess.Popen[str], signum: int, *, within: float = 60) -> int:
    """Send *signum*, wait for the exit and close the pipes (communicate reads them to EOF);
    what the process wrote is left in ``proc.stdout_text`` and ``proc.stderr_text``."""
    proc.send_signal(signum)
    try:
        proc.stdout_text, proc.stderr_text = await asyncio.to_thread(  # type: ignore[attr-defined]
            proc.communicate, timeout=within)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode
