"""A consuming process for the crash test: ``python -m tests.kafka._crash_worker ARGS``.

Reads TOPIC with group GROUP, appends ``partition offset`` for every record it processed to
OUT (flushed per batch, so a ``kill -9`` loses nothing that was written), and stops
gracefully on SIGTERM.
"""

from __future__ import annotations

import asyncio
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

    async def store(batch: list[KafkaRecord[bytes]]) -> None:
        log.write("".join(f"{r.partition} {r.offset}\n" for r in batch))
        log.flush()
        await asyncio.sleep(0.005)

    await source.stream().pipe(op.batch(50, timeout=0.05), op.sink(store)).run()


if __name__ == "__main__":
    with open(sys.argv[4], "a", buffering=1) as out:
        asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], out, float(sys.argv[5])))
