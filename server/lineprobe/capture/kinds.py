"""The kinds of capture, each one entry: its program in the agent, and how its capture resolves.

A kind's wire side (request, answer, conversion) is in ``wire.WIRE_KINDS``
under the same name; its report is in ``lineprobe.cli`` (``REPORTS``) and its
editor view in ``lineprobe.lsp.views`` (``VIEWS``), each a table keyed by the
kind's name, so adding a kind is an entry in each, not a path through every
layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from lineprobe.capture.wire import parameters
from lineprobe.capture.wire.parameters import Parameter
from lineprobe.costs.model import StackProfile
from lineprobe.leaks.attribute import resolve_leaks
from lineprobe.leaks.model import LeakTrace
from lineprobe.profiling.aggregate import resolve_profile
from lineprobe.profiling.wait_reasons import split_by_reason
from lineprobe.profiling.wall_clock import resolve_wall_clock
from lineprobe.symbolization.resolver import ImageCache
from lineprobe.syscalls.attribute import resolve_trace
from lineprobe.syscalls.model import SyscallTrace
from lineprobe.system.disk import DiskActivity, resolve_disk_activity
from lineprobe.system.files import FileActivity, resolve_file_activity
from lineprobe.system.irqs import Interrupts, resolve_interrupts
from lineprobe.system.page_cache import PageCacheActivity, resolve_page_cache
from lineprobe.tracepoints.counts import TracepointCounts, resolve_tracepoint_counts
from lineprobe.tracepoints.records import TracepointTrace, resolve_tracepoint_trace
from lineprobe.usdt.counts import ProbeCounts, resolve_probe_counts
from lineprobe.usdt.hits import ProbeTrace, resolve_probe_trace
from lineprobe.usdt.jvm_events import JvmEvents, resolve_jvm_events
from lineprobe.usdt.sites import with_site_lines


class Resolved(Protocol):
    """What every kind's resolved result has: warnings for the user."""

    warnings: list[str]


R = TypeVar("R", bound=Resolved)


@dataclass(frozen=True)
class CaptureKind(Generic[R]):
    name: str
    """Its key in every table (``wire.WIRE_KINDS``, the CLI's reports, the LSP's views)."""
    program: str
    """The agent program that captures it (what ``prepare`` compiles)."""
    verb: str
    """What it does while the window is open, for progress: "sampling", "tracing"."""
    resolve: Callable[[Any, ImageCache, bool], R]
    """Raw capture, image cache, whether the target was launched -> the resolved result."""
    duration: Parameter = parameters.DURATION_S
    """Its window's bounds and default length."""
    user_stacks: bool = False
    """Its result is user stacks on their lines: a managed runtime's JIT code must be named for it
    (capture/runtime_support.py: the flags of a launched node or java, the agent of a running JVM)."""


PROFILE: CaptureKind[StackProfile] = CaptureKind(
    "profile",
    "cpu",
    "sampling",
    resolve_profile,
    user_stacks=True,
)
SYSCALLS: CaptureKind[SyscallTrace] = CaptureKind(
    "syscalls",
    "syscalls",
    "tracing",
    lambda raw, cache, launched: resolve_trace(raw, cache),
    user_stacks=True,
)
LEAKS: CaptureKind[LeakTrace] = CaptureKind(
    "leaks",
    "leaks",
    "tracking",
    lambda raw, cache, launched: resolve_leaks(raw, cache),
    parameters.LEAKS_DURATION_S,
    user_stacks=True,
)
STACKCOUNT: CaptureKind[StackProfile] = CaptureKind(
    "stackcount",
    "stackcount",
    "counting",
    resolve_profile,
    user_stacks=True,
)
"""Stack counts at a tracepoint or USDT probe: weighted stacks, resolved as a CPU profile is."""
LINE_HITS: CaptureKind[StackProfile] = CaptureKind(
    "line-hits",
    "stackcount",
    "counting",
    resolve_profile,
    user_stacks=True,
)
"""Hits of source lines (uprobes at their sites), by the stacks that reached them."""
OFFCPU: CaptureKind[StackProfile] = CaptureKind(
    "offcpu",
    "stackcount",
    "measuring",
    lambda raw, cache, launched: split_by_reason(resolve_profile(raw, cache, launched=launched)),
    user_stacks=True,
)
"""Off-CPU time: stacks weighted by the nanoseconds their threads spent away from the CPU, split
by the reason their kernel stacks give (columns beside the total)."""
WALL_CLOCK: CaptureKind[StackProfile] = CaptureKind(
    "wallclock",
    "cpu",
    "measuring",
    lambda raw, cache, launched: resolve_wall_clock(raw, cache, launched=launched),
    user_stacks=True,
)
"""Wall-clock time: CPU samples (as time) and off-CPU time of the same window, added up per stack."""
PROBE_ARGS: CaptureKind[ProbeCounts] = CaptureKind(
    "probe-args",
    "probe-args",
    "counting",
    lambda raw, cache, launched: resolve_probe_counts(with_site_lines(raw, cache), launched),
)
"""Hits of a USDT probe by argument values: no stacks; its sites' lines found."""
PROBE_TRACE: CaptureKind[ProbeTrace] = CaptureKind(
    "probe-trace",
    "probe-trace",
    "tracing",
    lambda raw, cache, launched: resolve_probe_trace(with_site_lines(raw, cache), cache, launched),
)
"""Hits of a USDT probe one by one, with argument values and times."""
JVM_EVENTS: CaptureKind[JvmEvents] = CaptureKind(
    "jvm-events",
    "jvm-events",
    "watching",
    lambda raw, cache, launched: resolve_jvm_events(raw, launched),
)
"""HotSpot's GC pauses and class loads: no stacks, nothing to symbolize."""
TRACEPOINT_TRACE: CaptureKind[TracepointTrace] = CaptureKind(
    "tracepoint-trace",
    "tracepoint-trace",
    "tracing",
    lambda raw, cache, launched: resolve_tracepoint_trace(raw, launched),
)
"""A kernel tracepoint's records, decoded with its format: nothing to symbolize."""
TRACEPOINT_COUNT: CaptureKind[TracepointCounts] = CaptureKind(
    "tracepoint-count",
    "tracepoint-count",
    "counting",
    lambda raw, cache, launched: resolve_tracepoint_counts(raw, launched),
)
"""A kernel tracepoint's hits counted in the kernel by a field."""
DISK: CaptureKind[DiskActivity] = CaptureKind(
    "disk", "disk", "tracing", lambda raw, cache, launched: resolve_disk_activity(raw, launched)
)
"""Block I/O by device and process (biotop, biolatency -D)."""
FILES: CaptureKind[FileActivity] = CaptureKind(
    "files", "files", "tracing", lambda raw, cache, launched: resolve_file_activity(raw, launched)
)
"""File I/O by process, file and thread, and the slow calls one by one (filetop, fileslower)."""
PAGE_CACHE: CaptureKind[PageCacheActivity] = CaptureKind(
    "pagecache", "pagecache", "tracing", lambda raw, cache, launched: resolve_page_cache(raw, launched)
)
"""Pages added to, removed from, dirtied in and written back from the page cache, by file."""
IRQS: CaptureKind[Interrupts] = CaptureKind(
    "irqs", "irqs", "tracing", lambda raw, cache, launched: resolve_interrupts(raw, launched)
)
"""Interrupt time by hard IRQ and softirq vector (hardirqs, softirqs), machine-wide."""
KINDS: dict[str, CaptureKind[Any]] = {
    kind.name: kind
    for kind in (
        PROFILE,
        SYSCALLS,
        LEAKS,
        STACKCOUNT,
        OFFCPU,
        LINE_HITS,
        WALL_CLOCK,
        PROBE_ARGS,
        PROBE_TRACE,
        JVM_EVENTS,
        TRACEPOINT_TRACE,
        TRACEPOINT_COUNT,
        DISK,
        FILES,
        PAGE_CACHE,
        IRQS,
    )
}
