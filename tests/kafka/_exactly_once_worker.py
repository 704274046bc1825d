"""A worker for the exactly-once crash test: ``python -m tests.kafka._exactly_once_worker
BOOTSTRAP SOURCE OUTPUT DEAD_LETTERS GROUP``.

Copies SOURCE to OUTPUT with :class:`TransactionalPipeline` (exactly once); a value divisible by
997 fails its transform and goes to DEAD_LETTERS, inside the same transaction. SIGTERM drains.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

from streamguard.kafka import TransactionalConfig, TransactionalPipeline


def transform(record: Any) -> bytes:
    if int(record.value) % 997 == 0:
        raise ValueError(f"{record.value!r} is divisible by 997")
    return bytes(record.value)


async def main(bootstrap: str, source: str, output: str, dead: str, group: str) -> None:
    pipeline: TransactionalPipeline[bytes] = TransactionalPipeline(TransactionalConfig(
        bootstrap_servers=bootstrap, topics=(source,), group_id=group, output_topic=output,
        dead_letter_topic=dead, batch_records=2000, batch_interval=0.2,
        session_timeout=1.5, heartbeat_interval=0.3,
    ), transform)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, pipeline.drain)
    await pipeline.run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
