"""`KafkaSink`: produce items to Kafka with ``acks=all`` and an idempotent producer.

:meth:`KafkaSink.send` returns only once the broker acknowledged the record, so when it is the
function of a sink (``op.sink(sink.send, concurrency=64)``) — or the call inside a guarded
sink — the source's record completes after its result is safely stored: topic → pipeline →
topic is at least once end to end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Never, TypeVar

from aiokafka.errors import KafkaError

from streamguard.core._errors import ConfigError
from streamguard.core._stream import Operator
from streamguard.operators import sink as sink_operator

from ._client import close_quietly, make_producer, start_client
from ._codec import best_effort_bytes
from ._config import KafkaSinkConfig
from ._errors import DeliveryError

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True, slots=True)
class OutgoingRecord:
    """A record to produce. *topic* ``None`` means the sink's default topic."""

    value: bytes | None
    key: bytes | None = None
    topic: str | None = None
    partition: int | None = None
    headers: Sequence[tuple[str, bytes]] = ()


@dataclass(frozen=True, slots=True)
class Delivered:
    """Where the broker stored a record."""

    topic: str
    partition: int
    offset: int


def default_encode(item: object) -> OutgoingRecord:
    """An :class:`OutgoingRecord` as is; a consumed record's key, value and headers; bytes,
    str or JSON-able values otherwise."""
    if isinstance(item, OutgoingRecord):
        return item
    if hasattr(item, "topic") and hasattr(item, "offset") and hasattr(item, "value"):
        value = item.value
        return OutgoingRecord(
            value=None if value is None else best_effort_bytes(value),
            key=getattr(item, "key", None), headers=tuple(getattr(item, "headers", ()) or ()),
        )
    return OutgoingRecord(value=best_effort_bytes(item))


class KafkaSink(Generic[T]):
    """Produce items to Kafka; each :meth:`send` waits for the broker's acknowledgement.

    Example::

        async with KafkaSink[dict](KafkaSinkConfig(bootstrap_servers=bs, topic="out")) as out:
            await source.stream().pipe(op.map(enrich), out.sink(concurrency=64)).run()

    Args:
        config: where and how to produce (see :class:`KafkaSinkConfig`).
        encode: turns an item into an :class:`OutgoingRecord` or value bytes
            (default :func:`default_encode`).
        name: names the sink in errors and statistics.
    """

    def __init__(
        self, config: KafkaSinkConfig, *,
        encode: Callable[[T], OutgoingRecord | bytes] | None = None, name: str | None = None,
    ) -> None:
        self.config = config
        self.name = name or f"kafka-sink:{config.topic or 'per-item'}"
        self._encode: Callable[[Any], OutgoingRecord | bytes] = encode or default_encode
        self._producer: Any = None
        self._starting: asyncio.Lock | None = None
        self._closed = False
        self.delivered = 0

    async def __aenter__(self) -> KafkaSink[T]:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Connect the producer (also done by the first :meth:`send`)."""
        if self._producer is not None:
            return
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._producer is not None:
                return
            if self._closed:
                raise DeliveryError(f"KafkaSink {self.name!r} is closed; create a new one")
            cfg = self.config
            producer = make_producer(**{
                "bootstrap_servers": cfg.bootstrap_servers, "client_id": cfg.client_id,
                "acks": cfg.acks, "enable_idempotence": cfg.idempotence,
                "linger_ms": int(cfg.linger * 1000), "max_batch_size": cfg.max_batch_bytes,
                "compression_type": cfg.compression,
                "request_timeout_ms": int(cfg.delivery_timeout * 1000),
                **dict(cfg.producer_options or {}),
            })
            await start_client(producer, bootstrap=cfg.bootstrap_servers,
                               within=cfg.connect_timeout, what=f"KafkaSink {self.name!r}")
            self._producer = producer

    async def send(self, item: T) -> Delivered:
        """Produce *item* and wait until the broker acknowledged it."""
        if self._producer is None:
            await self.start()
        out = self._encode(item)
        if not isinstance(out, OutgoingRecord):
            out = OutgoingRecord(value=out)
        topic = out.topic or self.config.topic
        if topic is None:
            raise ConfigError(
                f"KafkaSink {self.name!r}: no topic for {item!r}; set KafkaSinkConfig.topic "
                "or return an OutgoingRecord with a topic from encode"
            )
        try:
            async with asyncio.timeout(self.config.delivery_timeout):
                future = await self._producer.send(
                    topic, value=out.value, key=out.key, partition=out.partition,
                    headers=list(out.headers) or None,
                )
                meta = await future
        except (KafkaError, TimeoutError) as exc:
            raise DeliveryError(
                f"KafkaSink {self.name!r}: record for topic {topic!r} was not delivered "
                f"within {self.config.delivery_timeout} s: {type(exc).__name__}: {exc}"
            ) from exc
        self.delivered += 1
        return Delivered(meta.topic, meta.partition, meta.offset)

    def sink(self, *, concurrency: int = 64, name: str | None = None) -> Operator[T, Never]:
        """The pipeline's end: ``op.sink(self.send, concurrency=...)``. Records produced
        concurrently may be reordered within a partition; use ``concurrency=1`` to keep order."""
        return sink_operator(self.send, concurrency=concurrency, name=name or self.name)

    async def aclose(self) -> None:
        """Flush what is pending and close the producer."""
        self._closed = True
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await close_quietly(producer)
