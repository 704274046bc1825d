"""Per-user click counts in event-time windows: two Kafka topics merged, grouped by user,
counted in 10-second tumbling windows of the clicks' own timestamps, written to a third topic.

Run: ``streamguard run examples/kafka_windows.py`` (starts an embedded Tansu broker), or
against your broker: ``streamguard run examples/kafka_windows.py --bootstrap HOST:PORT``.

At-least-once: a click's offset is committed only once the count of its window was written to
the output topic (a window's members complete when the window is delivered); a crash before
that replays the click, never loses it. The two topics are read at their own pace, so each
window's watermark follows the slower topic (``partition=``); a click older than the watermark
(the newest timestamp of its user on the slower topic minus 2 s) whose window already fired
goes to ``late_click`` and is counted, never dropped silently — the example sends one such
straggler per user once everything else was read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import Counter
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streamguard import from_iterable
from streamguard import operators as op
from streamguard.core import Stream
from streamguard.kafka import (
    IdempotenceUnsupportedError,
    KafkaRecord,
    KafkaSink,
    KafkaSinkConfig,
    KafkaSource,
    KafkaSourceConfig,
    OutgoingRecord,
)

WINDOW = 10.0  # seconds of event time
DELAY = 2.0  # out-of-orderness the watermark allows for
USERS = 5
CLICK_EVERY = 0.05  # event time between two clicks


def clicks(records: int, topic_index: int) -> list[dict[str, Any]]:
    """The clicks of one input topic: every other click of the whole stream, timestamps a
    little out of order (less than DELAY, so none is late)."""
    out = []
    for i in range(topic_index, records, 2):
        jitter = ((i * 7919) % 21 - 10) / 10  # ±1 s
        out.append({"user": f"u{i % USERS}", "ts": round(i * CLICK_EVERY + jitter + 1.0, 3)})
    return out


def stragglers() -> list[dict[str, Any]]:
    """One click per user that arrives long after its window fired: it must be reported
    late, never counted and never dropped silently."""
    return [{"user": f"u{u}", "ts": 0.5, "straggler": True} for u in range(USERS)]


def expected_counts(records: int) -> Counter[tuple[str, float]]:
    """What the output topic must hold: clicks per (user, window start)."""
    counts: Counter[tuple[str, float]] = Counter()
    for t in (0, 1):
        for c in clicks(records, t):
            counts[(c["user"], WINDOW * (c["ts"] // WINDOW))] += 1
    return counts


async def create_topics(bootstrap: str, *topics: str) -> None:
    """Create *topics* with two partitions each."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, 2, 1) for t in topics])
    finally:
        await admin.close()


async def open_sink(bootstrap: str, topic: str) -> KafkaSink[Any]:
    """A started sink, idempotent where the broker allows it (Tansu does not)."""
    sink: KafkaSink[Any] = KafkaSink(KafkaSinkConfig(bootstrap_servers=bootstrap, topic=topic))
    try:
        await sink.start()
    except IdempotenceUnsupportedError:
        sink = KafkaSink(KafkaSinkConfig(bootstrap_servers=bootstrap, topic=topic,
                                         idempotence=False))
        await sink.start()
    return sink


def encode_click(click: dict[str, Any]) -> OutgoingRecord:
    """A click as a record keyed by its user (a user's clicks share a partition)."""
    return OutgoingRecord(key=str(click["user"]).encode(), value=json.dumps(click).encode())


async def fill(bootstrap: str, topic: str, items: list[dict[str, Any]]) -> None:
    """Produce *items* as JSON, keyed by user (a user's clicks share a partition)."""
    sink = await open_sink(bootstrap, topic)
    try:
        await from_iterable(items).pipe(
            op.map(encode_click),
            sink.sink(concurrency=256)).run(name=f"fill-{topic}")
    finally:
        await sink.aclose()


def user_of(record: KafkaRecord[dict[str, Any]]) -> str:
    """The key of a click."""
    return str(record.value["user"])


def topic_of(record: KafkaRecord[dict[str, Any]]) -> str:
    """The input a click came from."""
    return record.topic


def timestamp_of(record: KafkaRecord[dict[str, Any]]) -> float:
    """The event time of a click, in seconds."""
    return float(record.value["ts"])


def window_count(window: op.EventWindow[str, KafkaRecord[dict[str, Any]]]) -> OutgoingRecord:
    """One output record per window: the user, the window and how many clicks it held."""
    body = {"user": window.key, "start": window.start, "end": window.end,
            "count": len(window.items)}
    return OutgoingRecord(key=window.key.encode(), value=json.dumps(body).encode())


async def main(*, bootstrap: str | None = None, records: int = 4_000) -> dict[str, Any]:
    """Fill two click topics, count clicks per user and window into a third; return a
    summary (records read, windows written, late clicks, offsets committed)."""
    async with contextlib.AsyncExitStack() as stack:
        if bootstrap is None:
            from streamguard.servers import tansu

            bootstrap = stack.enter_context(tansu())
            print(f"embedded Tansu broker at {bootstrap}")
        run = uuid.uuid4().hex[:6]
        inputs, output = (f"clicks-web-{run}", f"clicks-app-{run}"), f"click-counts-{run}"
        await create_topics(bootstrap, *inputs, output)
        for t, topic in enumerate(inputs):
            await fill(bootstrap, topic, clicks(records, t))
        total = records + USERS
        background: set[asyncio.Task[None]] = set()

        sources: list[KafkaSource[dict[str, Any]]] = [KafkaSource(KafkaSourceConfig(
            bootstrap_servers=bootstrap, topics=(topic,), group_id=f"{topic}-counter",
            session_timeout=6.0, heartbeat_interval=1.0, dead_letter_idempotence=False,
        ), codec="json", name=topic) for topic in inputs]
        out = await open_sink(bootstrap, output)
        stack.push_async_callback(out.aclose)

        read = 0
        late: list[dict[str, Any]] = []
        written: Counter[str] = Counter()

        def tally(record: KafkaRecord[dict[str, Any]]) -> KafkaRecord[dict[str, Any]]:
            nonlocal read
            read += 1
            if read == records:  # every click read: now the stragglers arrive
                task = asyncio.create_task(fill(bootstrap, inputs[1], stragglers()))
                background.add(task)
                task.add_done_callback(background.discard)
            if read == total:  # everything was read: end the inputs gracefully
                for source in sources:
                    source.drain()
            return record

        def late_click(record: KafkaRecord[dict[str, Any]], why: op.LateRecord) -> None:
            late.append(record.value)

        def count_per_window(group: op.GroupedStream[str, KafkaRecord[dict[str, Any]]],
                             ) -> Stream[op.EventWindow[str, KafkaRecord[dict[str, Any]]]]:
            # The two topics are read at their own pace: the watermark follows the slower.
            return group.pipe(op.tumbling_window(
                WINDOW, timestamp=timestamp_of, key=lambda _r: group.key, delay=DELAY,
                partition=topic_of, min_partitions=len(inputs), on_late=late_click))

        await op.merge(*(s.stream() for s in sources)).pipe(
            op.map(tally),
            op.group_by(user_of, max_groups=USERS * 2),
            op.flat_map(count_per_window, concurrency=USERS * 2),
            op.map(window_count),
            op.map(lambda r: written.update(["windows"]) or r),
            out.sink(concurrency=64),
        ).run(name="kafka-windows")
        committed = sum(s.statistics().completed for s in sources)
        summary = {"records": total, "read": read, "windows": written["windows"],
                   "late": len(late), "completed": committed,
                   "topics": {"inputs": list(inputs), "output": output},
                   "groups": [f"{t}-counter" for t in inputs], "bootstrap": bootstrap}
        print("summary:", json.dumps(summary))
        return summary


if __name__ == "__main__":
    asyncio.run(main())
