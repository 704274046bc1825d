"""kill -9 of a key-ordered worker on Apache Kafka, restarted each time (#13): with the
completed offsets in the commit metadata, the records delivered again after a crash are no
more than those in flight or completed since the last commit; without it, every record above
the lowest incomplete offset comes back.

Per kill the test reads the group's last commit (offset and metadata) from the broker and
the worker's log (``S`` when a record starts, ``D`` when it finished), and counts:

* in flight — started, never finished, not covered by the commit;
* completed since the commit — finished, not covered by the commit;
* replayed — started by the next run although an earlier run had started it.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from streamguard.kafka._offset_map import contains

from ._brokers import Broker, create_topic, last_commit, produce
from ._pipelines import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TOTAL, PARTITIONS, KEYS, KILLS = 10_000, 4, 400, 3
PROGRESS = 600  # records a run finishes before it may be killed (at most a third of the rest)
Rec = tuple[int, int]


def values() -> tuple[list[bytes], list[bytes]]:
    """Values (every 600th one slow) and their keys."""
    rng = random.Random(13)
    keys = [b"k%d" % rng.randrange(KEYS) for _ in range(TOTAL)]
    return [b"%d%s" % (i, b" slow" if i % 600 == 7 else b"") for i in range(TOTAL)], keys


def read_log(path: Path) -> tuple[set[Rec], set[Rec], set[Rec]]:
    """Started, done, and started slow records of one run (a line cut by the kill is not)."""
    started: set[Rec] = set()
    done: set[Rec] = set()
    slow: set[Rec] = set()
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] in "SD" and parts[2].isdigit():
                rec = (int(parts[1]), int(parts[2]))
                (started if parts[0] == "S" else done).add(rec)
                if parts[-1] == "slow":
                    slow.add(rec)
    return started, done, slow


@dataclass
class Kill:
    in_flight: int
    completed_since_commit: int
    replayed: int = 0
    allowed: set[Rec] = field(default_factory=set, repr=False)


def start(broker: Broker, topic: str, group: str, out: Path,
          metadata: bool) -> subprocess.Popen[bytes]:
    with out.with_suffix(".err").open("ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.kafka._replay_worker", broker.bootstrap, topic, group,
             str(out), "1" if metadata else "0"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err,
            env={**os.environ, "PYTHONPATH": str(ROOT)})


async def crash_runs(broker: Broker, topic: str, group: str, folder: Path,
                     metadata: bool) -> list[Kill]:
    """KILLS runs killed with SIGKILL while a slow record holds the commit back, then one to
    the end; returns what each kill left and what the next run replayed."""
    folder.mkdir()  # noqa: ASYNC240 - a test's temporary folder
    kills: list[Kill] = []
    started_ever: set[Rec] = set()
    done_ever: set[Rec] = set()
    for run in range(KILLS + 1):
        out = folder / f"run{run}.log"
        worker = start(broker, topic, group, out, metadata)
        try:
            if run < KILLS:
                progress = min(PROGRESS, (TOTAL - len(done_ever)) // 3)
                await killed_mid_slow_record(worker, out, progress)
            else:
                await run_to_the_end(worker, out, frozenset(done_ever))
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        started, done, _ = read_log(out)
        if kills:
            replayed = started & started_ever
            assert replayed <= kills[-1].allowed, sorted(replayed - kills[-1].allowed)[:10]
            kills[-1].replayed = len(replayed)
        started_ever |= started
        done_ever |= done
        if run < KILLS:
            kills.append(await what_the_kill_left(broker, group, started_ever, done_ever))
    assert len(done_ever) == TOTAL  # 0 lost: every record finished at least once
    return kills


async def what_the_kill_left(broker: Broker, group: str, started: set[Rec],
                             done: set[Rec]) -> Kill:
    """In flight and completed since the last commit, as the broker's commit says."""
    commit = await last_commit(broker.bootstrap, group)

    def covered(rec: Rec) -> bool:
        offset, ranges = commit.get(rec[0], (0, []))
        return rec[1] < offset or contains(ranges, rec[1])

    in_flight = {r for r in started - done if not covered(r)}
    since = {r for r in done if not covered(r)}
    return Kill(len(in_flight), len(since), allowed=in_flight | since)


async def run_to_the_end(worker: subprocess.Popen[bytes], out: Path,
                         done_before: frozenset[Rec]) -> None:
    """Let the last run finish every record, then stop it with SIGTERM."""
    await wait_for(lambda: len(done_before | read_log(out)[1]) >= TOTAL
                   or worker.poll() is not None, within=120, what="the last run")
    assert worker.poll() is None, out.with_suffix(".err").read_text()[-3000:]
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0, out.with_suffix(".err").read_text()[-3000:]


async def killed_mid_slow_record(worker: subprocess.Popen[bytes], out: Path,
                                 progress: int) -> None:
    """SIGKILL once the run finished *progress* records and a slow record has held its
    partition's commit back for 0.4 s (a crash in the middle of real work)."""
    def ready() -> bool:
        _, done, slow = read_log(out)
        return worker.poll() is not None or (len(done) >= progress and bool(slow - done))

    await wait_for(ready, within=90, what="progress and a slow record in flight")
    assert worker.poll() is None, out.with_suffix(".err").read_text()[-3000:]
    await asyncio.sleep(0.4)
    worker.send_signal(signal.SIGKILL)
    worker.wait()


@pytest.mark.timeout(300)
async def test_kill_9_replays_no_more_than_in_flight_and_completed_since_the_commit(
    apache_broker: Broker, topic: str, group: str, tmp_path: Path
) -> None:
    await create_topic(apache_broker.bootstrap, topic, partitions=PARTITIONS)
    vals, keys = values()
    await produce(apache_broker, topic, vals, key_of=lambda i: keys[i])
    with_metadata = await crash_runs(apache_broker, topic, f"{group}-meta", tmp_path / "meta",
                                     metadata=True)
    plain = await crash_runs(apache_broker, topic, f"{group}-plain", tmp_path / "plain",
                             metadata=False)
    print(f"\ncompleted_metadata=True : {with_metadata}\ncompleted_metadata=False: {plain}",
          file=sys.stderr)
    # Each kill: replayed <= in flight + completed since the commit (asserted as sets above).
    assert all(k.replayed <= k.in_flight + k.completed_since_commit for k in with_metadata)
    # Without the metadata, all that completed above a stuck record comes back.
    assert sum(k.replayed for k in plain) > 2 * sum(k.replayed for k in with_metadata)
