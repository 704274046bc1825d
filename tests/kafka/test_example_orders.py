"""``examples/kafka_orders_http.py`` under ``streamguard run`` against Apache Kafka and a real
HTTP server (aiohttp), stopped the two ways a long-running consumer is stopped (#9):

1. SIGINT mid-stream drains: every order the service accepted is committed, so the next run
   re-sends none of them (0 replays of accepted orders);
2. SIGKILL mid-stream loses nothing: a third run finishes the topic, and every order was
   accepted by the service or written to the dead-letter topic.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from streamguard.kafka import read_group_lag

from ._brokers import Broker, consume_all, create_topic, produce

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ORDERS = 3000
USERS = 20
PARTITIONS = 4


def order(i: int) -> bytes:
    # Every 97th order is refused by the service (422): it must end in the dead-letter topic.
    return orjson.dumps({"id": i, "user": f"u{i % USERS}", "amount": -1 if i % 97 == 5 else i})


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


@pytest.fixture
async def service() -> AsyncIterator[tuple[OrdersService, str]]:
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


def start(broker: Broker, url: str, topic: str, group: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ORDERS_URL": url, "ORDERS_TOPIC": topic,
           "ORDERS_GROUP": group, "ORDERS_DEAD_LETTER_TOPIC": f"{topic}.dlq",
           "ORDERS_PER_USER_RATE": "40"}
    return subprocess.Popen(
        [sys.executable, "-m", "streamguard.cli", "run", "examples/kafka_orders_http.py",
         "--bootstrap", broker.bootstrap, "--view", "none"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


async def until(predicate: object, proc: subprocess.Popen[str], *, within: float,
                what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():  # type: ignore[operator]
        if proc.poll() is not None:
            raise AssertionError(f"the consumer exited ({proc.returncode}) before {what}: "
                                 f"{proc.stderr.read() if proc.stderr else ''}")
        assert loop.time() < deadline, f"timed out after {within} s waiting for {what}"
        await asyncio.sleep(0.05)


async def stop(proc: subprocess.Popen[str], signum: int, *, within: float = 60) -> int:
    """Send *signum*, wait for the exit and close the pipes (communicate reads them to EOF)."""
    proc.send_signal(signum)
    try:
        _, proc.stderr_text = await asyncio.to_thread(  # type: ignore[attr-defined]
            proc.communicate, timeout=within)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode


@pytest.mark.timeout(300)
async def test_sigint_drains_without_replays_and_sigkill_loses_nothing(
    apache_broker: Broker, topic: str, group: str, service: tuple[OrdersService, str]
) -> None:
    orders, url = service
    await create_topic(apache_broker.bootstrap, topic, PARTITIONS)
    await create_topic(apache_broker.bootstrap, f"{topic}.dlq", 1)
    await produce(apache_broker, topic, (order(i) for i in range(ORDERS)),
                  partition_of=lambda i: i % PARTITIONS)
    refused = {i for i in range(ORDERS) if i % 97 == 5}

    # Run 1: SIGINT once a third is accepted; the drain must finish within its timeout.
    first = start(apache_broker, url, topic, group)
    await until(lambda: len(orders.accepted) >= ORDERS // 3, first, within=120,
                what="a third of the orders")
    code = await stop(first, signal.SIGINT)
    assert code == 130, getattr(first, "stderr_text", "")
    accepted_1 = list(orders.accepted)
    rows = await read_group_lag(apache_broker.bootstrap, group, topics=[topic])
    committed = {r.partition: r.committed or 0 for r in rows}
    uncommitted = [key for _, key in accepted_1
                   if int(key.rsplit("-", 1)[1]) >= committed[int(key.rsplit("-", 2)[1])]]
    # Under load the drain can outlast the source's close_timeout (10 s): the source must wait
    # for the command's --drain-timeout instead (test_edges pins that on its own).
    assert uncommitted == [], (f"accepted but not committed: {uncommitted[:10]}; "
                               f"{getattr(first, 'stderr_text', '')[-2000:]}")
    assert len(accepted_1) < ORDERS - len(refused), "the signal came too late to test anything"

    # Run 2: nothing accepted in run 1 is sent again; then SIGKILL mid-stream.
    second = start(apache_broker, url, topic, group)
    await until(lambda: len(orders.accepted) >= len(accepted_1) + ORDERS // 3, second,
                within=120, what="another third")
    replays = Counter(i for i, _ in orders.accepted[len(accepted_1):]) & Counter(
        i for i, _ in accepted_1)
    assert not replays, f"{sum(replays.values())} accepted orders were sent again"
    await stop(second, signal.SIGKILL)

    # Run 3: the rest; every order ends accepted or dead-lettered.
    third = start(apache_broker, url, topic, group)
    await until(lambda: orders.ids() | orders.refused >= set(range(ORDERS)), third,
                within=180, what="every order")
    assert await stop(third, signal.SIGINT) == 130
    assert orders.ids() == set(range(ORDERS)) - refused  # 0 lost
    # Dead letters are at least once too: one refused after run 2's last commit is written
    # again by run 3. Read the whole dead-letter topic.
    written = sum(r.log_end or 0 for r in await read_group_lag(
        apache_broker.bootstrap, f"{group}-reader", topics=[f"{topic}.dlq"]))
    dead = await consume_all(apache_broker, f"{topic}.dlq", written)
    assert {r.value for r in dead} == {order(i) for i in refused}  # byte for byte
