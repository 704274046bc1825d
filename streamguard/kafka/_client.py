"""Opening aiokafka clients with bounded time and clear errors.

aiokafka either fails fast with an error without a message, or waits (for a broker that
does not answer, a topic that does not exist). Every client the adapter opens goes through
here, so a mistake is one :class:`~streamguard.kafka.KafkaAdapterError` with a hint, raised
within ``connect_timeout``, and a client that failed to start is always closed again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError, UnknownError

from streamguard.core._errors import ConfigError

from ._connection import KafkaConnection, capture_connect_errors, explain_connect_failure
from ._errors import (
    BrokerRefusedError,
    BrokerUnreachableError,
    IdempotenceUnsupportedError,
    UnknownTopicError,
)

_UNREACHABLE_HINT = (
    "check bootstrap_servers and that a broker runs there "
    "(`streamguard broker` starts a local development broker)"
)


def make_consumer(*topics: str, **options: Any) -> Any:
    """Build an ``AIOKafkaConsumer``; a bad option becomes a :class:`ConfigError`."""
    try:
        return AIOKafkaConsumer(*topics, **options)
    except (TypeError, ValueError, AssertionError, KafkaError) as exc:
        raise ConfigError(f"bad Kafka consumer option: {exc}") from exc


def make_producer(**options: Any) -> Any:
    """Build an ``AIOKafkaProducer``; a bad option becomes a :class:`ConfigError`."""
    try:
        return AIOKafkaProducer(**options)
    except (TypeError, ValueError, AssertionError, KafkaError) as exc:
        raise ConfigError(f"bad Kafka producer option: {exc}") from exc


_REFUSALS = ("authentication failed", "does not enable SASL", "TLS", "expects TLS",
             "client certificate")


async def start_client(
    client: Any, *, bootstrap: str, within: float, what: str,
    idempotence_setting: str = "KafkaSinkConfig(idempotence=False)",
    connection: KafkaConnection | None = None,
) -> None:
    """Start an aiokafka client within *within* seconds, or close it and raise clearly.

    *idempotence_setting* is the setting the user turns off when the broker refuses an
    idempotent producer: each producer names its own (the sink's ``idempotence``, the
    source's ``dead_letter_idempotence``).

    A broker that answers but refuses (credentials, certificates, TLS, SASL mechanism) is a
    :class:`BrokerRefusedError` naming the cause — found in what aiokafka logs, since the
    error it raises names only the address.
    """
    try:
        async with asyncio.timeout(within):
            with capture_connect_errors() as logged:
                try:
                    await client.start()
                except KafkaConnectionError as exc:
                    cause = explain_connect_failure(logged, connection)
                    if cause is not None and any(word in cause for word in _REFUSALS):
                        where = connection.describe() if connection else repr(bootstrap)
                        raise BrokerRefusedError(f"{what}: {where}: {cause}") from None
                    if cause is not None:
                        raise KafkaConnectionError(f"{exc} ({cause})") from exc
                    raise
    except TimeoutError:
        await close_quietly(client)
        raise BrokerUnreachableError(
            f"{what}: no Kafka broker answered at {bootstrap!r} within {within} s; "
            f"{_UNREACHABLE_HINT}"
        ) from None
    except KafkaConnectionError as exc:
        await close_quietly(client)
        raise BrokerUnreachableError(
            f"{what}: cannot connect to a Kafka broker at {bootstrap!r} ({exc}); "
            f"{_UNREACHABLE_HINT}"
        ) from exc
    except UnknownError as exc:
        await close_quietly(client)
        if getattr(client, "_txn_manager", None) is not None:
            raise IdempotenceUnsupportedError(
                f"{what}: the broker at {bootstrap!r} refused an idempotent producer "
                "(InitProducerId failed); brokers without idempotent producers (Tansu 0.6) "
                f"need {idempotence_setting}"
            ) from exc
        raise
    except BaseException:
        await close_quietly(client)
        raise


async def check_connection(connection: KafkaConnection, *, within: float = 10.0) -> None:
    """Connect once with *connection* and disconnect; raise :class:`BrokerRefusedError` or
    :class:`BrokerUnreachableError` naming the cause. ``streamguard lag`` and ``run`` call it
    before they start, so a wrong password is one line, not a retry loop."""
    producer = make_producer(**connection.client_options(), request_timeout_ms=int(within * 1000))
    await start_client(producer, bootstrap=connection.bootstrap_servers, within=within,
                       what="connection check", connection=connection)
    await close_quietly(producer)


async def close_quietly(client: Any) -> None:
    """Stop (or close) *client*, ignoring errors (it may never have started)."""
    stop = getattr(client, "stop", None) or client.close
    with contextlib.suppress(Exception):
        await stop()


async def topic_partitions(consumer: Any) -> dict[str, set[int]]:
    """Every topic of the cluster and its partitions (a fresh metadata request)."""
    cluster = await consumer._client.fetch_all_metadata()
    return {t: set(cluster.partitions_for_topic(t) or ()) for t in cluster.topics()}


async def check_topics(
    consumer: Any, topics: Iterable[str], *, bootstrap: str, within: float, what: str
) -> dict[str, set[int]]:
    """Raise :class:`UnknownTopicError` if a topic in *topics* does not exist; return the
    cluster's topics and their partitions."""
    wanted = sorted(set(topics))
    try:
        async with asyncio.timeout(within):
            known = await topic_partitions(consumer)
    except TimeoutError:
        raise BrokerUnreachableError(
            f"{what}: the broker at {bootstrap!r} did not list its topics within {within} s; "
            f"{_UNREACHABLE_HINT}"
        ) from None
    missing = [t for t in wanted if t not in known]
    if missing:
        shown = ", ".join(sorted(t for t in known if not t.startswith("__"))[:10]) or "none"
        raise UnknownTopicError(
            f"{what}: topic(s) {', '.join(repr(t) for t in missing)} do not exist on "
            f"{bootstrap!r}; create them first (e.g. kafka-topics.sh --create) or fix the "
            f"name (existing topics: {shown})"
        )
    return known


def check_partitions(
    known: dict[str, set[int]], partitions: Iterable[tuple[str, int]], *, bootstrap: str,
    what: str,
) -> None:
    """Raise :class:`UnknownTopicError` if an assigned partition does not exist."""
    for topic, partition in partitions:
        have = known.get(topic, set())
        if partition not in have:
            raise UnknownTopicError(
                f"{what}: partition {partition} of topic {topic!r} does not exist on "
                f"{bootstrap!r} (partitions: {sorted(have) or 'none'})"
            )
