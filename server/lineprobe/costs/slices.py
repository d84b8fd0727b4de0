"""A profile sliced by thread and by time: the same stacks, fewer of them, tallied again.

A CPU profile's stacks carry the thread they were sampled in and the time bucket
they fell in (``WeightedStack.thread``, ``time_bucket``; the kernel counts them
so, with no event per sample). Slicing keeps the stacks of some threads and of a
time range and re-tallies lines and functions, so shares, heat and the flame graph
are of the slice, as in hotspot's and speedscope's thread and range filters.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, replace

from lineprobe.costs.aggregate import column_totals, tally
from lineprobe.costs.model import StackProfile, WeightedStack

ATTACHED_BUCKETS = 300
"""An attached profile's time is cut in about this many buckets: enough to see phases of a second
in a minute's profile, few enough that the kernel's map holds every (stack, thread, bucket)."""
SHORTEST_BUCKET_MS = 100
"""Shorter buckets would mostly hold single samples at 99 Hz."""


def time_bucket_ms(duration_s: float, launched: bool) -> int:
    """The time bucket width to ask the agent for. A launched command runs for as long as it
    runs (its window is only an upper bound), so it gets the shortest buckets; the kernel counts
    what does not fit without its time, and the report says so."""
    if launched:
        return SHORTEST_BUCKET_MS
    return max(SHORTEST_BUCKET_MS, math.ceil(duration_s * 1000 / ATTACHED_BUCKETS))


class SliceError(ValueError):
    """A slice this profile cannot give (no threads or no time kept, an unknown thread)."""


@dataclass(frozen=True)
class TimeRange:
    """Seconds from the start of the profile; either end may be open."""

    start_s: float | None = None
    end_s: float | None = None

    @classmethod
    def parse(cls, text: str) -> TimeRange:
        """``"2:4.5"``, ``"2:"`` (from 2 s on) or ``":4.5"`` (up to 4.5 s)."""
        start, colon, end = text.partition(":")
        if not colon:
            raise SliceError(f"{text!r}: a time range is START:END in seconds, e.g. 2:4.5 (or 2: or :4.5)")
        try:
            start_s, end_s = (float(start) if start.strip() else None, float(end) if end.strip() else None)
        except ValueError:
            raise SliceError(f"{text!r}: START and END are seconds from the profile's start") from None
        return cls.between(start_s, end_s)

    @classmethod
    def between(cls, start_s: float | None, end_s: float | None) -> TimeRange:
        if start_s is not None and end_s is not None and end_s <= start_s:
            raise SliceError(f"the range {start_s:g}:{end_s:g} ends before it starts")
        return cls(start_s, end_s)

    def holds(self, bucket: int, width_ns: int) -> bool:
        """Whether the bucket's middle lies in the range (a bucket is never split)."""
        middle_s = (bucket + 0.5) * width_ns / 1e9
        return (self.start_s is None or middle_s >= self.start_s) and (
            self.end_s is None or middle_s < self.end_s
        )

    def describe(self) -> str:
        start = f"{self.start_s:g} s" if self.start_s is not None else "the start"
        end = f"{self.end_s:g} s" if self.end_s is not None else "the end"
        return f"from {start} to {end}"


@dataclass(frozen=True)
class ThreadCost:
    tid: int
    name: str
    cost: int
    """The primary column's total in this thread."""


@dataclass(frozen=True)
class ThreadTimeline:
    tid: int
    name: str
    costs: list[int]
    """The primary column per time bucket, bucket 0 first."""


def threads_of(profile: StackProfile) -> list[ThreadCost]:
    """Every thread with costs, busiest first (empty when the stacks carry no thread)."""
    costs: dict[int, int] = {}
    for stack in profile.stacks:
        if stack.thread is not None:
            costs[stack.thread] = costs.get(stack.thread, 0) + stack.count
    return sorted(
        (ThreadCost(tid, profile.thread_names.get(tid, ""), cost) for tid, cost in costs.items()),
        key=lambda t: (-t.cost, t.tid),
    )


def timeline(profile: StackProfile) -> list[ThreadTimeline]:
    """The primary column per thread per time bucket (empty when no time was kept)."""
    if not profile.time_bucket_ns:
        return []
    last = max((s.time_bucket for s in profile.stacks if s.time_bucket is not None), default=-1)
    rows: dict[int, list[int]] = {}
    for stack in profile.stacks:
        if stack.time_bucket is None:
            continue
        row = rows.setdefault(stack.thread if stack.thread is not None else 0, [0] * (last + 1))
        row[stack.time_bucket] += stack.count
    return [
        ThreadTimeline(tid, profile.thread_names.get(tid, ""), rows[tid])
        for tid in sorted(rows, key=lambda tid: (-sum(rows[tid]), tid))
    ]


def thread_ids(profile: StackProfile, wanted: Collection[str]) -> set[int]:
    """The tids that ``wanted`` names, each a tid or a thread name (every thread of that name)."""
    known = {t.tid: t.name for t in threads_of(profile)}
    if not known:
        raise SliceError("this capture keeps no threads (taken before lineprobe counted samples by thread)")
    chosen: set[int] = set()
    for text in wanted:
        named = {tid for tid, name in known.items() if name == text}
        if text.isdigit() and int(text) in known:
            named.add(int(text))
        if not named:
            listed = ", ".join(f"{tid} ({name})" for tid, name in sorted(known.items()))
            raise SliceError(f"no thread {text!r} in this capture; its threads: {listed}")
        chosen |= named
    return chosen


def sliced(
    profile: StackProfile, threads: Collection[int] | None = None, time_range: TimeRange | None = None
) -> StackProfile:
    """The profile of ``threads`` (tids) within ``time_range``, tallied again; shares are of the
    slice. Stacks counted without a time fall outside every time range."""
    if threads is None and time_range is None:
        return profile
    if time_range is not None and not profile.time_bucket_ns:
        raise SliceError("this capture keeps no time: it cannot be sliced by time range")

    def kept(stack: WeightedStack) -> bool:
        if threads is not None and stack.thread not in threads:
            return False
        if time_range is None:
            return True
        return stack.time_bucket is not None and time_range.holds(stack.time_bucket, profile.time_bucket_ns)

    stacks = [stack for stack in profile.stacks if kept(stack)]
    lines, functions = tally(profile.columns, stacks)
    parts = []
    if threads is not None:
        names = ", ".join(f"{tid} ({profile.thread_names.get(tid, '?')})" for tid in sorted(threads))
        parts.append(f"thread{'s' if len(threads) > 1 else ''} {names}")
    if time_range is not None:
        parts.append(time_range.describe())
    return replace(
        profile,
        stacks=stacks,
        totals=column_totals(profile.columns, stacks),
        lines=lines,
        functions=functions,
        selection=" ".join(parts),
    )
