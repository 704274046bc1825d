"""A key-ordered consuming process for the replay crash test (#13):
``python -m tests.kafka._replay_worker BOOTSTRAP TOPIC GROUP OUT METADATA``.

Reads TOPIC with group GROUP through ``op.sink(..., concurrency=32, key=record.key)``;
``completed_metadata`` is on when METADATA is ``1``. For every record it appends
``S partition offset`` (``... slow`` for a slow one) to OUT when its processing starts and
``D partition offset`` when it finished (one flushed ``write`` per line, so a ``kill -9``
cuts at most the last line; a record is completed — its ack done — only after its ``D``
line). Values ending in ``slow``
take a second, the others up to 3 ms, so many records above a slow one complete while it
holds the committed offset back. Stops gracefully on SIGTERM.
"""

from __future__ import annotations

import asyncio
import random
import signal
import sys
from typing import TextIO

from streamguard import operators as op
from streamguard.kafka import KafkaRecord, KafkaSource, KafkaSourceConfig

SLOW = 1.0


async def main(bootstrap: str, topic: str, group: str, log: TextIO, metadata: bool) -> None:
    source: KafkaSource[bytes] = KafkaSource(KafkaSourceConfig(
        bootstrap_servers=bootstrap, topics=(topic,), group_id=group,
        session_timeout=1.5, heartbeat_interval=0.4,  # a killed member leaves the group fast
        commit_every=200, commit_interval=0.2, completed_metadata=metadata,
    ))
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, source.drain)
    rng = random.Random()

    async def handle(record: KafkaRecord[bytes]) -> None:
        slow = record.value.endswith(b"slow")
        log.write(f"S {record.partition} {record.offset}{' slow' if slow else ''}\n")
        log.flush()
        await asyncio.sleep(SLOW if slow else rng.random() * 0.003)
        log.write(f"D {record.partition} {record.offset}\n")
        log.flush()

    await source.stream().pipe(
        op.sink(handle, concurrency=32, key=lambda r: r.key)).run()


if __name__ == "__main__":
    with open(sys.argv[4], "a", buffering=1) as out:
        asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], out, sys.argv[5] == "1"))
