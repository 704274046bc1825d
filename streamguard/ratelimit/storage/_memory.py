"""``memory://``: limiter state in this process, in bounded tables.

Each namespace has a :class:`KeyTable` of per-key states in least-recently-used order.
Memory stays bounded two ways: a key whose state has become equal to a fresh one (an idle
bucket is full) is forgotten, which changes no decision; and beyond ``max_keys`` the least
recently used key is forgotten even if it is not idle, which can only favour that key (it
starts over with a full allowance) and is counted in :attr:`KeyTable.forced_evictions`.

URI: ``memory://`` or ``memory://?max_keys=10000`` (default 100,000 keys per namespace).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from urllib.parse import parse_qs, urlsplit

from streamguard.core._errors import ConfigError, require

from ..algorithms._base import Algorithm, Decision, State
from ._base import Binding, Storage, TierSpec, uncommitted

DEFAULT_MAX_KEYS = 100_000

_SCAN = 2
"""Oldest entries examined for idleness on each new key: amortised O(1), and enough to keep
the table at the number of active keys because every insert can remove two idle ones."""


class KeyTable:
    """The states of one namespace, least recently used first."""

    __slots__ = ("_pinned", "_states", "algorithm", "forced_evictions", "max_keys", "name")

    def __init__(self, name: str, algorithm: Algorithm, max_keys: int) -> None:
        self.name = name
        self.algorithm = algorithm
        self.max_keys = max_keys
        self.forced_evictions = 0
        self._states: OrderedDict[Hashable, State] = OrderedDict()
        self._pinned: dict[Hashable, State] = {}

    def __len__(self) -> int:
        return len(self._states) + len(self._pinned)

    def get(self, key: Hashable, now: float) -> State:
        """The state of *key*, created full if unknown; marks it most recently used."""
        states = self._states
        state = states.get(key)
        if state is None:
            pinned = self._pinned.get(key)
            if pinned is not None:
                return pinned
            state = self.algorithm.new_state(self.name)
            states[key] = state
            self._evict(now)
        else:
            states.move_to_end(key)
        return state

    def pin(self, key: Hashable) -> State:
        """The state of *key*, never evicted: a limiter without keys holds it directly."""
        state = self._pinned.get(key)
        if state is None:
            state = self._states.pop(key, None) or self.algorithm.new_state(self.name)
            self._pinned[key] = state
        return state

    def discard(self, key: Hashable) -> None:
        """Reset *key* to a fresh state (a pinned state is reset in place)."""
        self._states.pop(key, None)
        if key in self._pinned:
            self._pinned[key] = self.algorithm.new_state(self.name)

    def sweep(self, now: float) -> int:
        """Forget every idle key; return how many were forgotten."""
        idle = [key for key, state in self._states.items() if state.evictable(now)]
        for key in idle:
            del self._states[key]
        return len(idle)

    def _evict(self, now: float) -> None:
        states = self._states
        for _ in range(_SCAN):
            if len(states) <= 1:
                break
            key, state = next(iter(states.items()))
            if not state.evictable(now):
                break
            del states[key]
        while len(states) > self.max_keys:
            states.popitem(last=False)
            self.forced_evictions += 1


class MemoryBinding(Binding):
    """Tiers bound to their key tables."""

    local = True

    def __init__(self, tables: Sequence[KeyTable]) -> None:
        self.tables = tuple(tables)

    def decide_nowait(self, keys: Sequence[Hashable], cost: float, now: float) -> list[Decision]:
        """Check every tier, then commit all of them only if all allow."""
        states = [table.get(key, now) for table, key in zip(self.tables, keys, strict=True)]
        decisions = [state.decide(now, cost, commit=False) for state in states]
        if all(d.allowed for d in decisions):
            return [state.decide(now, cost) for state in states]
        return uncommitted(decisions, cost)

    async def decide(self, keys: Sequence[Hashable], cost: float, now: float) -> list[Decision]:
        """Same as :meth:`decide_nowait`."""
        return self.decide_nowait(keys, cost, now)

    async def penalize(self, keys: Sequence[Hashable], seconds: float, now: float) -> None:
        """Block these keys' states until ``now + seconds``."""
        for table, key in zip(self.tables, keys, strict=True):
            table.get(key, now).penalize(now + seconds)

    async def reset(self, keys: Sequence[Hashable]) -> None:
        """Forget these keys."""
        for table, key in zip(self.tables, keys, strict=True):
            table.discard(key)


class MemoryStorage(Storage):
    """Limiter state in this process (the default storage, ``memory://``).

    Limiters bound with the same name share state, as they would in Redis.
    """

    def __init__(self, *, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        require(isinstance(max_keys, int) and max_keys >= 1, "max_keys must be an int >= 1",
                max_keys)
        self.max_keys = max_keys
        self.uri = "memory://" if max_keys == DEFAULT_MAX_KEYS else f"memory://?max_keys={max_keys}"
        self._tables: dict[str, KeyTable] = {}

    @classmethod
    def from_uri(cls, uri: str) -> MemoryStorage:
        """Build from ``memory://[?max_keys=N]``."""
        query = parse_qs(urlsplit(uri).query)
        unknown = sorted(set(query) - {"max_keys"})
        require(not unknown, f"memory:// storage URI takes only max_keys (in {uri!r})", unknown)
        raw = query.get("max_keys", [str(DEFAULT_MAX_KEYS)])[-1]
        require(raw.isdigit(), f"max_keys must be an int >= 1 (in {uri!r})", raw)
        return cls(max_keys=int(raw))

    def table(self, name: str, algorithm: Algorithm) -> KeyTable:
        """The key table of namespace *name*, created on first use."""
        table = self._tables.get(name)
        if table is None:
            table = self._tables[name] = KeyTable(name, algorithm, self.max_keys)
        elif table.algorithm != algorithm:
            raise ConfigError(
                f"limiter name {name!r} is already bound to {table.algorithm!r} in {self.uri}; "
                f"give the limiter with {algorithm!r} another name"
            )
        return table

    def bind(self, tiers: Sequence[TierSpec]) -> MemoryBinding:
        """Bind *tiers* to their tables."""
        return MemoryBinding([self.table(name, algorithm) for name, algorithm in tiers])

    def sweep(self, now: float) -> int:
        """Forget every idle key of every namespace; return how many were forgotten."""
        return sum(table.sweep(now) for table in self._tables.values())
