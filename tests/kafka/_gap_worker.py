"""A consuming process for the gap bound test (#13):
``python -m tests.kafka._gap_worker BOOTSTRAP TOPIC GROUP OUT LIMIT``.

Reads TOPIC with group GROUP through ``op.sink(..., concurrency=8)`` with
``completed_metadata_limit=LIMIT``. For every record it appends ``S partition offset`` to OUT
when its processing starts and ``D partition offset`` once it finished; the record whose
value is ``stuck`` never finishes. A partition held by the gap bound appends ``H partition
offset span size``. One flushed ``write`` per line, so a ``kill -9`` cuts at most the last.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TextIO

from streamguard import EventBus
from streamguard import operators as op
from streamguard.core import Event
from streamguard.kafka import KafkaRecord, KafkaSource, KafkaSourceConfig, PartitionGapHeld


async def main(bootstrap: str, topic: str, group: str, log: TextIO, limit: int) -> None:
    bus = EventBus()

    def held(event: Event) -> None:
        if isinstance(event, PartitionGapHeld):
            log.write(f"H {event.partition} {event.offset} {event.span} {event.size}\n")
            log.flush()

    bus.subscribe(held)
    source: KafkaSource[bytes] = KafkaSource(KafkaSourceConfig(
        bootstrap_servers=bootstrap, topics=(topic,), group_id=group,
        session_timeout=1.5, heartbeat_interval=0.4,  # a killed member leaves the group fast
        commit_interval=0.2, completed_metadata_limit=limit,
    ), bus=bus)

    async def handle(record: KafkaRecord[bytes]) -> None:
        log.write(f"S {record.partition} {record.offset}\n")
        log.flush()
        if record.value == b"stuck":
            await asyncio.Event().wait()
        log.write(f"D {record.partition} {record.offset}\n")
        log.flush()

    await source.stream().pipe(op.sink(handle, concurrency=8)).run()


if __name__ == "__main__":
    with open(sys.argv[4], "a", buffering=1) as out:
        asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], out, int(sys.argv[5])))
