"""``streamguard lag``: per partition, a group's committed offset, the log-end offset and the
lag between them, as ``kafka-consumer-groups.sh --describe`` prints them.

The numbers come from the Kafka adapter's :func:`~streamguard.kafka.read_group_lag` (whose
log-end offsets survive a broker with an inexact ListOffsets answer, such as Tansu); this
module adds the command's errors and output.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from dataclasses import asdict
from typing import Any

from ._connection import kafka_bootstrap
from ._errors import CliError, ExitCode, missing_dependency
from ._options import DEFAULT_BOOTSTRAP


def command(args: argparse.Namespace) -> int:
    """Describe the group's offsets and print them."""
    try:
        import aiokafka  # noqa: F401
    except ImportError:
        raise missing_dependency("aiokafka", "kafka", "streamguard lag") from None
    if not args.debug:
        # Its errors become one line of ours; its own log lines would only repeat them.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL + 1)
    bootstrap = kafka_bootstrap(args, DEFAULT_BOOTSTRAP)
    rows = asyncio.run(_describe_or_explain(bootstrap, args.group, args.topic or [],
                                            args.timeout))
    if args.json:
        print(json.dumps({"group": args.group, "partitions": [asdict(r) for r in rows],
                          "total_lag": sum(r.lag or 0 for r in rows)}))
    else:
        print(format_table(args.group, rows))
    return ExitCode.OK


async def _describe_or_explain(
    bootstrap: Any, group: str, topics: list[str], patience: float
) -> list[Any]:
    from ..kafka import BrokerRefusedError, BrokerUnreachableError, KafkaAdapterError

    try:
        return await describe(bootstrap, group, topics, patience)
    except BrokerRefusedError as exc:
        raise CliError(str(exc), code=ExitCode.UNREACHABLE,
                       hint="check --command-config (credentials, CA file, protocol)"
                       ) from None
    except BrokerUnreachableError:
        raise CliError(f"cannot reach a Kafka broker at {bootstrap}", code=ExitCode.UNREACHABLE,
                       hint="is a broker running there? `streamguard broker` starts one"
                       ) from None
    except KafkaAdapterError as exc:
        raise CliError(str(exc), code=ExitCode.FAILED) from None


async def describe(
    bootstrap: Any, group: str, topics: list[str], patience: float
) -> list[Any]:
    """The rows of the table (:class:`~streamguard.kafka.GroupPartitionLag`); raises
    :class:`CliError` for an unknown topic, or for a group without committed offsets when no
    ``--topic`` is given (with ``--topic``, partitions never committed show ``-`` as their
    offset and the records waiting from the log start as their lag)."""
    from ..kafka import UnknownTopicError, read_group_lag

    try:
        rows = await read_group_lag(bootstrap, group, topics=topics, connect_timeout=patience)
    except UnknownTopicError as exc:
        raise CliError(str(exc), code=ExitCode.NOT_FOUND, hint="check the --topic name"
                       ) from None
    if not rows:
        raise CliError(f"consumer group {group!r} has no committed offsets",
                       code=ExitCode.NOT_FOUND,
                       hint="check the group id, or name its topics with --topic")
    return rows


def format_table(group: str, rows: list[Any]) -> str:
    """The table of ``kafka-consumer-groups.sh --describe`` (``-`` where unknown)."""
    header = ("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG")
    cells = [header] + [
        (group, r.topic, str(r.partition), _dash(r.committed), _dash(r.log_end), _dash(r.lag))
        for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in cells)


def _dash(value: int | None) -> str:
    return "-" if value is None else str(value)
