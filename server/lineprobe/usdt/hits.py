"""Hits of a USDT probe one by one (what bcc's ``trace`` prints), with every hit not kept counted
by why: over the rate limit, no room in the perf ring, past the number kept."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from lineprobe.model.capture import CaptureHeader, Timings
from lineprobe.symbolization.frame import SourceFrame
from lineprobe.symbolization.resolver import AddressSpace, ImageCache
from lineprobe.usdt.counts import ArgumentChoice, SiteHits


@dataclass(frozen=True)
class ProbeHitRecord:
    at_s: float
    """Seconds since the probe was armed."""
    tid: int
    values: tuple[int | str, ...]
    stack_id: int = -1
    """Its user stack in ``ProbeTrace.raw_stacks`` (-1: none asked, or none the kernel could walk)."""


@dataclass
class ProbeTrace:
    header: CaptureHeader
    probe: str
    arguments: tuple[ArgumentChoice, ...]
    hits: tuple[ProbeHitRecord, ...]
    events: int
    rate_limited: int
    ring_full: int
    dropped: int
    truncated: int
    unreadable: int
    sites: int
    site_hits: tuple[SiteHits, ...] = ()
    """Every hit by site, recorded or not, most first."""
    raw_stacks: dict[int, tuple[int, ...]] = field(default_factory=dict)
    """User stacks by id, as addresses (innermost first), as the agent sent them."""
    stacks: dict[int, list[SourceFrame]] = field(default_factory=dict)
    """The same, resolved to source frames."""
    warnings: list[str] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)

    def stack_of(self, hit: ProbeHitRecord) -> list[SourceFrame]:
        return self.stacks.get(hit.stack_id, [])

    @property
    def accounted(self) -> bool:
        """Every hit is either kept or counted by why it was not."""
        return self.events == len(self.hits) + self.rate_limited + self.ring_full + self.dropped


def resolve_probe_trace(raw: ProbeTrace, cache: ImageCache, launched: bool = False) -> ProbeTrace:
    """Warnings for every hit not recorded, and the hits' stacks resolved to source lines."""
    started = time.monotonic()
    warnings: list[str] = []
    stacks: dict[int, list[SourceFrame]] = {}
    if raw.raw_stacks:
        h = raw.header
        space = AddressSpace.of_capture(h, cache)
        space.prefetch(raw.raw_stacks.values())
        stacks = {stack: space.resolve_stack(addresses) for stack, addresses in raw.raw_stacks.items()}
        warnings.extend(space.problems())
    if raw.rate_limited:
        warnings.append(f"{raw.rate_limited:,} hits over the rate limit were counted, not recorded")
    if raw.ring_full:
        warnings.append(f"{raw.ring_full:,} hits found the perf ring full (lineprobe read too slowly)")
    if raw.dropped:
        warnings.append(f"{raw.dropped:,} hits came after the most a trace keeps (--max-hits)")
    if raw.truncated:
        warnings.append(f"{raw.truncated:,} texts longer than the room for them were cut")
    if raw.unreadable:
        warnings.append(f"{raw.unreadable:,} texts could not be read from the process's memory")
    warnings.extend(raw.header.warnings("trace", launched))
    return replace(raw, stacks=stacks, warnings=warnings, timings=raw.header.timings.resolved_since(started))
