"""A key-ordered consuming process for the crash test: ``python -m tests.kafka._keyed_worker
BOOTSTRAP TOPIC GROUP OUT SESSION``.

Reads TOPIC with group GROUP through ``op.sink(..., concurrency=32, key=record.key)`` and
appends ``key seq partition offset`` to OUT when a record's processing finished (a line
write is one flushed ``write``, so a ``kill -9`` cuts at most the last line); stops
gracefully on SIGTERM. Values are ``b"KEY SEQ"``, SEQ counting the records of KEY.
"""

from __future__ import annotations

import asyncio
import random
import signal
import sys
from typing import TextIO

from streamguard import operators as op
from streamguard.kafka import KafkaRecord, KafkaSource, KafkaSourceConfig


async def main(bootstrap: str, topic: str, group: str, log: TextIO, session: float) -> None:
    source: KafkaSource[bytes] = KafkaSource(KafkaSourceConfig(
        bootstrap_servers=bootstrap, topics=(topic,), group_id=group,
        session_timeout=session, heartbeat_interval=session / 4,
        commit_every=200, commit_interval=0.2,
    ))
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, source.drain)
    rng = random.Random()

    async def store(record: KafkaRecord[bytes]) -> None:
        await asyncio.sleep(rng.random() * 0.004)
        log.write(f"{record.value.decode()} {record.partition} {record.offset}\n")
        log.flush()

    await source.stream().pipe(
        op.sink(store, concurrency=32, key=lambda r: r.key)).run()


if __name__ == "__main__":
    with open(sys.argv[4], "a", buffering=1) as out:
        asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], out, float(sys.argv[5])))
