"""``examples/kafka_orders_http.py`` under ``streamguard run`` against Apache Kafka and a real
HTTP server (aiohttp), stopped the two ways a long-running consumer is stopped (#9):

1. SIGINT mid-stream drains: every order the service accepted is committed, so the next run
   re-sends none of them (0 replays of accepted orders);
2. SIGKILL mid-stream loses nothing: a third run finishes the topic, and every order was
   accepted by the service or written to the dead-letter topic.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from streamguard.kafka import read_group_lag

from ._brokers import Broker, consume_all, create_topic, produce
from ._orders import (
    ROOT,
    OrdersService,
    example_env,
    order,
    refused_orders,
    serve_orders,
    stop,
    uncommitted,
    until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ORDERS = 3000
PARTITIONS = 4


@pytest.fixture
async def service() -> AsyncIterator[tuple[OrdersService, str]]:
    async with serve_orders() as served:
        yield served


def start(broker: Broker, url: str, topic: str, group: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "streamguard.cli", "run", "examples/kafka_orders_http.py",
         "--bootstrap", broker.bootstrap, "--view", "none"],
        cwd=ROOT, env=example_env(url, topic, group), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)


@pytest.mark.timeout(300)
async def test_sigint_drains_without_replays_and_sigkill_loses_nothing(
    apache_broker: Broker, topic: str, group: str, service: tuple[OrdersService, str]
) -> None:
    orders, url = service
    await create_topic(apache_broker.bootstrap, topic, PARTITIONS)
    await create_topic(apache_broker.bootstrap, f"{topic}.dlq", 1)
    await produce(apache_broker, topic, (order(i) for i in range(ORDERS)),
                  partition_of=lambda i: i % PARTITIONS)
    refused = refused_orders(range(ORDERS))

    # Run 1: SIGINT once a third is accepted; the drain must finish within its timeout.
    first = start(apache_broker, url, topic, group)
    await until(lambda: len(orders.accepted) >= ORDERS // 3, first, within=120,
                what="a third of the orders")
    code = await stop(first, signal.SIGINT)
    assert code == 130, getattr(first, "stderr_text", "")
    accepted_1 = list(orders.accepted)
    rows = await read_group_lag(apache_broker.bootstrap, group, topics=[topic])
    committed = {r.partition: r.committed or 0 for r in rows}
    not_committed = uncommitted(accepted_1, committed)
    # Under load the drain can outlast the source's close_timeout (10 s): the source must wait
    # for the command's --drain-timeout instead (test_edges pins that on its own).
    assert not_committed == [], (f"accepted but not committed: {not_committed[:10]}; "
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
