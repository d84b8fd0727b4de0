"""Domain types of a CPU profile: plain dataclasses, no wire or LSP shape.

``RawProfile`` is what the agent captured (addresses); ``CpuProfile`` is the
same data resolved to source, with per-line and per-function statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lineprobe.model.capture import CaptureHeader, Timings
from lineprobe.symbolization.frame import SourceFrame
from lineprobe.unwinding.stack_unwinder import StackCopy, UserRegisters


@dataclass(frozen=True)
class Cost:
    """What a profile's stack weights count, as words for reports and hovers: the cost column of
    weighted stacks (CPU samples, or hits of a tracepoint: the same aggregation, heat, flame
    graph and hovers serve both)."""

    event: str
    """What was counted: "CPU", or a tracepoint's name."""
    unit: str
    """One weight: "samples", "hits"."""


CPU_SAMPLES = Cost("CPU", "samples")


@dataclass(frozen=True)
class SampledStack:
    count: int
    user: tuple[int, ...]
    """Raw user addresses, leaf first."""
    kernel: tuple[str, ...]
    """Kernel function names, leaf first (the agent names them)."""
    user_stack_missing: bool = False
    process: str | None = None
    """System-wide counts: the process the stack is of, shown as its outermost frame (user
    addresses cannot be resolved without that process's map, so they are not kept)."""


@dataclass(frozen=True)
class StackSnapshot:
    """Registers and a copy of the user stack of one sample (an exemplar), for CFI unwinding."""

    stack_index: int
    """The ``RawProfile.stacks`` entry this sample was counted in, or -1."""
    tid: int
    registers: UserRegisters
    stack: StackCopy


@dataclass(frozen=True)
class LossCounters:
    samples: int
    lost: int
    user_stack_missing: int
    kernel_stack_missing: int
    stack_collisions: int
    exemplars_lost: int = 0


@dataclass(frozen=True)
class RawProfile:
    header: CaptureHeader
    frequency: int
    counters: LossCounters
    stacks: tuple[SampledStack, ...]
    snapshots: tuple[StackSnapshot, ...] = ()
    cost: Cost = CPU_SAMPLES


@dataclass(frozen=True)
class LineKey:
    path: str
    line: int


@dataclass
class Neighbour:
    """A caller or callee of a line, with the samples they share."""

    function: str | None
    path: str | None
    line: int | None
    samples: int


@dataclass
class LineStat:
    path: str
    line: int
    function: str | None
    self_samples: int = 0
    total_samples: int = 0
    callers: dict[tuple[str | None, str | None, int | None], int] = field(default_factory=dict)
    callees: dict[tuple[str | None, str | None, int | None], int] = field(default_factory=dict)
    """The user's own callees; the kernel is kept apart, in ``kernel_callees``."""
    kernel_callees: dict[str, int] = field(default_factory=dict)
    """Kernel entry points right below the line (a system call, an interrupt returning to user
    mode), by name: time the line spent in the kernel, not a function it calls."""
    inlined: bool = False


@dataclass
class FunctionStat:
    function: str
    path: str | None
    line: int | None
    binary: str
    self_samples: int = 0
    total_samples: int = 0
    inlined: bool = False


@dataclass
class ResolvedStack:
    count: int
    frames: list[SourceFrame]
    """Innermost first: kernel frames, then user frames with inlined frames expanded."""


@dataclass
class CpuProfile:
    raw: RawProfile
    samples: int
    stacks: list[ResolvedStack]
    lines: list[LineStat]
    functions: list[FunctionStat]
    warnings: list[str]
    timings: Timings
    unwinding: dict[str, int] = field(default_factory=dict)
    """How the CFI unwinds of exemplars ended: stop reason -> count."""
    stale_sources: dict[str, str] = field(default_factory=dict)
    """Source files whose lines may not match the binary (changed since the build): path -> why."""

    def share(self, count: int) -> float:
        return 100.0 * count / self.samples if self.samples else 0.0

    def lines_in(self, path: str) -> list[LineStat]:
        return [stat for stat in self.lines if stat.path == path]

    def source_paths(self) -> list[str]:
        """Files with samples, hottest (by self samples) first."""
        weight: dict[str, int] = {}
        for stat in self.lines:
            weight[stat.path] = weight.get(stat.path, 0) + stat.self_samples + stat.total_samples
        return sorted(weight, key=lambda p: -weight[p])
