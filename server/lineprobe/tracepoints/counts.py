"""A tracepoint's hits counted in the kernel by one field (what argdist and bpftrace's
``count()`` by a field give), or by the power of two of an integer field (``hist()``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from lineprobe.model.capture import CaptureHeader, Timings
from lineprobe.model.power_of_two import power_of_two_rows


@dataclass(frozen=True)
class FieldCount:
    count: int
    value: int | str
    """The field's value, or with a histogram its power of two (0 for 0, K for 2^(K-1)..2^K-1)."""


@dataclass
class TracepointCounts:
    header: CaptureHeader
    tracepoint: str
    by: str
    """The field counted by."""
    histogram: bool
    groups: tuple[FieldCount, ...]
    """Most hits first."""
    events: int
    lost: int
    unreadable: int
    warnings: list[str] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)

    def rate(self, count: int) -> float:
        return count / self.header.duration_s if self.header.duration_s > 0 else 0.0

    def buckets(self) -> list[tuple[int, int, int]]:
        """A histogram's (low, high, count) per power of two, in order, empty ones between
        included (``power_of_two_rows``)."""
        return power_of_two_rows({int(group.value): group.count for group in self.groups})


def resolve_tracepoint_counts(raw: TracepointCounts, launched: bool = False) -> TracepointCounts:
    started = time.monotonic()
    warnings: list[str] = []
    if raw.lost:
        warnings.append(f"{raw.lost:,} hits not counted by value: more than 10,240 distinct values")
    if raw.unreadable:
        warnings.append(f"{raw.unreadable:,} hits whose field could not be read")
    warnings.extend(raw.header.warnings("count", launched))
    return replace(raw, warnings=warnings, timings=raw.header.timings.resolved_since(started))
