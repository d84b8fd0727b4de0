"""What the agent captured of a CPU profile or a stack count: addresses, not yet source.

``RawProfile`` is resolved (``profiling.aggregate``) into the one cost model's
``StackProfile``, whose stacks, lines and functions every view reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lineprobe.costs.model import CPU_SAMPLES, CostColumn
from lineprobe.model.capture import CaptureHeader
from lineprobe.model.mapping import MappedFile
from lineprobe.unwinding.stack_unwinder import StackCopy, UserRegisters


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
    thread: int | None = None
    time_bucket: int | None = None
    tgid: int | None = None
    """Following children: the process the samples were taken in (the target or one it started)."""


@dataclass(frozen=True)
class ChildProcess:
    """A process the target started (a profile that followed children): its user addresses are
    resolved in its own map, as the header has the target's."""

    comm: str
    exe: str
    mappings: tuple[MappedFile, ...]


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
    untimed: int = 0
    children_not_followed: int = 0
    children_unmapped: int = 0


@dataclass(frozen=True)
class RawProfile:
    header: CaptureHeader
    frequency: int
    counters: LossCounters
    stacks: tuple[SampledStack, ...]
    snapshots: tuple[StackSnapshot, ...] = ()
    cost: CostColumn = CPU_SAMPLES
    """What each stack's count counts (one column: CPU samples, or hits of a tracepoint)."""
    thread_names: dict[int, str] = field(default_factory=dict)
    time_bucket_ms: int = 0
    """The width of the stacks' time buckets; 0: no time kept."""
    processes: dict[int, ChildProcess] = field(default_factory=dict)
    """Following children: each child's map, by tgid (the target's is the header's)."""
