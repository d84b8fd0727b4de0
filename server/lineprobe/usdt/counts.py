"""Hits of a USDT probe counted by argument values (what ``argdist -C`` counts), as the domain
sees them: groups of values, each with its count and rate."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from lineprobe.model.capture import CaptureHeader, Timings
from lineprobe.model.power_of_two import power_of_two_rows
from lineprobe.symbolization.frame import SourceFrame


@dataclass(frozen=True)
class ArgumentChoice:
    """One argument the hits are grouped by."""

    number: int
    """1-based, as ``lineprobe usdt list -v`` numbers them."""
    text: bool = False
    length_argument: int = 0
    """For text: the argument holding its length (0: it ends at its NUL)."""

    def describe(self) -> str:
        if not self.text:
            return f"arg{self.number}"
        length = f", length arg{self.length_argument}" if self.length_argument else ""
        return f"arg{self.number} (text{length})"

    def to_wire(self) -> dict[str, object]:
        return {"number": self.number, "text": self.text, "length_argument": self.length_argument}


@dataclass(frozen=True)
class SiteHits:
    """A probe's hits at one of its sites (``lineprobe.usdt.sites``)."""

    binary: str
    offset: int
    """The file offset of the probe's instruction."""
    hits: int
    source: SourceFrame | None = None
    """The site's line, where the file has DWARF for it (``sites.resolve_sites``)."""


@dataclass(frozen=True)
class ProbeGroup:
    count: int
    values: tuple[int | str, ...]


@dataclass
class ProbeCounts:
    header: CaptureHeader
    probe: str
    group_by: tuple[ArgumentChoice, ...]
    groups: tuple[ProbeGroup, ...]
    """Most hits first."""
    events: int
    lost: int
    truncated: int
    unreadable: int
    sites: int
    histogram: bool = False
    """Counted by the power of two of the first argument: each group's value is its bucket."""
    site_hits: tuple[SiteHits, ...] = ()
    """The hits at each site that fired, most first."""
    warnings: list[str] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)

    def buckets(self) -> list[tuple[int, int, int]]:
        """A histogram's (low, high, count) per power of two, in order, empty ones between
        included (``power_of_two_rows``)."""
        return power_of_two_rows({int(group.values[0]): group.count for group in self.groups})

    def rate(self, count: int) -> float:
        """Hits per second over the window."""
        return count / self.header.duration_s if self.header.duration_s > 0 else 0.0


def resolve_probe_counts(raw: ProbeCounts, launched: bool = False) -> ProbeCounts:
    """Nothing to symbolize: the warnings the figures call for, and the timings."""
    started = time.monotonic()
    warnings: list[str] = []
    if raw.lost:
        warnings.append(f"{raw.lost} hits not counted: the groups map was full (too many distinct values)")
    if raw.truncated:
        warnings.append(f"{raw.truncated} texts longer than the room for them, counted under their start")
    if raw.unreadable:
        warnings.append(f"{raw.unreadable} texts could not be read from the process's memory")
    warnings.extend(raw.header.warnings("count", launched))
    return replace(raw, warnings=warnings, timings=raw.header.timings.resolved_since(started))
