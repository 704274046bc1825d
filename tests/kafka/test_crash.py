"""kill -9 of the consuming process mid-stream, then a restart: every record is processed at
least once, and the only duplicates are records past the committed offsets at the crash."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from ._brokers import Broker, committed_offsets, create_topic, produce

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TOTAL = 20_000


def start_worker(broker: Broker, topic: str, group: str, out: Path) -> subprocess.Popen[bytes]:
    session = broker.consumer_options.get("session_timeout_ms", 6000) / 1000
    with out.with_suffix(".err").open("ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.kafka._crash_worker", broker.bootstrap, topic, group,
             str(out), str(session)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )


def errors_of(out: Path) -> str:
    return out.with_suffix(".err").read_text()[-3000:]


def processed(path: Path) -> list[tuple[int, int]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:  # a line cut by the kill is not a processed record
            rows.append((int(parts[0]), int(parts[1])))
    return rows


async def wait_lines(
    path: Path, count: int, worker: subprocess.Popen[bytes], within: float
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while len(processed(path)) < count:
        assert worker.poll() is None, errors_of(path)
        assert loop.time() < deadline, f"worker processed {len(processed(path))} of {count}"
        await asyncio.sleep(0.05)


async def test_kill_9_mid_stream_then_restart_loses_nothing(
    kafka_broker: Broker, topic: str, group: str, tmp_path: Path
) -> None:
    await create_topic(kafka_broker.bootstrap, topic, partitions=4)
    await produce(kafka_broker, topic, (b"%d" % i for i in range(TOTAL)),
                  partition_of=lambda i: i % 4)
    first, second = tmp_path / "first.log", tmp_path / "second.log"

    worker = start_worker(kafka_broker, topic, group, first)
    try:
        await wait_lines(first, TOTAL // 4, worker, within=120)
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    committed = await committed_offsets(kafka_broker.bootstrap, group, topics=[topic])
    run1 = processed(first)
    assert len(run1) < TOTAL, "the crash came too late to test anything"

    worker = start_worker(kafka_broker, topic, group, second)
    try:
        seen = set(run1)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 180
        while len(seen | set(processed(second))) < TOTAL:
            assert worker.poll() is None, errors_of(second)
            assert loop.time() < deadline, "the restarted worker did not finish"
            await asyncio.sleep(0.1)
        os.kill(worker.pid, signal.SIGTERM)
        assert worker.wait(timeout=60) == 0, errors_of(second)
    finally:
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
    run2 = processed(second)

    everything = Counter(run1) + Counter(run2)
    expected = {(i % 4, i // 4) for i in range(TOTAL)}
    assert set(everything) == expected  # every record at least once
    duplicates = {r for r, n in everything.items() if n > 1}
    uncommitted_window = {(p, o) for p, o in run1
                          if o >= committed.get((topic, p), 0)}
    assert duplicates <= uncommitted_window
    assert all(n <= 2 for n in everything.values())
