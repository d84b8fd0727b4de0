"""Wall-clock time per line: where a process's threads are, on the CPU or off it, over one
window. The agent takes CPU samples and off-CPU time together (``wallclock``); here each CPU
sample becomes the time it stands for (one sampling period) and is added to the off-CPU
nanoseconds, so that a line's cost is all the time its threads spent there, running or waiting.

Columns: wall-clock time (primary: shares, heat, the flame graph), then its on-CPU and off-CPU
parts. For a process whose threads all live through the window, the total is about the window's
length times the threads (the test's ground truth).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from lineprobe.costs.aggregate import stack_profile
from lineprobe.costs.model import CostColumn, CostUnit, StackProfile, WeightedStack
from lineprobe.model.capture import CaptureHeader
from lineprobe.profiling.aggregate import resolve_profile
from lineprobe.profiling.model import RawProfile
from lineprobe.symbolization.resolver import ImageCache

WALL_CLOCK_TIME = CostColumn("wall-clock time", CostUnit.NANOSECONDS, "wallclock-line")
ON_CPU_TIME = CostColumn("on-CPU time", CostUnit.NANOSECONDS, "wallclock-line")
OFF_CPU_TIME = CostColumn("off-CPU time", CostUnit.NANOSECONDS, "wallclock-line")


WALL_CLOCK_LIMITS = (
    "on-CPU time is estimated: each CPU sample counts as one sampling period on its stack",
    "a wait still going on when the window ends is not counted",
)
"""What wall-clock time cannot say, and why."""


@dataclass(frozen=True)
class RawWallClock:
    header: CaptureHeader
    on_cpu: RawProfile
    off_cpu: RawProfile


def resolve_wall_clock(raw: RawWallClock, cache: ImageCache, launched: bool = False) -> StackProfile:
    started = time.monotonic()
    # One header for both halves (a replay points the top one at its archived binaries).
    on = resolve_profile(replace(raw.on_cpu, header=raw.header), cache, launched)
    off = resolve_profile(replace(raw.off_cpu, header=raw.header), cache, launched)
    frequency = raw.on_cpu.frequency
    period_ns = 1e9 / frequency if frequency else 0.0
    stacks = [
        WeightedStack((round(s.count * period_ns), round(s.count * period_ns), 0), s.frames)
        for s in on.stacks
    ]
    stacks += [WeightedStack((s.count, 0, s.count), s.frames) for s in off.stacks]
    warnings = list(dict.fromkeys(on.warnings + off.warnings))
    warnings.append(
        f"on-CPU time is estimated from {on.total:,} CPU samples at {frequency} Hz"
        f" ({period_ns / 1e6:.1f} ms each); off-CPU time is measured"
    )
    counters = {f"on_cpu_{name}": value for name, value in on.counters.items()}
    counters.update({f"off_cpu_{name}": value for name, value in off.counters.items()})
    return stack_profile(
        raw.header,
        (WALL_CLOCK_TIME, ON_CPU_TIME, OFF_CPU_TIME),
        stacks,
        warnings,
        raw.header.timings.resolved_since(started),
        lost=on.lost + off.lost,
        counters=counters,
        exemplars=on.exemplars + off.exemplars,
        unwinding={
            reason: on.unwinding.get(reason, 0) + off.unwinding.get(reason, 0)
            for reason in {*on.unwinding, *off.unwinding}
        },
        stale_sources={**on.stale_sources, **off.stale_sources},
        limits=WALL_CLOCK_LIMITS,
    )
