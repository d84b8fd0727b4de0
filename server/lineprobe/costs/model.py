"""Weighted stacks with typed cost columns, and what they add up to per line and per function.

Every kind of trace that ends in stacks is one of these: CPU samples, hits of a
tracepoint, outstanding bytes of a leak, and (to come) off-CPU nanoseconds and
probe calls. A profile has one or more cost columns, each an event and a unit;
every stack carries one value per column. The first column is the primary one:
shares, heat and flame-graph widths are of it; the others are shown beside it
(KDAB hotspot's cost model, where every event type is a column of one tree).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from lineprobe.model.capture import CaptureHeader, Timings
from lineprobe.symbolization.frame import SourceFrame

_BINARY_PREFIXES = ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"))
_TIME_PREFIXES = ((1_000_000_000, "s"), (1_000_000, "ms"), (1_000, "us"))


class CostUnit(Enum):
    """What one unit of a cost column is: a count of events, a duration or an amount of memory."""

    SAMPLES = "samples"
    HITS = "hits"
    CALLS = "calls"
    BLOCKS = "blocks"
    NANOSECONDS = "ns"
    BYTES = "bytes"

    @property
    def noun(self) -> str:
        """The unit as a plural noun, for "12.0% of CPU samples"."""
        return "nanoseconds" if self is CostUnit.NANOSECONDS else self.value

    @property
    def is_count(self) -> bool:
        return self not in (CostUnit.NANOSECONDS, CostUnit.BYTES)

    @property
    def speedscope(self) -> str:
        """The unit in speedscope's file format ("none", "nanoseconds" or "bytes")."""
        return {CostUnit.NANOSECONDS: "nanoseconds", CostUnit.BYTES: "bytes"}.get(self, "none")

    def format(self, value: float) -> str:
        """A value for people: "1,234 samples", "1 call", "14.2 ms", "4.0 KiB"."""
        if self is CostUnit.BYTES:
            return _scaled(value, _BINARY_PREFIXES, "B")
        if self is CostUnit.NANOSECONDS:
            return _scaled(value, _TIME_PREFIXES, "ns")
        noun = self.value[:-1] if value == 1 else self.value
        return f"{value:,.0f} {noun}" if float(value).is_integer() else f"{value:,.1f} {noun}"


def _scaled(value: float, prefixes: tuple[tuple[int, str], ...], base: str) -> str:
    for factor, symbol in prefixes:
        if abs(value) >= factor:
            return f"{value / factor:.1f} {symbol}"
    return f"{value:.0f} {base}"


@dataclass(frozen=True)
class CostColumn:
    """One cost a profile's stacks carry: what was counted, in which unit."""

    event: str
    """What was measured: "CPU", a tracepoint's name, "outstanding"."""
    unit: CostUnit
    code: str = "stack-cost-line"
    """The diagnostic code of a line ranked by this column (stable, for filters and tests)."""

    @property
    def title(self) -> str:
        """ "CPU samples", "block:block_rq_issue hits", "outstanding bytes"."""
        return f"{self.event} {self.unit.noun}"

    def format(self, value: float) -> str:
        return self.unit.format(value)


CPU_SAMPLES = CostColumn("CPU", CostUnit.SAMPLES, "cpu-hot-line")


@dataclass
class WeightedStack:
    """One distinct stack with its costs, one value per column of its profile."""

    costs: tuple[int, ...]
    frames: list[SourceFrame]
    """Innermost first: kernel frames, then user frames with inlined frames expanded."""
    thread: int | None = None
    """The thread (tid) the costs were counted in, where the tracer keeps it (CPU samples)."""
    time_bucket: int | None = None
    """Which ``StackProfile.time_bucket_ns``-wide slice of the trace, counted from its start, the
    costs fell in, where the tracer keeps time (CPU samples)."""

    @property
    def count(self) -> int:
        """The primary column's value: what shares and flame-graph widths are of."""
        return self.costs[0]


class _CostsByColumn:
    """Self and total costs per column, with the primary column's by name."""

    self_costs: list[int]
    """Per column: cost with this line or function innermost (executing)."""
    total_costs: list[int]
    """Per column: cost with it anywhere on the stack, once per stack."""

    @property
    def self_cost(self) -> int:
        return self.self_costs[0]

    @property
    def total_cost(self) -> int:
        return self.total_costs[0]


@dataclass
class LineStat(_CostsByColumn):
    path: str
    line: int
    function: str | None
    self_costs: list[int]
    total_costs: list[int]
    callers: dict[tuple[str | None, str | None, int | None], int] = field(default_factory=dict)
    callees: dict[tuple[str | None, str | None, int | None], int] = field(default_factory=dict)
    """The user's own callees (primary column); the kernel is kept apart, in ``kernel_callees``."""
    kernel_callees: dict[str, int] = field(default_factory=dict)
    """Kernel entry points right below the line (a system call, an interrupt returning to user
    mode), by name: time the line spent in the kernel, not a function it calls."""
    inlined: bool = False


@dataclass
class FunctionStat(_CostsByColumn):
    function: str
    path: str | None
    line: int | None
    binary: str
    self_costs: list[int]
    total_costs: list[int]
    inlined: bool = False


@dataclass
class StackProfile:
    """Weighted stacks resolved to source, with per-line and per-function costs."""

    header: CaptureHeader
    columns: tuple[CostColumn, ...]
    totals: tuple[int, ...]
    """Per column: the sum over every stack."""
    stacks: list[WeightedStack]
    lines: list[LineStat]
    functions: list[FunctionStat]
    warnings: list[str]
    timings: Timings
    lost: int = 0
    """Events of the primary column that were not counted (a full map, a full buffer)."""
    rate_hz: int = 0
    """The sampling frequency, when the primary column is sampled."""
    counters: dict[str, int] = field(default_factory=dict)
    """The tracer's own counters (samples, losses, missing stacks), by name, for reports."""
    exemplars: int = 0
    """How many full stack copies were taken and unwound by CFI."""
    unwinding: dict[str, int] = field(default_factory=dict)
    """How the CFI unwinds of exemplars ended: stop reason -> count."""
    stale_sources: dict[str, str] = field(default_factory=dict)
    """Source files whose lines may not match the binary (changed since the build): path -> why."""
    limits: tuple[str, ...] = ()
    """What this kind of profile cannot measure on this kernel, and why (every report shows it)."""
    thread_names: dict[int, str] = field(default_factory=dict)
    """The name (comm) of each thread the stacks were counted in, as the kernel saw it: tid -> name."""
    time_bucket_ns: int = 0
    """The width of the stacks' time buckets; 0: the stacks carry no time."""
    selection: str = ""
    """When the profile is a slice of one (``costs.slices``): which threads and time, for reports."""

    @property
    def cost(self) -> CostColumn:
        """The primary column."""
        return self.columns[0]

    @property
    def total(self) -> int:
        """The primary column's sum: 100% of every share."""
        return self.totals[0]

    def share(self, value: int) -> float:
        return 100.0 * value / self.total if self.total else 0.0

    def lines_in(self, path: str) -> list[LineStat]:
        return [stat for stat in self.lines if stat.path == path]

    def source_paths(self) -> list[str]:
        """Files with costs, hottest (by self cost) first."""
        weight: dict[str, int] = {}
        for stat in self.lines:
            weight[stat.path] = weight.get(stat.path, 0) + stat.self_cost + stat.total_cost
        return sorted(weight, key=lambda p: -weight[p])
