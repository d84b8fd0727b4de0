"""From site keys to source sites: unwind exemplars, merge keys, estimate, flag suspects.

When allocations were tracked only part of the time (see the agent's leak
tracer), every count is an estimate: tracked figures divided by the share of
time tracking was on. Growth is the rate at which tracked bytes accumulated
without being freed while tracking was on, so churn (freed soon after) does
not count and a leak grows at its real rate.

A *suspect* is a site that keeps accumulating: its outstanding bytes rise in
at least two snapshot intervals, or its blocks still held were allocated over
at least half the time allocations were tracked. A block allocated once (a
stream's buffer, a pool made at start) is *held*: shown, never a suspect.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

from lineprobe.leaks.model import AllocationPath, AllocationSnapshot, LeakSite, LeakTrace, RawLeakTrace
from lineprobe.symbolization.frame import SourceFrame
from lineprobe.symbolization.resolver import AddressSpace, ImageCache
from lineprobe.symbolization.user_code import user_site
from lineprobe.unwinding.interpreted import interpreted_frames
from lineprobe.unwinding.stack_unwinder import unwind

SUSPECT_MIN_GROWTH = 256.0
"""Bytes per second (estimated) below which a site is not called a suspect."""
SUSPECT_MIN_AGE_S = 0.5
SUSPECT_MIN_RISES = 2
"""Snapshot intervals in which a suspect's outstanding bytes rise: a block allocated once and still
held rises in one interval at most, a leak keeps rising..."""
SUSPECT_MIN_SPREAD = 0.5
"""...or its outstanding blocks were allocated over at least this share of the time allocations
were tracked (what shows a leak when the governor tracked a short window only)."""


def rises_in(history: list[tuple[float, float]]) -> int:
    """In how many intervals between snapshots the outstanding bytes rose."""
    return sum(1 for (_, before), (_, after) in itertools.pairwise(history) if after > before)


@dataclass
class _Merged:
    site: SourceFrame | None
    stack: list[SourceFrame]
    outstanding_bytes: int = 0
    outstanding_count: int = 0
    allocations: int = 0
    oldest: float | None = None
    newest: float | None = None
    keys: set[tuple[int, int, int]] = field(default_factory=set)
    paths: list[tuple[list[SourceFrame], int, int, int]] = field(default_factory=list)


def _frames_for(
    space: AddressSpace,
    key: tuple[int, int, int],
    fp_stack: tuple[int, ...],
    snapshots: dict[tuple[int, int, int], AllocationSnapshot],
) -> list[SourceFrame]:
    snapshot = snapshots.get(key)
    if snapshot is not None:
        unwound = unwind(space, snapshot.registers, snapshot.stack)
        interpreted = interpreted_frames(space, unwound, snapshot.registers, snapshot.stack)
        return space.resolve_stack(unwound.addresses, interpreted)
    # No exemplar: the return address at entry is exact; the frame-pointer stack adds what it can.
    caller = key[0]
    return space.resolve_stack([fp_stack[0], caller, *fp_stack[1:]] if fp_stack else [caller])


def resolve_leaks(raw: RawLeakTrace, cache: ImageCache) -> LeakTrace:
    started = time.monotonic()
    h = raw.header
    space = AddressSpace.of_capture(h, cache)
    first_snapshot: dict[tuple[int, int, int], AllocationSnapshot] = {}
    for snapshot in raw.snapshots:
        first_snapshot.setdefault(snapshot.key, snapshot)
    share = raw.sampling.get("tracked_share", 1.0) or 1.0
    tracked_s = raw.sampling.get("tracked_s", h.duration_s) or h.duration_s
    span = raw.sampling.get("tracking_span_s", h.duration_s) or h.duration_s
    if raw.sampling.get("fraction", 1.0) >= 1.0:
        share = 1.0
    merged: dict[tuple[str | None, int | None, str | None], _Merged] = {}
    key_to_site: dict[tuple[int, int, int], tuple[str | None, int | None, str | None]] = {}
    for site in raw.sites:
        frames = _frames_for(space, site.key, site.frame_pointer_stack, first_snapshot)
        user = user_site(frames)
        ident = (user.path, user.line, user.function) if user else (None, None, None)
        key_to_site[site.key] = ident
        entry = merged.get(ident)
        if entry is None:
            entry = merged[ident] = _Merged(user, frames)
        entry.outstanding_bytes += site.outstanding_bytes
        entry.outstanding_count += site.outstanding_count
        entry.allocations += site.allocations
        entry.keys.add(site.key)
        entry.paths.append((frames, site.outstanding_bytes, site.outstanding_count, site.allocations))
        if site.oldest_age_s is not None:
            entry.oldest = max(entry.oldest or 0.0, site.oldest_age_s)
        if site.newest_age_s is not None and (entry.newest is None or site.newest_age_s < entry.newest):
            entry.newest = site.newest_age_s

    sites = []
    for entry in merged.values():
        history = []
        for at, by_key in raw.history:
            tracked = sum(by_key.get(k, 0) for k in entry.keys)
            history.append((at, tracked / share))
        growth = entry.outstanding_bytes / tracked_s if tracked_s > 0 else 0.0
        spread = (entry.oldest or 0.0) - (entry.newest if entry.newest is not None else entry.oldest or 0.0)
        accumulating = rises_in(history) >= SUSPECT_MIN_RISES or (
            entry.outstanding_count >= 2 and spread >= SUSPECT_MIN_SPREAD * span
        )
        suspect = (
            entry.outstanding_count > 0
            and accumulating
            and growth >= SUSPECT_MIN_GROWTH
            and (entry.oldest or 0.0) >= SUSPECT_MIN_AGE_S
        )
        sites.append(
            LeakSite(
                site=entry.site,
                stack=entry.stack,
                outstanding_bytes=entry.outstanding_bytes / share,
                outstanding_count=entry.outstanding_count / share,
                allocations=entry.allocations / share,
                oldest_age_s=entry.oldest,
                growth_bytes_per_s=growth,
                history=history,
                suspect=suspect,
                paths=[
                    AllocationPath(tuple(frames), size / share, count / share, allocations / share)
                    for frames, size, count, allocations in entry.paths
                ],
            )
        )
    sites.sort(key=lambda s: -s.outstanding_bytes)
    # Everything was tracked unless the governor sampled (fraction < 1): attaching
    # and detaching only trim the edges of the window.
    estimated = raw.sampling.get("fraction", 1.0) < 1.0
    if not estimated:
        share = 1.0
    warnings = []
    lost = int(raw.sampling.get("lost", 0))
    if lost:
        warnings.append(f"{lost} allocations not tracked: a map was full")
    if raw.sampling.get("exemplars_lost"):
        warnings.append(f"{int(raw.sampling['exemplars_lost'])} allocation stacks lost")
    if estimated:
        warnings.append(
            f"allocations were tracked {100 * share:.1f}% of the time (overhead governor): "
            "figures are estimates"
        )
    warnings.extend(h.warnings("trace"))
    warnings.extend(space.problems())
    return LeakTrace(
        header=h,
        sites=sites,
        sampling=raw.sampling,
        estimated=estimated,
        lost=lost,
        warnings=warnings,
        timings=h.timings.resolved_since(started),
    )
