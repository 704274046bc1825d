"""Opening aiokafka clients with bounded time and clear errors.

aiokafka either fails fast with an error without a message, or waits (for a broker that
does not answer, a topic that does not exist). Every client the adapter opens goes through
here, so a mistake is one :class:`~streamguard.kafka.KafkaAdapterError` with a hint, raised
within ``connect_timeout``, and a client that failed to start is always closed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Iterable, Iterator
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError, UnknownError

from streamguard.core._errors import ConfigError

from ._connection import Bootstrap, KafkaConnection
from ._errors import (
    BrokerRefusedError,
    BrokerUnreachableError,
    IdempotenceUnsupportedError,
    UnknownTopicError,
)

_log = logging.getLogger("streamguard.kafka")

_UNREACHABLE_HINT = (
    "check bootstrap_servers and that a broker runs there "
    "(`streamguard broker` starts a local development broker)"
)


def _expand(options: dict[str, Any]) -> tuple[dict[str, Any], KafkaConnection | None]:
    servers = options.get("bootstrap_servers")
    if isinstance(servers, KafkaConnection):
        return {**options, **servers.client_options()}, servers
    return options, None


def _made(client: Any, connection: KafkaConnection | None) -> Any:
    # start_client names the cause of a refusal from the connection the client was made with.
    client._streamguard_connection = connection
    return client


def make_consumer(*topics: str, **options: Any) -> Any:
    """Build an ``AIOKafkaConsumer``; a bad option becomes a :class:`ConfigError`."""
    options, connection = _expand(options)
    try:
        return _made(AIOKafkaConsumer(*topics, **options), connection)
    except (TypeError, ValueError, AssertionError, KafkaError) as exc:
        raise ConfigError(f"bad Kafka consumer option: {exc}") from exc


def set_prefetch_backoff(consumer: Any, seconds: float) -> None:
    """Set the seconds for which a partition's fetched, untaken records hold back the next
    fetch from their broker (``KafkaSourceConfig.prefetch_backoff``) on a *started* consumer.

    aiokafka's fetcher has the setting but ``AIOKafkaConsumer`` does not pass it on; the
    fetcher is built by ``start()`` and reads the value for each fetch result it stores, so
    setting it before the first assignment covers every fetch.
    """
    fetcher = getattr(consumer, "_fetcher", None)
    if fetcher is None or not hasattr(fetcher, "_prefetch_backoff"):
        _log.warning("this aiokafka's consumer has no fetcher prefetch_backoff; "
                     "KafkaSourceConfig.prefetch_backoff=%s is not applied", seconds)
        return
    fetcher._prefetch_backoff = seconds


def make_producer(**options: Any) -> Any:
    """Build an ``AIOKafkaProducer``; a bad option becomes a :class:`ConfigError`."""
    options, connection = _expand(options)
    try:
        return _made(AIOKafkaProducer(**options), connection)
    except (TypeError, ValueError, AssertionError, KafkaError) as exc:
        raise ConfigError(f"bad Kafka producer option: {exc}") from exc


def make_admin(**options: Any) -> Any:
    """Build an ``AIOKafkaAdminClient``; a bad option becomes a :class:`ConfigError`."""
    from aiokafka.admin import AIOKafkaAdminClient

    options, connection = _expand(options)
    try:
        return _made(AIOKafkaAdminClient(**options), connection)
    except (TypeError, ValueError, AssertionError, KafkaError) as exc:
        raise ConfigError(f"bad Kafka admin client option: {exc}") from exc


_REFUSALS = ("authentication failed", "does not enable SASL", "TLS", "expects TLS",
             "client certificate")


async def start_client(
    client: Any, *, bootstrap: Bootstrap, within: float, what: str,
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
    if connection is None:
        connection = getattr(client, "_streamguard_connection", None)
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
    consumer: Any, topics: Iterable[str], *, bootstrap: Bootstrap, within: float, what: str
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
    known: dict[str, set[int]], partitions: Iterable[tuple[str, int]], *, bootstrap: Bootstrap,
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


# ---------------------------------------------------------------- why a connection failed

class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.errors: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        # aiokafka logs the cause of a failed bootstrap ('Unable connect to "%s:%s": %s', err)
        # and then raises an error that names only the address.
        for arg in record.args if isinstance(record.args, tuple) else ():
            if isinstance(arg, BaseException):
                self.errors.append(arg)


@contextlib.contextmanager
def capture_connect_errors() -> Iterator[list[BaseException]]:
    """Collect the errors aiokafka logs while connecting (it raises without them).

    Also when the application silenced aiokafka's logger (``streamguard lag`` does): then the
    records are let through to this handler only, and the logger is put back as it was.
    """
    handler = _Capture()
    logger = logging.getLogger("aiokafka")
    level, propagate = logger.level, logger.propagate
    silenced = logger.getEffectiveLevel() > logging.ERROR
    if silenced:
        logger.setLevel(logging.ERROR)
        logger.propagate = False
    logger.addHandler(handler)
    try:
        yield handler.errors
    finally:
        logger.removeHandler(handler)
        if silenced:
            logger.setLevel(level)
            logger.propagate = propagate


def explain_connect_failure(errors: list[BaseException],
                            connection: KafkaConnection | None) -> str | None:
    """Name the cause of a failed connection from what aiokafka logged, or ``None``."""
    if not errors:
        return None
    error = errors[-1]
    text = f"{type(error).__name__}: {error}"
    protocol = connection.security_protocol if connection else "PLAINTEXT"
    tls = protocol in ("SSL", "SASL_SSL")
    if "SaslAuthenticationFailed" in text:
        who = f"user {connection.sasl_username!r} " if connection and connection.sasl_username \
            else ""
        mechanism: str | None = connection.sasl_mechanism if connection else "SASL"
        return (f"authentication failed: the broker refused {who}with {mechanism} "
                f"(wrong user name or password)")
    if "UnsupportedSaslMechanism" in text:
        mechanism = connection.sasl_mechanism if connection else "(unknown)"
        return (f"the broker does not enable SASL mechanism {mechanism} on this listener; "
                f"set sasl_mechanism to one it enables (sasl.enabled.mechanisms)")
    if isinstance(error, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in text:
        reason = getattr(error, "verify_message", None) or "certificate verify failed"
        where = f"ssl_cafile={connection.ssl_cafile!r}" if connection and connection.ssl_cafile \
            else "the system's trusted CAs"
        return (f"TLS: the broker's certificate is not trusted by {where} ({reason}); "
                f"set ssl_cafile to the CA that signed it")
    if tls and (isinstance(error, ssl.SSLError | ConnectionResetError) or not str(error)):
        return (f"TLS handshake failed ({type(error).__name__}): the listener does not speak "
                f"TLS? security_protocol is {protocol}; a plaintext listener needs PLAINTEXT or "
                f"SASL_PLAINTEXT")
    if "closed" in text:
        if not tls:
            return (f"the broker closed the connection at once: the listener expects TLS? "
                    f"security_protocol is {protocol}; try SSL or SASL_SSL")
        if connection is not None and connection.ssl_certfile is None:
            return ("the broker closed the TLS connection: the listener may require a client "
                    "certificate (set ssl_certfile and ssl_keyfile)")
    return text
