"""``streamguard run examples/kafka_orders_http.py --workers 3`` on Apache Kafka, with a real
HTTP orders service (#14): three processes of one consumer group share the topic's
partitions, each serves its own metrics; one is killed with SIGKILL mid-stream and restarted,
and nothing is lost (every order accepted or refused, the whole topic committed); then a
SIGINT to the supervisor drains all three mid-stream: exit code 130, every worker drained,
and no order the service accepted is left uncommitted."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import urllib.request

import pytest

from streamguard.kafka import read_group_lag

from ..cli._runner import Supervisor, endpoints, supervisor
from ._brokers import Broker, create_topic, produce
from ._orders import example_env, order, refused_orders, serve_orders, uncommitted, until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARTITIONS = 6  # two per worker
FIRST, SECOND = 1800, 1200  # orders before and after the kill
PER_USER_RATE = 10  # per worker and user: 20 users, ~200 orders/s a worker, so a run takes
# seconds and a signal lands mid-stream


def _received(url: str) -> int:
    """How many orders the worker serving *url* has handed to the orders service."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    match = re.search(r'^streamguard_stage_items_total\{outcome="received",pipeline="orders",'
                      r'stage="orders-api"\} (\S+)$', text, re.MULTILINE)
    return int(float(match.group(1))) if match else 0


async def _committed(broker: Broker, group: str, topic: str) -> dict[int, int]:
    rows = await read_group_lag(broker.bootstrap, group, topics=[topic])
    return {r.partition: r.committed or 0 for r in rows}


async def _until_committed(broker: Broker, group: str, topic: str, end: int,
                           proc: subprocess.Popen[str]) -> None:
    """Wait until the group's committed offsets add up to *end* records."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while sum((await _committed(broker, group, topic)).values()) < end:
        assert proc.poll() is None, f"the supervisor exited ({proc.returncode})"
        assert loop.time() < deadline, "the group did not commit the whole topic within 60 s"
        await asyncio.sleep(0.5)


async def _wait_for(run: Supervisor, pattern: str) -> re.Match[str]:
    # The orders service runs on this event loop: wait in a thread, never block it.
    return await asyncio.to_thread(run.err.wait_for, pattern, within=60)


@pytest.mark.timeout(240)
async def test_three_workers_lose_nothing_when_one_is_killed_and_sigint_drains_them_all(
    apache_broker: Broker, topic: str, group: str
) -> None:
    await create_topic(apache_broker.bootstrap, topic, PARTITIONS)
    await create_topic(apache_broker.bootstrap, f"{topic}.dlq", 1)
    await produce(apache_broker, topic, (order(i) for i in range(FIRST)),
                  partition_of=lambda i: i % PARTITIONS)
    first, second = set(range(FIRST)), set(range(FIRST, FIRST + SECOND))
    async with serve_orders() as (orders, url):
        with supervisor("examples/kafka_orders_http.py", "--workers", "3", "--bootstrap",
                        apache_broker.bootstrap, "--view", "none", "--metrics-port", "0",
                        "--json", environment=example_env(url, topic, group,
                                                          per_user_rate=PER_USER_RATE)) as run:
            workers = await asyncio.to_thread(endpoints, run.err, 3)
            await until(lambda: len(orders.accepted) >= FIRST // 3, run.proc, within=120,
                        what="a third of the first orders")
            # Kill the worker that has sent the most orders, as its own endpoint counts them.
            received = {i: await asyncio.to_thread(_received, u) for i, (_, u) in workers.items()}
            victim = max(received, key=lambda i: received[i])
            killed = workers[victim][0]
            assert received[victim] > 0, received
            os.kill(killed, signal.SIGKILL)
            await _wait_for(run, rf"worker {victim} \(pid {killed}\): killed by SIGKILL")
            restarted = int((await _wait_for(run, rf"worker {victim} \(pid (\d+)\): metrics"
                                             )).group(1))

            # 0 lost: every order of the first batch accepted or refused, the topic committed.
            await until(lambda: orders.ids() | orders.refused >= first, run.proc, within=120,
                        what="every order of the first batch")
            await _until_committed(apache_broker, group, topic, FIRST, run.proc)
            assert orders.ids() == first - refused_orders(first)
            replays = len(orders.accepted) - len(orders.ids())
            accepted_first = len(orders.accepted)

            # SIGINT mid-stream drains all three.
            await produce(apache_broker, topic, (order(i) for i in sorted(second)),
                          partition_of=lambda i: i % PARTITIONS)
            await until(lambda: len(orders.accepted) >= accepted_first + SECOND // 3,
                        run.proc, within=120, what="a third of the second orders")
            run.proc.send_signal(signal.SIGINT)
            out, err = await asyncio.to_thread(run.finish)
        committed = await _committed(apache_broker, group, topic)
        accepted = list(orders.accepted)
    assert run.proc.returncode == 130, err[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert [w["exit_codes"][-1] for w in summary["workers"]] == [130, 130, 130], err[-3000:]
    assert summary["workers"][victim]["pids"] == [killed, restarted]
    assert summary["workers"][victim]["exit_codes"] == [-9, 130]
    drains = [w["summaries"][-1]["drain"] for w in summary["workers"]]
    stages = [w["summaries"][-1]["stages"] for w in summary["workers"]]
    assert all(d["finished"] for d in drains), f"{drains}; {stages}; {err[-3000:]}"
    not_committed = uncommitted(accepted, committed)
    assert not_committed == [], f"accepted but not committed: {not_committed[:10]}; {err[-3000:]}"
    sent_second = {i for i, _ in accepted} & second
    assert len(sent_second) < len(second - refused_orders(second)), "the SIGINT came too late"
    print(f"\n--workers 3 on Apache Kafka: {FIRST} orders, worker {victim} killed after "
          f"{received[victim]} of its own; replays after the kill: {replays}; "
          f"SIGINT at {len(sent_second)} of {SECOND} further orders: drained, "
          f"0 accepted-but-uncommitted")
