"""The fetch pump: one task that keeps a ``getmany`` active and hands records out on demand.

The pump keeps a ``getmany`` call active at all times — also while every partition is paused,
so the group never evicts the consumer — decodes what it fetched (keeping the original bytes)
and buffers it per partition. Records leave those buffers only against downstream demand, in
chunks of consecutive records of one partition, each record with an ack of its own
(:mod:`._completion`). Commits are only *requested* here; they run beside fetching
(:mod:`._commits`), so a broker round trip never stalls delivery.

The task also carries the source's life (:mod:`._lifecycle`): open, fetch while ``RUNNING``,
then drain or close — the close runs exactly once, to its end, even if the task is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiokafka.errors import KafkaError

from streamguard.core._errors import StreamClosedError

from ._client import close_quietly
from ._codec import Undecodable, batch_decoder
from ._commits import Committer
from ._completion import AckRing, Completion
from ._context import SourceContext
from ._dead_letter import DeadLetters, DeadLetterWriter
from ._errors import KafkaAdapterError
from ._flow import PauseApplier
from ._lifecycle import Ending, Phase, check_subscription, open_consumer, subscribe
from ._offset_map import contains
from ._outlet import Outlet
from ._partition import PartitionState, Poison, value_bytes
from ._rebalance import RebalanceBridge, Rebalancer
from ._source_lag import LagView


class Pump:
    """Fetches, buffers and emits the records of one source; opens and closes its clients."""

    def __init__(self, ctx: SourceContext, outlet: Outlet[Any], completion: Completion,
                 dead_letters: DeadLetters, pauses: PauseApplier, lag: LagView,
                 watch: Any, spawn: Any) -> None:
        self._ctx = ctx
        self._outlet = outlet
        self._completion = completion
        self._dead = dead_letters
        self._pauses = pauses
        self._lag = lag
        self._watch = watch
        self._spawn = spawn
        self._decode = batch_decoder(ctx.codec)
        if completion.gate is not None:
            completion.gate.wake = outlet.ready  # a partition the gap bound released
        self.committer: Committer | None = None
        self.rebalancer: Rebalancer | None = None
        self._close_task: asyncio.Task[None] | None = None

    # ================================================================== the task
    async def run(self) -> None:
        """The pump task: open, fetch while running, then drain and close."""
        life = self._ctx.life
        try:
            await self._open()
            if life.phase is Phase.OPENING:
                life.move(Phase.RUNNING)
            while life.fetching:
                await self._poll_once()
        except asyncio.CancelledError:
            life.end(Ending.CANCELLED)
            await self._close()
            raise
        except Exception as exc:
            life.end(Ending.FAILED, _translate(exc, self._ctx.name))
        await self._close()

    async def _poll_once(self) -> None:
        ctx = self._ctx
        rebalancer, committer = self.rebalancer, self.committer
        assert rebalancer is not None
        assert committer is not None
        if rebalancer.unknown_committed:
            released = await rebalancer.learn_committed()
            for part, batches in released:
                for records in batches:
                    self._accept_part(part, records)
            if released:
                self._outlet.ready()
        batch = await self._fetch()
        if batch and ctx.life.fetching:
            self._accept(batch)
            self._outlet.ready()
        completion = self._completion
        completion.sync(ctx.parts.values())
        self._pauses.apply()
        trigger = committer.due(completion.since_commit)
        if trigger is not None:
            completion.since_commit = 0
            committer.request(trigger)
        await self._lag.maybe_sample()

    async def _fetch(self) -> dict[Any, list[Any]]:
        """One ``getmany`` over the partitions that are not paused (see :mod:`._flow`)."""
        cfg = self._ctx.config
        return await self._pauses.getmany(self._ctx.consumer,
                                          timeout_ms=int(cfg.poll_timeout * 1000),
                                          max_records=cfg.max_poll_records)

    # ================================================================== records
    def _accept(self, batch: dict[Any, list[Any]]) -> None:
        ctx = self._ctx
        for tp, records in batch.items():
            part = ctx.parts.get(tp)
            if part is None or part.revoking or not records:
                continue
            if part.held is not None:  # its committed metadata is not read yet
                part.held.append(records)
                continue
            self._accept_part(part, records)

    def _accept_part(self, part: PartitionState, records: list[Any]) -> None:
        ctx = self._ctx
        ctx.counts.fetched += len(records)
        if part.skip and records[0].offset < part.skip[-1][1]:
            kept = [r for r in records if not contains(part.skip, r.offset)]
            ctx.counts.skipped += len(records) - len(kept)
            records = kept  # completed before the last commit: not delivered again (#13)
            if not records:
                return
        decode = self._decode
        if decode is not None and decode(records):
            _add_checked(part, records)
        else:
            part.add(records, value_bytes(records))
        ctx.pause.backlog(part.tp, part.backlog, part.backlog_bytes)
        if not part.in_ready:
            part.in_ready = True
            ctx.ready.append(part)

    def emit_available(self) -> None:
        """Hand buffered records downstream, as far as demand goes (the outlet's hook)."""
        ctx, outlet, dead = self._ctx, self._outlet, self._dead
        dead_letters = ctx.config.dead_letter_topic is not None
        ready = ctx.ready
        if not ready:  # starving: completions may let a paused partition resume now
            self._completion.sync(ctx.parts.values())
        limit = ctx.config.max_poll_records
        gate = self._completion.gate
        while outlet.demand > 0 and ready and ctx.life.fetching:
            part = ready.popleft()
            if part.revoking or not part.buffered or ctx.parts.get(part.tp) is not part:
                part.in_ready = False
                continue
            want = min(outlet.demand, limit)
            if gate is not None:
                want = gate.admit(part, want)
                if not want:  # held by the gap bound: buffered until the gate releases it
                    part.in_ready = False
                    continue
            taken = part.take(want)
            if part.buffered:
                ready.append(part)
            else:
                part.in_ready = False
            ring = part.acks
            if ring is None:
                ring = part.acks = AckRing(dead, checked=dead_letters)
                part.tracker.on_release = ring.release
            if isinstance(taken, Poison):
                record = taken.record
                chunk = part.tracker.open_chunk(record.offset, record.offset, 1, 0)
                (ack,) = ring.acks_for(chunk, [record])
                bad: Undecodable = record.value
                dead.poison(ack, bad.error)
                continue
            records, nbytes = taken
            chunk = part.tracker.open_chunk(records[0].offset, records[-1].offset,
                                            len(records), nbytes)
            ctx.counts.emitted += len(records)
            outlet.emit(records, ring.acks_for(chunk, records))

    # ================================================================== open / close
    async def _open(self) -> None:
        ctx = self._ctx
        cfg = ctx.config
        what = f"KafkaSource {ctx.name!r}"
        ctx.consumer = await open_consumer(cfg, what)
        self.committer = Committer(
            consumer=ctx.consumer, name=ctx.name, bus=ctx.bus, clock=ctx.clock,
            every=cfg.commit_every, interval=cfg.commit_interval,
            parts=lambda: list(ctx.parts.values()), spawn=self._spawn,
            metadata_limit=cfg.completed_metadata_limit if cfg.completed_metadata else None,
        )
        self.rebalancer = Rebalancer(ctx, self._completion, self.committer, self._pauses.apply)
        await check_subscription(ctx.consumer, cfg, what)
        if cfg.dead_letter_topic is not None:
            writer = DeadLetterWriter(
                bootstrap_servers=cfg.bootstrap_servers, topic=cfg.dead_letter_topic,
                idempotence=cfg.dead_letter_idempotence, client_id=cfg.client_id,
                connect_timeout=cfg.connect_timeout,
            )
            self._dead.writer = writer
            await writer.start()
        self._watch.start()
        bridge = RebalanceBridge(self.rebalancer.on_revoked, self.rebalancer.on_assigned)
        assigned = subscribe(ctx.consumer, cfg, bridge)
        if assigned is not None:
            await self.rebalancer.on_assigned(assigned)

    async def _close(self) -> None:
        """Drain (if draining), commit what completed and close every client — exactly once,
        to its end, even if the caller is cancelled meanwhile.

        The close runs in a task of its own, shielded from the caller's cancellation. When
        ``asyncio.run`` shuts down it cancels every task, this one too, possibly before it
        started: the steps are idempotent, so a cancelled close starts again (a few times at
        most) in a fresh task that the shutdown does not cancel.
        """
        loop = asyncio.get_running_loop()
        cancelled = False
        for _attempt in range(3):
            if self._close_task is None or self._close_task.cancelled():
                self._close_task = loop.create_task(self._close_body())
            while not self._close_task.done():
                try:
                    await asyncio.shield(self._close_task)
                except asyncio.CancelledError:
                    cancelled = True
            if not self._close_task.cancelled():
                break
        if cancelled:
            raise asyncio.CancelledError

    async def _close_body(self) -> None:
        ctx = self._ctx
        life = ctx.life
        for part in ctx.parts.values():
            part.drop_buffer()  # never handed out: delivered again, never committed past
        ctx.ready.clear()
        if life.phase is Phase.DRAINING:
            self._outlet.complete()
            await self._completion.wait_in_flight(ctx.parts.values(), ctx.drain_timeout)
            life.move(Phase.CLOSING)
        self._watch.stop()
        if ctx.consumer is not None:
            drop_dead_connections(ctx.consumer)
        committer = self.committer
        if committer is not None and ctx.consumer is not None and ctx.config.group_id:
            # A rebalance from here on commits the partitions it revokes itself, before they
            # go (:meth:`Rebalancer.on_revoked`); this commit skips them then.
            await committer.settle()
            with contextlib.suppress(Exception):  # closing goes on; a refusal is reported
                await committer.commit(ctx.parts.values(), "close", final=True)
        await self._lag.final_sample()  # the lag the source leaves behind, for summaries
        for part in ctx.parts.values():
            part.tracker.dead = True
        if ctx.consumer is not None:
            await close_quietly(ctx.consumer)  # leaves the group
        await self._dead.aclose()  # after the last commit: a write cut short is not committed
        await self._lag.aclose()
        life.move(Phase.CLOSED)
        if life.ending is Ending.FAILED and life.error is not None:
            self._outlet.error(life.error)


def drop_dead_connections(consumer: Any) -> None:
    """Close the consumer's connections whose reader task was cancelled, so that the last
    commit and the LeaveGroup go out on fresh ones.

    ``asyncio.run`` cancels every task before it finalises async generators: a loop that
    ``break``s out of ``async for`` at the end of ``main`` closes the source only after
    aiokafka's reader tasks were cancelled. Their connections would then swallow the commit
    and the LeaveGroup until the request timeout (40 s), which is the hang of #9.
    """
    client = getattr(consumer, "_client", None)
    for conn in list(getattr(client, "_conns", {}).values()):
        task = getattr(conn, "_read_task", None)
        if task is not None and task.done():
            conn.close(reason=None)


def _add_checked(part: PartitionState, records: list[Any]) -> None:
    """Buffer *records*, setting undecodable ones apart in their place."""
    run: list[Any] = []
    for record in records:
        if isinstance(record.value, Undecodable):
            if run:
                part.add(run, value_bytes(run))
                run = []
            part.add_poison(record)
        else:
            run.append(record)
    if run:
        part.add(run, value_bytes(run))


def _translate(exc: Exception, name: str) -> BaseException:
    if isinstance(exc, KafkaAdapterError | StreamClosedError) or not isinstance(exc, KafkaError):
        return exc
    return KafkaAdapterError(f"source {name!r}: Kafka error {type(exc).__name__}: {exc}")
