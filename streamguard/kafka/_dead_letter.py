"""The dead-letter route: a record that cannot be processed is written to a dead-letter topic
exactly as it was consumed — its original key and value bytes (whatever the codec, however far
down the pipeline it failed) and its original headers — followed by headers that say where it
came from and what went wrong. Only once the broker confirmed the write does the record count
as completed at its source, so nothing is lost on the way.

Headers added (all values UTF-8):

* ``streamguard.source.topic``, ``streamguard.source.partition``, ``streamguard.source.offset``,
  ``streamguard.source.timestamp``
* ``streamguard.error.type`` (qualified exception class), ``streamguard.error.message``,
  ``streamguard.error.stage`` (the stage that failed): the stage named by the
  :class:`~streamguard.core.ItemFailedError` the record's ack failed with (``on_error="skip"``,
  a stage failing with no route), or the stage whose error callback called
  :meth:`KafkaSource.dead_letter <streamguard.kafka.KafkaSource.dead_letter>`: ``on_error`` of
  ``op.map``, ``op.map_async`` and ``op.sink``, ``dead_letter`` and ``fallback`` of
  ``guarded_sink``. Absent when no stage failed the record (it could not be decoded) or when
  ``dead_letter`` was called outside such a callback (your own code, an ``on_reject``).

Tombstones (null values) are dead-lettered as tombstones: the value stays null (never passed
to the codec), the key and headers are kept and the provenance headers added.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from streamguard.core._errors import ItemFailedError, failing_stage

from ._client import close_quietly, make_producer, start_client
from ._completion import RecordAck, find_ack, stream_failure
from ._connection import Bootstrap
from ._context import SourceContext
from ._errors import DeadLetterError, KafkaAdapterError, RecordFailedError
from ._events import RecordDeadLettered
from ._offsets import DEAD_LETTERING, FAILED
from ._types import TP

HEADER_TOPIC = "streamguard.source.topic"
HEADER_PARTITION = "streamguard.source.partition"
HEADER_OFFSET = "streamguard.source.offset"
HEADER_ERROR_TYPE = "streamguard.error.type"
HEADER_ERROR_MESSAGE = "streamguard.error.message"
HEADER_TIMESTAMP = "streamguard.source.timestamp"
HEADER_STAGE = "streamguard.error.stage"

_MAX_MESSAGE = 2000


def error_type_name(error: BaseException) -> str:
    """``module.Class`` of *error* (builtins without the module)."""
    cls = type(error)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def root_cause(error: BaseException) -> tuple[BaseException, str | None]:
    """The error to report and the stage that raised it: a stage's
    :class:`~streamguard.core.ItemFailedError` is unwrapped to its cause."""
    if isinstance(error, ItemFailedError):
        return (error.__cause__ or error), error.stage
    return error, None


def dead_letter_headers(
    record: Any, error: BaseException, stage: str | None = None
) -> list[tuple[str, bytes]]:
    """The record's own headers followed by the headers naming origin and error."""
    message = str(error)[:_MAX_MESSAGE]
    headers = [
        *[(k, v) for k, v in (record.headers or ())],
        (HEADER_TOPIC, record.topic.encode()),
        (HEADER_PARTITION, str(record.partition).encode()),
        (HEADER_OFFSET, str(record.offset).encode()),
        (HEADER_TIMESTAMP, str(record.timestamp).encode()),
        (HEADER_ERROR_TYPE, error_type_name(error).encode()),
        (HEADER_ERROR_MESSAGE, message.encode("utf-8", "replace")),
    ]
    if stage is not None:
        headers.append((HEADER_STAGE, stage.encode("utf-8", "replace")))
    return headers


class DeadLetterWriter:
    """Writes records to one dead-letter topic with an acks=all producer."""

    def __init__(
        self, *, bootstrap_servers: Bootstrap, topic: str, idempotence: bool, client_id: str,
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

    async def write(
        self, record: Any, raw: bytes | None, error: BaseException, stage: str | None = None
    ) -> None:
        """Write *record* (value *raw*) and wait until the broker has it."""
        try:
            future = await self._producer.send(
                self.topic, value=raw, key=record.key,
                headers=dead_letter_headers(record, error, stage),
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


def raw_value(record: Any) -> bytes | None:
    """The value bytes *record* was consumed with (``None`` for a tombstone)."""
    raw: Any = getattr(record, "raw_value", _NO_RAW)
    if raw is _NO_RAW:
        raw = record.value  # the bytes codec: the value is the original
    return None if raw is None else bytes(raw)


_NO_RAW = object()


class DeadLetters:
    """Routes failed records to the dead-letter topic and settles their acks once written.

    ``dead_letter(item, error)`` (the public entry, :meth:`KafkaSource.dead_letter`) is
    synchronous: it schedules the write and holds the record's commit until the broker has it.
    For a record of this source (or a list of them) the record is known at once. For any
    other item — the record after ``op.map`` — the call is *armed*: the stage that called it
    settles the item's ack next, in the same step, and that ack names the record.
    """

    def __init__(self, ctx: SourceContext, fail_stream: Callable[[BaseException], None]) -> None:
        self._ctx = ctx
        self._fail_stream = fail_stream
        self._writes: set[asyncio.Task[None]] = set()
        self.writer: DeadLetterWriter | None = None
        self.armed = 0  # records the armed call still waits for (read on every ack)
        # The armed call: the item it got, the error and the failing stage, if any.
        self._armed_call: tuple[Any, BaseException, str | None] | None = None

    # ---------------------------------------------------------------- entries
    def dead_letter(self, item: Any, error: BaseException) -> None:
        """Dead-letter the record behind *item* because of *error* (see the class doc)."""
        if self.writer is None:
            raise self._no_topic(item, error) from error
        records = item if isinstance(item, list | tuple) else (item,)
        acks = [self._ack_of(r) for r in records]
        stage = failing_stage()  # the stage whose error callback this is, if it is one
        if records and all(a is not None for a in acks):
            for ack in acks:
                assert ack is not None
                self._send(ack, error, stage)
            return
        if records and any(_is_record(r) for r in records):
            raise RecordFailedError(
                f"source {self._ctx.name!r}: {_where(records[0])} is no longer in "
                "flight here (its partition was revoked); it will be delivered again"
            ) from error
        self._arm(item, error, max(1, len(records)), stage)

    def bind(self, ack: RecordAck) -> None:
        """The stage settled *ack* right after an armed call: dead-letter its record."""
        self.armed -= 1
        assert self._armed_call is not None
        _item, error, stage = self._armed_call
        if not self.armed:
            self._armed_call = None
        self._send(ack, error, stage)

    def failed(self, ack: RecordAck, error: BaseException) -> None:
        """*ack*'s record failed: dead-letter it, or (no topic) fail the stream."""
        if self.writer is not None:
            self._send(ack, error)
            return
        ack.state = FAILED
        ack.chunk.fail(error)

    def poison(self, ack: RecordAck, error: BaseException) -> None:
        """*ack*'s record could not be decoded with the source's codec."""
        if self.writer is not None:
            self._send(ack, error)
            return
        ack.state = FAILED
        self._fail_stream(RecordFailedError(
            f"source {self._ctx.name!r}: {_where(ack.record)} could not be decoded "
            f"with codec {self._ctx.codec.name!r} ({type(error).__name__}: {error}); it was "
            "not committed. Set KafkaSourceConfig.dead_letter_topic to route such records "
            "and keep going"
        ))

    def chunk_failed(self, tp: TP, chunk: Any, error: BaseException) -> None:
        """A record failed with no dead-letter topic: end the stream (not committed)."""
        self._fail_stream(stream_failure(self._ctx, tp, chunk, error))

    # ---------------------------------------------------------------- internals
    def _ack_of(self, record: Any) -> RecordAck | None:
        if not _is_record(record):
            return None
        part = self._ctx.parts.get(TP(record.topic, record.partition))
        return None if part is None else find_ack(part, record)

    def _arm(self, item: Any, error: BaseException, count: int, stage: str | None) -> None:
        if self.armed:  # an earlier armed call was never bound: do not guess
            self._unbound()
        self.armed, self._armed_call = count, (item, error, stage)
        asyncio.get_running_loop().call_soon(self._check_bound, item)

    def _check_bound(self, item: Any) -> None:
        if self.armed and self._armed_call is not None and self._armed_call[0] is item:
            self._unbound()

    def _unbound(self) -> None:
        item = None if self._armed_call is None else self._armed_call[0]
        self.armed, self._armed_call = 0, None
        self._fail_stream(RecordFailedError(
            f"source {self._ctx.name!r}: dead_letter({item!r:.80}, ...) got an item that is "
            "not a record of this source, and no stage settled its record right after; pass "
            "it as a stage's on_error / dead_letter / on_reject callback, or pass the record"
        ))

    def _send(self, ack: RecordAck, error: BaseException, stage: str | None = None) -> None:
        ack.state = DEAD_LETTERING
        # The write is the source's own task, not the pipeline's: a stage settles a
        # dead-lettered record at once, so the pipeline's stages may all end while the
        # write is under way, and the pipeline then cancels the tasks it owns. A cancelled
        # write left its record "being dead-lettered" for ever, and a drain waited for it
        # to its deadline (#14). The source's close waits for these writes while it drains
        # and ends them in :meth:`aclose`.
        task = asyncio.get_running_loop().create_task(
            self._write(ack, error, stage), name=f"kafka-source:{self._ctx.name}:dead-letter")
        self._writes.add(task)
        task.add_done_callback(self._written)

    def _written(self, task: asyncio.Task[None]) -> None:
        self._writes.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._fail_stream(task.exception())  # type: ignore[arg-type]

    async def aclose(self) -> None:
        """Close the writer (its producer flushes what it was sending), then end the writes
        still under way: their records were not committed, so they are delivered again."""
        if self.writer is not None:
            await close_quietly(self.writer)
        writes = list(self._writes)
        for task in writes:
            task.cancel()
        await asyncio.gather(*writes, return_exceptions=True)

    async def _write(self, ack: RecordAck, error: BaseException,
                     calling_stage: str | None) -> None:
        assert self.writer is not None
        cause, stage = root_cause(error)
        stage = stage or calling_stage  # an ItemFailedError names where it first failed
        record = ack.record
        try:
            await self.writer.write(record, raw_value(record), cause, stage)
        except KafkaAdapterError as exc:
            self._fail_stream(exc)
            return
        ctx = self._ctx
        ctx.counts.dead_lettered += 1
        ctx.publish(RecordDeadLettered(
            source=ctx.name, topic=record.topic, partition=record.partition,
            offset=record.offset, error_type=type(cause).__name__, error_message=str(cause),
            dead_letter_topic=self.writer.topic,
        ))
        ack.finish()

    def _no_topic(self, item: Any, error: BaseException) -> RecordFailedError:
        return RecordFailedError(
            f"source {self._ctx.name!r}: {_where(item)} failed ({type(error).__name__}: "
            f"{error}) and no dead_letter_topic is set; set KafkaSourceConfig.dead_letter_topic"
        )


def _is_record(item: Any) -> bool:
    return hasattr(item, "topic") and hasattr(item, "partition") and hasattr(item, "offset")


def _where(item: Any) -> str:
    if _is_record(item):
        return f"record {item.topic}/{item.partition}@{item.offset}"
    return f"item {item!r:.80}"
