"""Domain types of a system-call trace: findings attributed to source sites."""

from __future__ import annotations

from dataclasses import dataclass, field

from lineprobe.model.capture import CaptureHeader, Timings
from lineprobe.symbolization.frame import SourceFrame
from lineprobe.unwinding.stack_unwinder import StackCopy, UserRegisters


@dataclass(frozen=True)
class Bucket:
    low: float
    high: float
    count: int


@dataclass(frozen=True)
class Distribution:
    name: str
    unit: str
    buckets: tuple[Bucket, ...]

    @property
    def count(self) -> int:
        return sum(b.count for b in self.buckets)

    def percentile(self, fraction: float) -> float:
        """Linear interpolation inside the bucket that holds the fraction-th value."""
        total = self.count
        if total == 0:
            return 0.0
        rank = fraction * total
        seen = 0
        for bucket in self.buckets:
            if seen + bucket.count >= rank:
                inside = (rank - seen) / bucket.count if bucket.count else 0.0
                return bucket.low + (bucket.high - bucket.low) * inside
            seen += bucket.count
        return self.buckets[-1].high


@dataclass
class SiteCount:
    """Where the calls came from: the user's frame and the whole stack of one exemplar."""

    site: SourceFrame | None
    stack: list[SourceFrame]
    exemplars: int
    stop_reason: str


@dataclass
class Failure:
    syscall: str
    errno: str
    path: str | None
    count: int
    sites: list[SiteCount] = field(default_factory=list)
    """Most frequent first; ``sites[0]`` is *the* site."""


@dataclass
class FileIoStat:
    syscall: str
    fd: int
    file: str | None
    count: int
    bytes: int
    max_us: float
    latency: Distribution
    sites: list[SiteCount] = field(default_factory=list)

    @property
    def p50_us(self) -> float:
        return min(self.latency.percentile(0.50), self.max_us)

    @property
    def p99_us(self) -> float:
        return min(self.latency.percentile(0.99), self.max_us)

    @property
    def bytes_per_call(self) -> float:
        return self.bytes / self.count if self.count else 0.0


@dataclass(frozen=True)
class SyscallTotal:
    name: str
    count: int
    errors: dict[str, int]


@dataclass(frozen=True)
class BlockRequest:
    dev: str
    sector: int
    bytes: int
    rwbs: str
    queue_us: float
    service_us: float
    tid: int
    at_s: float


@dataclass(frozen=True)
class CpuInterval:
    at_s: float
    interval_s: float
    user_s: float
    system_s: float


@dataclass
class SyscallTrace:
    header: CaptureHeader
    totals: list[SyscallTotal]
    failures: list[Failure]
    io: list[FileIoStat]
    sleeps: list[Distribution]
    block_latency: Distribution
    block_requests: list[BlockRequest]
    block_records_dropped: int
    cpu: list[CpuInterval]
    lost: int
    warnings: list[str]
    timings: Timings


@dataclass(frozen=True)
class CallSnapshot:
    """Registers and user stack at one system call (an exemplar)."""

    registers: UserRegisters
    stack: StackCopy
    latency_ns: int


@dataclass(frozen=True)
class RawFailure:
    syscall: str
    errno: str
    path: str | None
    count: int
    snapshots: tuple[CallSnapshot, ...]


@dataclass(frozen=True)
class RawFileIo:
    syscall: str
    fd: int
    file: str | None
    count: int
    bytes: int
    max_ns: int
    latency: Distribution
    snapshots: tuple[CallSnapshot, ...]


@dataclass(frozen=True)
class RawSyscallTrace:
    """What the agent captured, in domain types; addresses not yet resolved."""

    header: CaptureHeader
    totals: tuple[SyscallTotal, ...]
    failures: tuple[RawFailure, ...]
    io: tuple[RawFileIo, ...]
    sleeps: tuple[Distribution, ...]
    block_latency: Distribution
    block_requests: tuple[BlockRequest, ...]
    block_records_dropped: int
    cpu: tuple[CpuInterval, ...]
    lost: int
    inflight_full: int
    exemplars_lost: int
    descriptor_changes_lost: int = 0
