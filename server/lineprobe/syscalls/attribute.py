"""From exemplars to sites: unwinding each captured call to the user's calling line.

Counts are exact (aggregated in the kernel); exemplars only say where the
calls came from. When one aggregate's exemplars point at several sites, all
are listed, most frequent first, with how many exemplars each had.
"""

from __future__ import annotations

import time
from collections import Counter

from lineprobe.symbolization.frame import SourceFrame
from lineprobe.symbolization.resolver import AddressSpace, ImageCache
from lineprobe.symbolization.user_code import user_site
from lineprobe.syscalls.model import (
    CallSnapshot,
    Failure,
    FileIoStat,
    RawSyscallTrace,
    SiteCount,
    SyscallTrace,
)
from lineprobe.unwinding.interpreted import interpreted_frames
from lineprobe.unwinding.stack_unwinder import unwind


def _sites(space: AddressSpace, snapshots: tuple[CallSnapshot, ...]) -> list[SiteCount]:
    by_site: dict[tuple[str | None, int | None, str | None], SiteCount] = {}
    counts: Counter[tuple[str | None, int | None, str | None]] = Counter()
    for snapshot in snapshots:
        unwound = unwind(space, snapshot.registers, snapshot.stack)
        interpreted = interpreted_frames(space, unwound, snapshot.registers, snapshot.stack)
        frames: list[SourceFrame] = space.resolve_stack(unwound.addresses, interpreted)
        site = user_site(frames)
        key = (site.path, site.line, site.function) if site else (None, None, None)
        counts[key] += 1
        if key not in by_site:
            by_site[key] = SiteCount(site, frames, 0, unwound.stop_reason)
    result = []
    for key, n in counts.most_common():
        entry = by_site[key]
        entry.exemplars = n
        result.append(entry)
    # A known site beats "no user frame found" when both occur.
    result.sort(key=lambda s: (s.site is None, -s.exemplars))
    return result


def resolve_trace(raw: RawSyscallTrace, cache: ImageCache) -> SyscallTrace:
    started = time.monotonic()
    h = raw.header
    space = AddressSpace.of_capture(h, cache)
    failures = [
        Failure(f.syscall, f.errno, f.path, f.count, _sites(space, f.snapshots)) for f in raw.failures
    ]
    io = [
        FileIoStat(
            syscall=i.syscall,
            fd=i.fd,
            file=i.file,
            count=i.count,
            bytes=i.bytes,
            max_us=i.max_ns / 1000,
            latency=i.latency,
            sites=_sites(space, i.snapshots),
        )
        for i in raw.io
    ]
    io.sort(key=lambda i: -i.p99_us)
    warnings = []
    if raw.lost:
        warnings.append(f"{raw.lost} system calls not aggregated: a map was full")
    if raw.inflight_full:
        warnings.append(f"{raw.inflight_full} calls not timed: too many calls in flight")
    if raw.exemplars_lost:
        warnings.append(f"{raw.exemplars_lost} call stacks lost (counts are still exact)")
    if raw.descriptor_changes_lost:
        warnings.append(
            f"{raw.descriptor_changes_lost} descriptor changes lost: some files may be named unknown"
        )
    if raw.block_records_dropped:
        warnings.append(
            f"{raw.block_records_dropped} block I/O records not kept (the histogram has them all)"
        )
    warnings.extend(h.warnings("trace"))
    unattributed = [f for f in failures if f.count and not any(s.site for s in f.sites)]
    if unattributed:
        warnings.append(f"{len(unattributed)} failure kinds have no call site in user code with debug info")
    warnings.extend(space.problems())
    timings = h.timings.resolved_since(started)
    return SyscallTrace(
        header=h,
        totals=list(raw.totals),
        failures=sorted(failures, key=lambda f: -f.count),
        io=io,
        sleeps=list(raw.sleeps),
        block_latency=raw.block_latency,
        block_requests=list(raw.block_requests),
        block_records_dropped=raw.block_records_dropped,
        cpu=list(raw.cpu),
        lost=raw.lost,
        warnings=warnings,
        timings=timings,
    )
