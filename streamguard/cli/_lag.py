"""``streamguard lag``: per partition, a group's committed offset, the log-end offset and the
lag between them, as ``kafka-consumer-groups.sh --describe`` prints them.

The log-end offset is the largest of the ListOffsets answer and the high-watermark of a fetch
at that position: some brokers (Tansu) answer ListOffsets with the base offset of the last
batch, and both numbers can only be behind the truth, never ahead of it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

from ._errors import CliError, ExitCode, missing_dependency

_HIGHWATER_WAIT = 3.0


@dataclass(frozen=True, slots=True)
class PartitionOffsets:
    """One row of the table; ``None`` where the group never committed."""

    topic: str
    partition: int
    committed: int | None
    log_end: int
    lag: int | None


def command(args: argparse.Namespace) -> int:
    """Describe the group's offsets and print them."""
    try:
        import aiokafka  # noqa: F401
    except ImportError:
        raise missing_dependency("aiokafka", "kafka", "streamguard lag") from None
    if not args.debug:
        # Its errors become one line of ours; its own log lines would only repeat them.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL + 1)
    rows = asyncio.run(describe(args.bootstrap, args.group, args.topic, args.timeout))
    if args.json:
        print(json.dumps({"group": args.group, "partitions": [asdict(r) for r in rows],
                          "total_lag": sum(r.lag or 0 for r in rows)}))
    else:
        print(format_table(args.group, rows))
    return ExitCode.OK


async def describe(
    bootstrap: str, group: str, topics: list[str] | None, patience: float
) -> list[PartitionOffsets]:
    """Read committed and log-end offsets; raise :class:`CliError` for user mistakes."""
    from aiokafka import TopicPartition

    known = await _partitions_of(bootstrap, topics, patience)
    committed = await _committed(bootstrap, group, patience, known)
    if topics:
        committed = {tp: o for tp, o in committed.items() if tp.topic in topics}
        partitions = {TopicPartition(t, p) for t, ps in known.items() for p in ps}
    else:
        partitions = set(committed)
    if not committed:
        where = f" on topic {', '.join(topics)}" if topics else ""
        raise CliError(f"consumer group {group!r} has no committed offsets{where}",
                       code=ExitCode.NOT_FOUND,
                       hint="check the group id; a group that never committed has no lag")
    ends = await _log_ends(bootstrap, sorted(partitions), patience)
    rows = []
    for tp in sorted(partitions):
        offset = committed.get(tp)
        end = ends[tp]
        rows.append(PartitionOffsets(tp.topic, tp.partition, offset, end,
                                     None if offset is None else max(0, end - offset)))
    return rows


def _unreachable(bootstrap: str, detail: str) -> CliError:
    return CliError(f"cannot reach a Kafka broker at {bootstrap} ({detail})",
                    code=ExitCode.UNREACHABLE,
                    hint="is a broker running there? `streamguard broker` starts one")


async def _start(client: Any, bootstrap: str, patience: float) -> None:
    from aiokafka.errors import KafkaConnectionError, KafkaError

    try:
        async with asyncio.timeout(patience):
            await client.start()
    except TimeoutError:
        await _close(client)
        raise _unreachable(bootstrap, f"no answer within {patience:g} s") from None
    except (KafkaConnectionError, OSError):
        await _close(client)
        raise _unreachable(bootstrap, "connection failed") from None
    except KafkaError as exc:
        await _close(client)
        raise _unreachable(bootstrap, f"{type(exc).__name__}: {exc}") from None


async def _close(client: Any) -> None:
    try:
        await client.close() if hasattr(client, "close") else await client.stop()
    except Exception:  # it may never have started; nothing to tell the user
        return


async def _committed(
    bootstrap: str, group: str, patience: float, known: dict[str, set[int]]
) -> dict[Any, int]:
    from aiokafka import TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaConnectionError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap,
                                request_timeout_ms=int(patience * 1000))
    await _start(admin, bootstrap, patience)
    try:
        async with asyncio.timeout(patience):
            try:
                answer = await admin.list_consumer_group_offsets(group)
            except KafkaConnectionError:
                # Some brokers (Tansu) drop the connection on "all partitions" (null
                # topics); naming every partition is the form every broker answers.
                every = [TopicPartition(t, p) for t, ps in known.items() for p in ps]
                answer = await admin.list_consumer_group_offsets(group, partitions=every)
    except TimeoutError:
        raise _unreachable(bootstrap, "the group coordinator did not answer") from None
    except KafkaConnectionError:
        raise _unreachable(bootstrap, "the connection was closed") from None
    finally:
        await _close(admin)
    return {tp: meta.offset for tp, meta in answer.items() if meta.offset >= 0}


def _consumer(bootstrap: str, patience: float) -> Any:
    from aiokafka import AIOKafkaConsumer

    return AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                            enable_auto_commit=False, fetch_max_wait_ms=100,
                            request_timeout_ms=int(patience * 1000))


async def _partitions_of(
    bootstrap: str, topics: list[str] | None, patience: float
) -> dict[str, set[int]]:
    """Partitions of *topics* (default: every topic), from the cluster's metadata."""
    consumer = _consumer(bootstrap, patience)
    await _start(consumer, bootstrap, patience)
    try:
        async with asyncio.timeout(patience):
            every: set[str] = await consumer.topics()  # refreshes the cluster's metadata
        out: dict[str, set[int]] = {}
        for topic in topics or sorted(every):
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                raise CliError(f"topic {topic!r} does not exist", code=ExitCode.NOT_FOUND,
                               hint="check the --topic name")
            out[topic] = set(partitions)
        return out
    finally:
        await _close(consumer)


async def _log_ends(bootstrap: str, partitions: list[Any], patience: float) -> dict[Any, int]:
    consumer = _consumer(bootstrap, patience)
    await _start(consumer, bootstrap, patience)
    try:
        async with asyncio.timeout(patience):
            listed: dict[Any, int] = await consumer.end_offsets(partitions)
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, listed[tp])
        # A fetch at that position carries the high-watermark (the true log end).
        deadline = time.monotonic() + min(patience, _HIGHWATER_WAIT)
        while time.monotonic() < deadline and any(consumer.highwater(tp) is None
                                                  for tp in partitions):
            await consumer.getmany(timeout_ms=100)
        return {tp: max(listed[tp], consumer.highwater(tp) or 0) for tp in partitions}
    finally:
        await _close(consumer)


def format_table(group: str, rows: list[PartitionOffsets]) -> str:
    """The table of ``kafka-consumer-groups.sh --describe`` (``-`` where unknown)."""
    header = ("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG")
    cells = [header] + [
        (group, r.topic, str(r.partition), _dash(r.committed), str(r.log_end), _dash(r.lag))
        for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in cells)


def _dash(value: int | None) -> str:
    return "-" if value is None else str(value)
