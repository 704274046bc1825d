"""The dead-letter route: a record that cannot be processed is written, with its original
bytes, key and headers, to a dead-letter topic, plus headers that say where it came from and
what went wrong. Only once the broker confirmed the write does the record count as completed
at its source, so nothing is lost on the way.

Headers added (all values UTF-8):

* ``streamguard.source.topic``, ``streamguard.source.partition``, ``streamguard.source.offset``
* ``streamguard.error.type`` (qualified exception class), ``streamguard.error.message``
"""

from __future__ import annotations

from typing import Any

from ._client import make_producer, start_client
from ._errors import DeadLetterError

HEADER_TOPIC = "streamguard.source.topic"
HEADER_PARTITION = "streamguard.source.partition"
HEADER_OFFSET = "streamguard.source.offset"
HEADER_ERROR_TYPE = "streamguard.error.type"
HEADER_ERROR_MESSAGE = "streamguard.error.message"

_MAX_MESSAGE = 2000


def error_type_name(error: BaseException) -> str:
    """``module.Class`` of *error* (builtins without the module)."""
    cls = type(error)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def dead_letter_headers(
    record: Any, error: BaseException
) -> list[tuple[str, bytes]]:
    """The record's own headers followed by the five headers naming origin and error."""
    message = str(error)[:_MAX_MESSAGE]
    return [
        *[(k, v) for k, v in (record.headers or ())],
        (HEADER_TOPIC, record.topic.encode()),
        (HEADER_PARTITION, str(record.partition).encode()),
        (HEADER_OFFSET, str(record.offset).encode()),
        (HEADER_ERROR_TYPE, error_type_name(error).encode()),
        (HEADER_ERROR_MESSAGE, message.encode("utf-8", "replace")),
    ]


class DeadLetterWriter:
    """Writes records to one dead-letter topic with an acks=all producer."""

    def __init__(
        self, *, bootstrap_servers: str, topic: str, idempotence: bool, client_id: str,
        connect_timeout: float,
    ) -> None:
        self.topic = topic
        self._bootstrap = bootstrap_servers
        self._timeout = connect_timeout
        self._producer = make_producer(
            bootstrap_servers=bootstrap_servers, client_id=f"{client_id}-dead-letter",
            acks="all", enable_idempotence=idempotence, linger_ms=5,
        )

    async def start(self) -> None:
        """Connect the producer (bounded by ``connect_timeout``)."""
        await start_client(self._producer, bootstrap=self._bootstrap, within=self._timeout,
                           what=f"dead-letter producer for {self.topic!r}",
                           idempotence_setting="KafkaSourceConfig(dead_letter_idempotence=False)")

    async def write(self, record: Any, raw: bytes | None, error: BaseException) -> None:
        """Write *record* (value *raw*) and wait until the broker has it."""
        try:
            future = await self._producer.send(
                self.topic, value=raw, key=record.key,
                headers=dead_letter_headers(record, error),
            )
            await future
        except Exception as exc:
            raise DeadLetterError(
                f"could not write record {record.topic}/{record.partition}@{record.offset} to "
                f"dead-letter topic {self.topic!r}: {type(exc).__name__}: {exc}; it was not "
                "committed and will be delivered again"
            ) from exc

    async def stop(self) -> None:
        """Flush and close the producer."""
        await self._producer.stop()
