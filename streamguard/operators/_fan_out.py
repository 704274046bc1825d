"""``broadcast`` and ``partition``: one upstream, several downstream branches.

A :class:`Hub` subscribes to the upstream once every branch has subscribed to its
:class:`Port`, and hands items to the ports: every item to every port (``broadcast``) or
each item to the port its routing function names (``partition``).

**Demand: slowest-consumer backpressure** (Akka's ``Broadcast``/``Partition``). A port
accepts its branch's outstanding demand plus the free room of its own buffer (``buffer``
items, 0 by default); the hub asks upstream only for what *every* backpressured port can
accept, so the slowest branch sets the pace and nothing is ever dropped. A port with a
lossy overflow strategy (``drop_oldest``, ``drop_newest``, ``keep_latest``) does not hold
the others back: when its buffer is full it applies the strategy, counts the drop and
completes the dropped item's share. ``overflow="error"`` fails the stream instead.

**Memory bound.** ``branches × buffer`` items held (plus what the branches hold).

**Acks.** A broadcast item carries a :class:`~._fan_acks.SharedAck` with one share per live
branch: its record completes once every branch completed it (fails if one failed, is
abandoned if one abandoned it). A branch that *left* — it cancelled its input (``take``, or
its consumer ended) and its own stream completed — has no say in the items it did not
receive, whether its buffer held them or they arrived after it ended: it withdraws its share
and the branches still taking part settle the record alone, so the outcome does not depend
on ``buffer`` (a cancelled subscriber of Reactor's ``publish()`` or of Akka's ``Broadcast``
likewise just stops being served). An item every branch withdrew from was processed by
nobody and is abandoned. A failing stage cancels its input too, so what a cancelled port
held waits until its branch's stream ended (:class:`BranchWatch`): a branch that failed, or
was cancelled by the join (the broadcast's consumer cancelled, or another branch failed),
abandons it, since it would have processed those items. A partitioned item keeps its own
ack: it has one branch, so an item for a cancelled branch is abandoned.

**Endings.** Upstream completion completes each branch once its buffer is delivered; an
upstream error fails every branch (what their buffers held is abandoned). A branch that
cancels stops receiving (partitioned items routed to it, held or later, are abandoned,
later ones counted as dropped); when every branch cancelled, upstream is cancelled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar, cast

from ..core._ack import Ack, abandon_all
from ..core._errors import BufferOverflowError
from ..core._overflow import BoundedQueue, Overflow
from ..core._protocol import UNBOUNDED, ChunkSubscriber, Subscription, add_demand, demand_error
from ..core._stage import UNSUBSCRIBED as _UNSET
from ..core._stage import Stage
from ..core._stream import Stream, closed_error
from ._errors import item_failed
from ._fan_acks import SharedAck

T = TypeVar("T")


class _Nowhere:
    """The hub's own downstream: its items go to the ports, never here."""

    def on_subscribe(self, subscription: Subscription) -> None:
        pass

    def on_next(self, item: Any) -> None:
        pass

    def on_chunk(self, items: list[Any], acks: list[Ack] | None) -> None:
        pass

    def on_error(self, error: BaseException) -> None:
        pass

    def on_complete(self) -> None:
        pass


class Port(Generic[T]):
    """The subscription of one branch."""

    __slots__ = ("again", "cancelled", "demand", "down", "draining", "finished", "hub", "index",
                 "left", "lossy", "queue", "withheld")

    def __init__(self, hub: Hub[T], index: int, buffer: int, overflow: Overflow) -> None:
        self.hub = hub
        self.index = index
        self.down: ChunkSubscriber[T] | None = None
        self.queue: BoundedQueue[T] = BoundedQueue(buffer, overflow,
                                                   f"{hub.kind} branch {index}")
        self.lossy = overflow not in (Overflow.BACKPRESSURE, Overflow.ERROR)
        self.demand = 0
        self.cancelled = False
        self.finished = False
        self.draining = False  # a request made inside on_chunk only marks more to do
        self.again = False
        # How the branch's own stream ended: True it completed (the branch left), False it
        # failed or was cancelled (torn down), None still running. Until then the shares of
        # the items a cancelled port never delivered are withheld (see Hub._unreceived).
        self.left: bool | None = None
        self.withheld: list[Ack] = []

    def accepts(self) -> int:
        """How many more items this port can take now."""
        return add_demand(self.demand, max(0, self.queue.capacity - len(self.queue)))

    def request(self, n: int) -> None:
        if self.cancelled or self.finished:
            return
        if n <= 0:
            self.finish(demand_error(f"{self.hub.kind} branch {self.index}", n))
            self.cancel()
            return
        self.demand = add_demand(self.demand, n)
        self.hub._drain_port(self)
        self.hub._top_up()

    def cancel(self) -> None:
        if self.cancelled:
            return
        self.cancelled = True
        self.hub._port_cancelled(self)

    def finish(self, error: BaseException | None) -> None:
        """Send the branch its terminal signal (once)."""
        if self.finished or self.down is None:
            return
        self.finished = True
        if error is None:
            self.down.on_complete()
        else:
            self.down.on_error(error)


class Hub(Stage[T, T]):
    """Feeds the ports of ``broadcast`` (*route* is None) or ``partition``."""

    kind = "broadcast"

    def __init__(self, source: Stream[T], branches: int, route: Callable[[T], int] | None,
                 buffer: int, overflows: list[Overflow], name: str | None) -> None:
        if route is not None:
            self.kind = "partition"
        super().__init__(_Nowhere(), name)
        self._source = source
        self._route = route
        self._ports = [Port(self, i, buffer, overflows[i]) for i in range(branches)]
        self._attached = 0
        self._upstream_done = False
        self._upstream_error: BaseException | None = None
        self._unbounded = False
        self._busy = False

    def stream(self, index: int) -> Stream[T]:
        """The input stream of branch *index* (subscribable once)."""
        def subscribe(down: ChunkSubscriber[T]) -> None:
            port = self._ports[index]
            if port.down is not None:
                down.on_subscribe(_Dead())
                down.on_error(closed_error(f"{self.kind} branch {index}"))
                return
            port.down = down
            down.on_subscribe(port)
            self._attached += 1
            if self._attached == len(self._ports):
                self._source._subscribe_chunked(self)
        return Stream(subscribe)

    def watch(self, index: int, out: Stream[Any]) -> Stream[Any]:
        """Branch *index*'s output, reporting to the hub how it ends."""
        return Stream(lambda down: out._subscribe_chunked(BranchWatch(self, index, down)))

    # ---------------------------------------------------------------- statistics
    def _buffered(self) -> int:
        return sum(len(p.queue) for p in self._ports)

    def _capacity(self) -> int:
        return sum(p.queue.capacity for p in self._ports)

    # ---------------------------------------------------------------- upstream
    def on_subscribe(self, subscription: Subscription) -> None:
        if self._up is not _UNSET:
            subscription.cancel()  # rule 2.5
            return
        self._up = subscription
        if all(p.cancelled for p in self._ports):
            self._done = True
            subscription.cancel()
            return
        self._top_up()

    def _top_up(self) -> None:
        if self._done or self._upstream_done or self._up is _UNSET:
            return
        live = [p for p in self._ports if not p.cancelled and not p.finished]
        strict = [p for p in live if not p.lossy]
        if not strict:
            if live and not self._unbounded:
                self._unbounded = True
                self._up.request(UNBOUNDED)
            return
        accept = min(p.accepts() for p in strict)
        if accept >= UNBOUNDED:
            if not self._unbounded:
                self._unbounded = True
                self._up.request(UNBOUNDED)
            return
        want = accept - self._outstanding
        if want > 0:
            self._ask(want)

    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        if self._done:
            abandon_all(acks)
            return
        n = len(items)
        self._received += n
        self._arrived(n)
        try:
            if self._route is None:
                self._broadcast(items, acks)
            else:
                self._partition(items, acks)
        except BufferOverflowError as exc:
            self._fail(exc)
            return
        self._top_up()

    def _broadcast(self, items: list[T], acks: list[Ack] | None) -> None:
        live = [p for p in self._ports if not p.cancelled and not p.finished]
        if not live:
            abandon_all(acks)
            return
        shared: list[Ack] | None = None
        if acks is not None:
            shared = [SharedAck(a, len(live)) for a in acks]
        self._emitted += len(items)
        for port in live:
            self._offer(port, items, shared)

    def _partition(self, items: list[T], acks: list[Ack] | None) -> None:
        assert self._route is not None
        n = len(self._ports)
        routed: list[list[T]] = [[] for _ in range(n)]
        routed_acks: list[list[Ack]] | None = None if acks is None else [[] for _ in range(n)]
        for i, item in enumerate(items):
            try:
                k = self._route(item)
                if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < n:
                    raise ValueError(f"partition function must return an int in [0, {n}), "
                                     f"got {k!r}")
            except Exception as exc:
                self._failed += 1
                self._publish_failed(exc)
                failure = item_failed(self.name, item, exc)
                if acks is not None:
                    acks[i].fail(failure)
                    abandon_all(acks[i + 1:])
                self._deliver_routed(routed, routed_acks)
                self._fail(failure)
                return
            routed[k].append(item)
            if routed_acks is not None and acks is not None:
                routed_acks[k].append(acks[i])
        self._deliver_routed(routed, routed_acks)

    def _deliver_routed(self, routed: list[list[T]], acks: list[list[Ack]] | None) -> None:
        for port, chunk in zip(self._ports, routed, strict=True):
            if not chunk:
                continue
            chunk_acks = None if acks is None else acks[port.index]
            if port.cancelled or port.finished:
                self._dropped += len(chunk)
                abandon_all(chunk_acks)
                self._publish_dropped(len(chunk), "branch cancelled")
                continue
            self._emitted += len(chunk)
            self._offer(port, chunk, chunk_acks)

    def _offer(self, port: Port[T], items: list[T], acks: list[Ack] | None) -> None:
        n = len(items)
        if port.cancelled or port.finished:
            # cancelled while this chunk was being handed out (from an earlier branch's
            # on_chunk): the branch never received these items
            self._unreceived(port, acks)
            return
        if not port.queue and port.demand >= n and port.down is not None and not port.draining:
            if port.demand < UNBOUNDED:
                port.demand -= n
            port.down.on_chunk(list(items), None if acks is None else list(acks))
            return
        dropped = 0
        for i, item in enumerate(items):
            was_dropped, dropped_ack = port.queue.offer(item, None if acks is None else acks[i])
            if was_dropped:
                dropped += 1
                if dropped_ack is not None:
                    dropped_ack.done()  # dropped on purpose by the branch's strategy
        if dropped:
            self._dropped += dropped
            self._publish_dropped(dropped, f"branch {port.index} overflow="
                                           f"{port.queue.strategy.value}")
        self._drain_port(port)

    def _drain_port(self, port: Port[T]) -> None:
        if port.draining:
            port.again = True  # re-entered from the branch's on_chunk: the loop below goes on
            return
        port.draining = True
        try:
            while True:
                port.again = False
                while (port.demand > 0 and port.queue and not port.cancelled
                       and port.down is not None):
                    items, acks = port.queue.take(port.demand)
                    if port.demand < UNBOUNDED:
                        port.demand -= len(items)
                    port.down.on_chunk(items, acks)
                if not port.again:
                    break
        finally:
            port.draining = False
        if self._upstream_done and not port.queue and not port.cancelled:
            port.finish(self._upstream_error)

    # ---------------------------------------------------------------- endings
    def on_complete(self) -> None:
        if self._done:
            return
        self._upstream_done = True
        self._done = True
        self._publish_terminated("completed", None)
        for port in self._ports:
            self._drain_port(port)

    def on_error(self, error: BaseException) -> None:
        if self._done:
            return
        self._upstream_done = True
        self._upstream_error = error
        self._done = True
        self._publish_terminated("failed", error)
        for port in self._ports:
            self._abandon_queue(port)
            port.finish(error)

    def _fail(self, error: BaseException) -> None:
        if self._done:
            return
        self._up.cancel()
        self.on_error(error)

    def _port_cancelled(self, port: Port[T]) -> None:
        self._abandon_queue(port)
        if all(p.cancelled for p in self._ports) and not self._done:
            self.cancel()
        else:
            self._top_up()

    def _abandon_queue(self, port: Port[T]) -> None:
        acks = list(port.queue.acks)
        port.queue.items.clear()
        port.queue.acks.clear()
        self._unreceived(port, acks)

    def _unreceived(self, port: Port[T], acks: Sequence[Ack | None] | None) -> None:
        """Settle what *port* held or was handed but never passed to its branch.

        A broadcast branch that cancelled withdraws its share: the other branches alone
        settle the record, as if the item had arrived after the branch ended — so the
        outcome does not depend on how much the branch's buffer held. A partitioned item
        has no other holder, and a branch ended by an upstream error did not choose to
        leave: those items were processed by nobody and are abandoned.
        """
        if acks is None:
            return
        if self._route is not None or not port.cancelled or port.left is False:
            abandon_all(acks)
        elif port.left is None:
            # cancelled, but a failing stage cancels its input before it fails: whether the
            # branch left or failed is known once its stream ended
            port.withheld.extend(a for a in acks if a is not None)
        else:
            _withdraw(acks)

    def _branch_ended(self, index: int, left: bool) -> None:
        """Branch *index*'s stream completed (*left*) or failed or was cancelled."""
        port = self._ports[index]
        if port.left is not None:
            return
        port.left = left
        held, port.withheld = port.withheld, []
        if left:
            _withdraw(held)
        else:
            abandon_all(held)

    def cancel(self) -> None:
        """Every branch cancelled: cancel upstream."""
        if self._cancelled:
            return
        self._cancelled = True
        was_done, self._done = self._done, True
        for port in self._ports:
            self._abandon_queue(port)
        if self._up is not _UNSET:
            self._up.cancel()
        if not was_done:
            self._publish_terminated("cancelled", None)


def _withdraw(acks: Sequence[Ack | None]) -> None:
    for ack in acks:
        if ack is not None:
            cast(SharedAck, ack).withdraw()  # a broadcast port holds the shares _broadcast made


class BranchWatch:
    """Between a branch's output and the join: tells the hub how the branch's stream ended
    (completed: the branch left; failed, or cancelled by the join: torn down)."""

    __slots__ = ("down", "hub", "index", "up")

    def __init__(self, hub: Hub[Any], index: int, down: ChunkSubscriber[Any]) -> None:
        self.hub = hub
        self.index = index
        self.down = down
        self.up: Subscription = _UNSET

    def on_subscribe(self, subscription: Subscription) -> None:
        self.up = subscription
        self.down.on_subscribe(self)

    def on_next(self, item: Any) -> None:
        self.down.on_next(item)

    def on_chunk(self, items: list[Any], acks: list[Ack] | None) -> None:
        self.down.on_chunk(items, acks)

    def on_error(self, error: BaseException) -> None:
        self.hub._branch_ended(self.index, left=False)
        self.down.on_error(error)

    def on_complete(self) -> None:
        self.hub._branch_ended(self.index, left=True)
        self.down.on_complete()

    def request(self, n: int) -> None:
        self.up.request(n)

    def cancel(self) -> None:
        self.hub._branch_ended(self.index, left=False)
        self.up.cancel()


class _Dead:
    """The subscription of a second subscriber to a branch stream: it does nothing."""

    def request(self, n: int) -> None:
        pass

    def cancel(self) -> None:
        pass

