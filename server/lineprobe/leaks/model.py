"""Domain types of a leak trace: outstanding allocations by allocating site."""

from __future__ import annotations

from dataclasses import dataclass, field

from lineprobe.model.capture import CaptureHeader, Timings
from lineprobe.symbolization.frame import SourceFrame
from lineprobe.unwinding.stack_unwinder import StackCopy, UserRegisters


@dataclass(frozen=True)
class AllocationSnapshot:
    """Registers and stack copy at an allocator's entry (an exemplar of one site key)."""

    key: tuple[int, int, int]
    registers: UserRegisters
    stack: StackCopy


@dataclass(frozen=True)
class RawLeakSite:
    key: tuple[int, int, int]
    """(return address at the allocator's entry, frame-pointer stack id)."""
    frame_pointer_stack: tuple[int, ...]
    outstanding_bytes: int
    outstanding_count: int
    allocations: int
    allocated_bytes: int
    oldest_age_s: float | None
    newest_age_s: float | None = None


@dataclass(frozen=True)
class RawLeakTrace:
    header: CaptureHeader
    sites: tuple[RawLeakSite, ...]
    snapshots: tuple[AllocationSnapshot, ...]
    history: tuple[tuple[float, dict[tuple[int, int, int], int]], ...]
    """(seconds since start, outstanding bytes by site key), one per interval."""
    sampling: dict[str, float]


@dataclass(frozen=True)
class AllocationPath:
    """One call path into a site's allocator (a site merges every path with the same user line)."""

    stack: tuple[SourceFrame, ...]
    """Innermost first, from the allocator's caller outwards."""
    outstanding_bytes: float
    outstanding_count: float
    allocations: float


@dataclass
class LeakSite:
    """One source site (several site keys may resolve to it), with estimates when sampled."""

    site: SourceFrame | None
    stack: list[SourceFrame]
    outstanding_bytes: float
    outstanding_count: float
    allocations: float
    oldest_age_s: float | None
    growth_bytes_per_s: float
    history: list[tuple[float, float]] = field(default_factory=list)
    """(seconds, estimated outstanding bytes)."""
    suspect: bool = False
    paths: list[AllocationPath] = field(default_factory=list)
    """The call paths it merges, with their own figures (estimated alike), for stack views."""

    @property
    def verdict(self) -> str:
        """``suspect`` (outstanding bytes keep rising), ``held`` (allocated once or early, still held,
        not growing) or ``freed`` (nothing outstanding)."""
        if self.suspect:
            return "suspect"
        return "held" if self.outstanding_count > 0 else "freed"


@dataclass
class LeakTrace:
    header: CaptureHeader
    sites: list[LeakSite]
    sampling: dict[str, float]
    estimated: bool
    lost: int
    warnings: list[str]
    timings: Timings
