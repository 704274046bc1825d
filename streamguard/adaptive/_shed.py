"""``shed``: under a standing queue, drop the lowest priorities first — counted and routed.

A bounded buffer that keeps asking upstream for items (so a source is read at the rate it
offers, not the rate the slowest stage takes) and hands the highest priority first to
downstream. It watches the age of the oldest waiting item, as CoDel watches a packet's
sojourn time: a queue whose oldest item has waited longer than ``target`` for a whole
``interval`` is a standing queue, not a burst — the pipeline is overloaded. While it is,
every waiting item below the highest waiting priority that has waited longer than ``target``
is shed: handed to ``on_reject(item, reason)`` (a dead-letter route, e.g.
``KafkaSource.dead_letter``) and counted as rejected — or, without ``on_reject``, counted as
dropped — and its ack completes. The highest priority waiting is never shed, only delayed:
with one priority the stage is a plain backpressured buffer.

Memory: at most ``capacity`` items are held (waiting or requested from upstream).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from ..core._ack import Ack, abandon_all
from ..core._clock import SYSTEM_CLOCK, Clock
from ..core._errors import item_failed, require
from ..core._outbox import DrainLoop
from ..core._protocol import UNBOUNDED, ChunkSubscriber, Subscription, add_demand, demand_error
from ..core._stage import Stage
from ..core._stream import Operator, lift

T = TypeVar("T")


class ShedReason:
    """Why an item was shed: its priority, how long it waited, the target it exceeded."""

    __slots__ = ("priority", "target", "waited")

    def __init__(self, priority: int, waited: float, target: float) -> None:
        self.priority = priority
        self.waited = waited
        self.target = target

    def __repr__(self) -> str:
        return (f"ShedReason(priority={self.priority}, waited={self.waited:.3f}, "
                f"target={self.target})")

    def __str__(self) -> str:
        return (f"shed: priority {self.priority} waited {self.waited:.3f} s under a standing "
                f"queue (target {self.target} s)")


class ShedStage(Stage[T, T], Generic[T]):
    """The stage behind :func:`shed` (see the module docstring)."""

    kind = "shed"

    def __init__(self, downstream: ChunkSubscriber[T], *, priority: Callable[[T], int],
                 target: float, interval: float, capacity: int,
                 on_reject: Callable[[T, ShedReason], Any] | None, clock: Clock,
                 name: str | None) -> None:
        super().__init__(downstream, name)
        self._priority = priority
        self._target = target
        self._interval = interval
        self._limit = capacity
        self._on_reject = on_reject
        self._clock = clock
        self._queues: dict[int, deque[tuple[float, T, Ack | None]]] = {}
        self._count = 0
        self._demand = 0
        self._upstream_done = False
        self._loop = DrainLoop()
        self._first_above: float | None = None
        self._overloaded = False

    @property
    def overloaded(self) -> bool:
        """True while the stage sees a standing queue and sheds."""
        return self._overloaded

    def _buffered(self) -> int:
        return self._count

    def _capacity(self) -> int:
        return self._limit

    # ---------------------------------------------------------------- demand
    def on_subscribe(self, subscription: Subscription) -> None:
        super().on_subscribe(subscription)
        if not self._done:
            self._top_up()
            self._spawn_tracked(self._watch())

    def request(self, n: int) -> None:
        if n <= 0:
            self._fail(demand_error(f"stage {self.name!r}", n))
            return
        if self._done:
            return
        self._requested = add_demand(self._requested, n)
        self._demand = add_demand(self._demand, n)
        self._police()
        self._loop.run(self._drain_step)
        self._top_up()

    def _top_up(self) -> None:
        if self._done or self._upstream_done:
            return
        free = self._limit - self._count - self._outstanding
        if free > 0:
            self._ask(free)

    async def _watch(self) -> None:
        # Shedding must not wait for the next arrival or request: a stuck downstream makes
        # neither, and that is exactly when the queue stands.
        tick = min(self._target, self._interval) / 2
        while not self._done:
            await self._clock.sleep(tick)
            if self._count:
                self._police()
                self._top_up()

    # ---------------------------------------------------------------- items
    def on_chunk(self, items: list[T], acks: list[Ack] | None) -> None:
        if self._done:
            abandon_all(acks)
            return
        n = len(items)
        self._received += n
        self._arrived(n)
        now = self._clock.now()
        for i, item in enumerate(items):
            ack = None if acks is None else acks[i]
            try:
                level = self._priority(item)
            except Exception as exc:
                failure = item_failed(self.name, item, exc)
                if ack is not None:
                    ack.fail(failure)
                if acks is not None:
                    abandon_all(acks[i + 1:])
                self._failed += 1
                self._fail(failure)
                return
            queue = self._queues.get(level)
            if queue is None:
                queue = self._queues[level] = deque()
            queue.append((now, item, ack))
            self._count += 1
        self._police()
        self._loop.run(self._drain_step)
        self._top_up()

    def on_complete(self) -> None:
        self._upstream_done = True
        self._loop.run(self._drain_step)

    def _drain_step(self) -> None:
        while self._demand > 0 and self._count and not self._done:
            items: list[T] = []
            acks: list[Ack] = []
            with_acks = True
            want = self._demand
            for level in sorted(self._queues, reverse=True):
                queue = self._queues[level]
                while queue and len(items) < want:
                    _, item, ack = queue.popleft()
                    items.append(item)
                    if ack is None:
                        with_acks = False
                    else:
                        acks.append(ack)
                if len(items) >= want:
                    break
            self._count -= len(items)
            if self._demand < UNBOUNDED:
                self._demand -= len(items)
            self._emit(items, acks if with_acks and len(acks) == len(items) else None)
            self._top_up()
        if not self._done and self._upstream_done and not self._count:
            self._terminate(None)

    # ---------------------------------------------------------------- CoDel
    def _police(self) -> None:
        if not self._count:
            self._first_above = None
            self._overloaded = False
            return
        now = self._clock.now()
        oldest = min(q[0][0] for q in self._queues.values() if q)
        if now - oldest < self._target:
            self._first_above = None
            self._overloaded = False
            return
        if self._first_above is None:
            self._first_above = now + self._interval
            return
        if now < self._first_above:
            return
        self._overloaded = True
        levels = sorted(level for level, q in self._queues.items() if q)
        for level in levels[:-1]:  # the highest waiting priority is never shed
            queue = self._queues[level]
            while queue and now - queue[0][0] >= self._target:
                arrived, item, ack = queue.popleft()
                self._count -= 1
                self._shed_one(item, ack, ShedReason(level, now - arrived, self._target))

    def _shed_one(self, item: T, ack: Ack | None, reason: ShedReason) -> None:
        if self._on_reject is None:
            self._dropped += 1
            self._publish_dropped(1, str(reason))
        else:
            self._rejected += 1
            try:
                self._on_reject(item, reason)
            except Exception as exc:
                failure = item_failed(self.name, item, exc)
                if ack is not None:
                    ack.fail(failure)
                self._failed += 1
                self._publish_failed(failure)
                return
        if ack is not None:
            ack.done()

    def _on_terminate(self) -> None:
        for queue in self._queues.values():
            abandon_all([ack for _, _, ack in queue if ack is not None])
            queue.clear()
        self._count = 0


def shed(priority: Callable[[T], int], *, target: float = 0.1, interval: float = 1.0,
         capacity: int = 1024, on_reject: Callable[[T, ShedReason], Any] | None = None,
         clock: Clock = SYSTEM_CLOCK, name: str | None = None) -> Operator[T, T]:
    """Shed the lowest priorities first when items wait too long (see the module docstring).

    Args:
        priority: the item's priority, an int; higher goes first and is shed last.
        target: seconds an item may wait before the queue counts as standing (0.1).
        interval: seconds the queue must stand before shedding starts (1.0), so a burst
            that drains in time sheds nothing.
        capacity: the most items held, waiting or requested (1024).
        on_reject: ``(item, reason)`` for each shed item (a dead-letter route); without it
            shed items are counted as dropped and published as ``ItemsDropped``.
        clock: the clock waiting time is measured on.

    Example::

        stream.pipe(
            shed(lambda order: 1 if order.vip else 0, target=0.2,
                 on_reject=source.dead_letter),
            guarded_sink(post, concurrency=limit),
        )
    """
    require(callable(priority), "shed: priority must be a function (item) -> int",
            type(priority).__name__)
    for field_name, value in (("target", target), ("interval", interval)):
        require(isinstance(value, int | float) and not isinstance(value, bool) and value > 0,
                f"shed: {field_name} must be a number of seconds > 0", value)
    require(isinstance(capacity, int) and not isinstance(capacity, bool) and capacity >= 1,
            "shed: capacity must be an int >= 1", capacity)
    require(on_reject is None or callable(on_reject),
            "shed: on_reject must be None or a function (item, reason)", on_reject)

    def build(down: ChunkSubscriber[T]) -> ShedStage[T]:
        return ShedStage(down, priority=priority, target=float(target),
                         interval=float(interval), capacity=capacity, on_reject=on_reject,
                         clock=clock, name=name)

    return lift(build, name="shed")
