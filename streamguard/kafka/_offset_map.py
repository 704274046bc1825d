"""The completed offsets above the committed one, carried in the commit's metadata (#13).

With key-ordered or unordered processing, records above the lowest incomplete offset of a
partition complete early; the committed offset can only be that lowest incomplete one, so a
crash would deliver all of them again. Every commit therefore carries, in Kafka's offset
commit metadata string, the set of offsets above the committed one that already completed;
a consumer that is assigned the partition later skips them (the idea of Confluent's Parallel
Consumer, in a format of our own).

The format (version 1)::

    "sg1:" + base64( kind:u8 | base:u64 | span:u32 | body )

* ``base`` is the committed offset the set belongs to (metadata whose base is not the
  committed offset is ignored: someone else moved the offset);
* ``span`` is how many offsets from ``base`` the body describes (``base .. base+span-1``);
  every offset in that window that is not in the set is incomplete, and nothing is known
  about offsets beyond it (they are delivered again);
* ``kind`` is ``BITSET`` (bit *i* set: ``base+i`` completed) or ``RUNS`` (alternating run
  lengths, incomplete first, as unsigned LEB128 varints), plus ``ZLIB`` if the body is
  compressed. The smallest of the four is written.

**How large a gap fits.** Brokers refuse metadata longer than ``offset.metadata.max.bytes``
(4,096 by default). The bitset needs one bit per offset whatever the pattern, so every set
within :func:`guaranteed_span` offsets above the committed offset fits — 24,448 offsets at
4,096 bytes. Sets with long runs (a few stuck records among many completed ones) fit much
further: each run costs a varint, so e.g. one stuck record followed by a million completed
offsets takes a few bytes. **Beyond what fits**, the encoding describes a prefix of the window
that fits — at least :func:`guaranteed_span` offsets, and within 3 % of the longest that
fits — and leaves the rest out: those completed records are delivered again
after a crash (never lost), and the commit itself never fails because of the metadata. The
source keeps each partition's set within 75 % of the limit while records are in flight, by
handing out no more of its records until the gap closes (:mod:`._gap`, the gap bound).
At most :data:`MAX_RUNS` runs of completed offsets are looked at (more than the guaranteed
span can hold), so a commit's encoding costs tens of milliseconds at worst, whatever the gap.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import re
import struct
import sys
import zlib
from collections.abc import Iterable, Sequence

PREFIX = "sg1:"
DEFAULT_LIMIT = 4096  # Kafka's offset.metadata.max.bytes default
BITSET, RUNS, ZLIB = 1, 2, 0x80
_HEADER = struct.Struct(">BQI")
_MAX_SPAN = 2**32 - 1
MAX_RUNS = 20_000  # runs of completed offsets described at most: bounds the work per commit
_MAX_BODY = 1 << 20  # a decompressed body larger than this is not ours (zip bomb guard)
_ONES = re.compile("1+")
_INF = float("inf")

Ranges = list[tuple[int, int]]  # sorted, disjoint, half-open [start, stop) offset ranges


def guaranteed_span(limit: int = DEFAULT_LIMIT) -> int:
    """How many offsets above the committed one any completion pattern may span and still
    fit in metadata of *limit* characters (the uncompressed bitset's capacity)."""
    payload = (limit - len(PREFIX)) // 4 * 3
    return max(0, (payload - _HEADER.size) * 8)


def ranges_of(offsets: Iterable[int]) -> Ranges:
    """Sorted offsets as half-open ranges of consecutive offsets (duplicates merge)."""
    ranges: Ranges = []
    for o in offsets:
        if ranges and ranges[-1][1] >= o:
            if o == ranges[-1][1]:
                ranges[-1] = (ranges[-1][0], o + 1)
        else:
            ranges.append((o, o + 1))
    return ranges


def union(a: Sequence[tuple[int, int]], b: Sequence[tuple[int, int]]) -> Ranges:
    """The union of two range lists, merged (touching ranges become one)."""
    out: Ranges = []
    for start, stop in sorted((*a, *b)):
        if out and start <= out[-1][1]:
            if stop > out[-1][1]:
                out[-1] = (out[-1][0], stop)
        else:
            out.append((start, stop))
    return out


def above(ranges: Sequence[tuple[int, int]], low: int) -> Ranges:
    """*ranges* clipped to offsets ``>= low``."""
    return [(max(s, low), e) for s, e in ranges if e > low]


def advance(low: int, ranges: Sequence[tuple[int, int]]) -> int:
    """*low* moved past the completed range that starts at it, if any (contiguity)."""
    for s, e in ranges:
        if s <= low < e:
            return e
        if s > low:
            break
    return low


def contains(ranges: Sequence[tuple[int, int]], offset: int) -> bool:
    """True if *offset* lies in one of the sorted *ranges*."""
    i = bisect.bisect_right(ranges, (offset, _INF)) - 1
    return i >= 0 and ranges[i][0] <= offset < ranges[i][1]


def _first_above(ranges: Sequence[tuple[int, int]], base: int) -> int:
    """The index of the first of the sorted *ranges* that reaches above *base*."""
    i = bisect.bisect_right(ranges, (base, _INF))  # ranges from here start above base
    if i and ranges[i - 1][1] > base:
        i -= 1
    return i


def _relative(base: int, ranges: Sequence[tuple[int, int]]) -> tuple[Ranges, list[int], int]:
    """*ranges* (at most :data:`MAX_RUNS` of them, above *base*) relative to *base*, their
    starts, and the span that describes them all."""
    rel = [(s - base, e - base) for s, e in ranges]
    return rel, [s for s, _ in rel], min(rel[-1][1], _MAX_SPAN)  # span: a 32-bit field


def encoded_length(base: int, ranges: Sequence[tuple[int, int]]) -> int:
    """How many characters :func:`encode` needs to describe *all* the completed *ranges*
    above *base* (cut to no limit): what the gap bound (:mod:`._gap`) measures. A set of
    more than :data:`MAX_RUNS` runs, which no encoding describes whole, counts as
    ``sys.maxsize``."""
    i = _first_above(ranges, base)
    if len(ranges) - i > MAX_RUNS:
        return sys.maxsize
    ranges = above(ranges[i:], base)
    if not ranges:
        return 0
    rel, starts, full = _relative(base, ranges)
    if full < rel[-1][1]:
        return sys.maxsize
    return len(_encode_window(base, rel, starts, full))


def encode(base: int, ranges: Sequence[tuple[int, int]], limit: int = DEFAULT_LIMIT) -> str:
    """Metadata (at most *limit* characters) describing the completed *ranges* above *base*,
    or ``""`` if there are none. Offsets below *base* are ignored. If the whole set does not
    fit, a prefix window is described: at least :func:`guaranteed_span` offsets, and within
    3 % of the longest window that fits."""
    i = _first_above(ranges, base)
    ranges = above(ranges[i:i + MAX_RUNS], base)
    if not ranges:
        return ""
    rel, starts, full = _relative(base, ranges)
    text = _encode_window(base, rel, starts, full)
    if len(text) <= limit:
        return text
    # From the window every pattern fits in (lo) and the whole gap (hi), guess the span from
    # the size being about linear in it, then bisect: a few encodes of about what fits.
    lo, hi = min(guaranteed_span(limit), full), full
    estimate = full * limit // len(text)
    for guess in (estimate, estimate * 7 // 8):
        if lo < guess < hi:
            if len(_encode_window(base, rel, starts, guess)) <= limit:
                lo = guess
                break
            hi = guess
    while hi - lo > max(1, lo // 32):
        mid = (lo + hi) // 2
        if len(_encode_window(base, rel, starts, mid)) <= limit:
            lo = mid
        else:
            hi = mid
    return _encode_window(base, rel, starts, lo)


def _encode_window(base: int, rel: Ranges, starts: list[int], span: int) -> str:
    """The encoding of the (relative) ranges inside ``0 .. span-1``."""
    k = bisect.bisect_left(starts, span)
    if k == 0:
        return ""
    clipped = rel[:k]
    if clipped[-1][1] > span:
        clipped[-1] = (clipped[-1][0], span)
    span = clipped[-1][1]  # trailing incomplete offsets need no description
    bodies = [(RUNS, _runs(clipped))]
    if span <= _MAX_BODY * 8:
        bodies.append((BITSET, _bitset(clipped, span)))
    candidates = [*bodies, *((kind | ZLIB, zlib.compress(body)) for kind, body in bodies)]
    kind, body = min(candidates, key=lambda c: len(c[1]))
    payload = _HEADER.pack(kind, base, span) + body
    return PREFIX + base64.b64encode(payload).decode("ascii")


def _bitset(ranges: Sequence[tuple[int, int]], span: int) -> bytes:
    chars = bytearray(b"0") * span  # character i is bit i: linear in the span
    for s, e in ranges:
        chars[s:e] = b"1" * (e - s)
    return int(chars[::-1], 2).to_bytes((span + 7) // 8, "little")


def _runs(ranges: Sequence[tuple[int, int]]) -> bytes:
    out = bytearray()
    at = 0
    for s, e in ranges:
        _varint(out, s - at)  # incomplete run (0 only at the very start)
        _varint(out, e - s)   # completed run
        at = e
    return bytes(out)


def _varint(out: bytearray, n: int) -> None:
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


class MetadataError(ValueError):
    """Metadata that is not a valid version-1 encoding for the committed offset."""


def decode(metadata: str | None, committed: int) -> Ranges:
    """The completed ranges above *committed* described by *metadata* (``[]`` for empty
    metadata). Raises :class:`MetadataError` for anything else than a valid encoding made
    for this committed offset: the caller ignores it and delivers those records again."""
    if not metadata:
        return []
    if not metadata.startswith(PREFIX):
        raise MetadataError(f"not streamguard's (no {PREFIX!r} prefix)")
    try:
        payload = base64.b64decode(metadata[len(PREFIX):], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MetadataError(f"bad base64 ({exc})") from None
    if len(payload) < _HEADER.size:
        raise MetadataError(f"{len(payload)} bytes is shorter than the header")
    kind, base, span = _HEADER.unpack_from(payload)
    if base != committed:
        raise MetadataError(f"written for offset {base}, but the committed offset is "
                            f"{committed}")
    body = payload[_HEADER.size:]
    if kind & ZLIB:
        body = _inflate(body)
    kind &= ~ZLIB
    if kind == BITSET:
        ranges = _from_bitset(body, span)
    elif kind == RUNS:
        ranges = _from_runs(body, span)
    else:
        raise MetadataError(f"unknown kind {kind}")
    return [(base + s, base + e) for s, e in ranges]


def _inflate(body: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(body, _MAX_BODY)
    except zlib.error as exc:
        raise MetadataError(f"bad zlib body ({exc})") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise MetadataError("zlib body is truncated or larger than 1 MiB")
    return out


def _from_bitset(body: bytes, span: int) -> Ranges:
    if len(body) != (span + 7) // 8:
        raise MetadataError(f"bitset of {len(body)} bytes for a span of {span}")
    bits = bin(int.from_bytes(body, "little"))[2:][::-1]  # character i is bit i
    if len(bits) > span:
        raise MetadataError("bitset has bits beyond its span")
    return [(m.start(), m.end()) for m in _ONES.finditer(bits)]


def _from_runs(body: bytes, span: int) -> Ranges:
    numbers: list[int] = []
    n = shift = 0
    for byte in body:
        n |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            numbers.append(n)
            n = shift = 0
    if shift or len(numbers) % 2:
        raise MetadataError("run lengths are cut short")
    ranges: Ranges = []
    at = 0
    for gap, length in zip(numbers[::2], numbers[1::2], strict=True):
        if length == 0 or (gap == 0 and ranges):
            raise MetadataError("run lengths are not in canonical form")
        ranges.append((at + gap, at + gap + length))
        at += gap + length
    if at != span:
        raise MetadataError(f"run lengths cover {at} offsets, the span says {span}")
    return ranges
