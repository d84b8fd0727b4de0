"""Block I/O by device and by the process that issued it, as biotop and biolatency -D report it:
each device's latency histogram (issue to completion, powers of two of microseconds) and each
process's reads and writes (I/Os, bytes, average latency)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from lineprobe.model.capture import CaptureHeader, Timings
from lineprobe.model.power_of_two import power_of_two_rows

SYS_DEV_BLOCK = Path("/sys/dev/block")
DISK_LIMITS = (
    "latency runs from issue to completion: time queued before issue is not included",
    "a request belongs to the task that issued it: pages written back by the kernel's flusher"
    " threads show as theirs, not as the process that dirtied them",
    "requests are paired by (device, sector), as the block tracepoints give no request pointer:"
    " two requests in flight under one key at once (two flushes) count as one",
)
"""What this view cannot measure on this kernel, and why."""


def device_name(dev: int, root: Path = SYS_DEV_BLOCK) -> str:
    """A kernel dev_t (major << 20 | minor) as its device's name (``vda``), from sysfs; the
    numbers where sysfs does not say."""
    major, minor = dev >> 20, dev & 0xFFFFF
    try:
        for line in (root / f"{major}:{minor}" / "uevent").read_text().splitlines():
            if line.startswith("DEVNAME="):
                return line.removeprefix("DEVNAME=")
    except OSError:
        pass
    return f"{major}:{minor}"


@dataclass(frozen=True)
class DeviceLatency:
    device: str
    buckets: dict[int, int]
    """Requests by the power of two of their microseconds (0 for 0, K for 2^(K-1)..2^K-1)."""
    interval: int = 0
    """Which interval from the window's start (``DiskActivity.interval_s``); 0 when there is one."""

    @property
    def requests(self) -> int:
        return sum(self.buckets.values())

    def rows(self) -> list[tuple[int, int, int]]:
        return power_of_two_rows(self.buckets)


@dataclass(frozen=True)
class ProcessIO:
    pid: int
    comm: str
    device: str
    op: str
    """R, W, F (flush), D (discard), N: the block layer's letter."""
    ios: int
    bytes: int
    latency_ns: int

    @property
    def average_ms(self) -> float:
        return self.latency_ns / self.ios / 1e6 if self.ios else 0.0


@dataclass(frozen=True)
class BlockRequestRecord:
    """One completed request, as biosnoop prints it."""

    offset_s: float
    """When it completed, in seconds from the window's start."""
    pid: int
    comm: str
    device: str
    op: str
    sector: int
    bytes: int
    latency_ns: int


@dataclass
class DiskActivity:
    header: CaptureHeader
    devices: tuple[DeviceLatency, ...]
    processes: tuple[ProcessIO, ...]
    """Most bytes first."""
    issued: int
    completed: int
    lost: int
    requests: tuple[BlockRequestRecord, ...] = ()
    """Oldest first (at most the request's ``max_requests``)."""
    requests_not_listed: int = 0
    interval_s: float = 0.0
    """The histograms' interval; 0: one histogram per device for the window."""
    warnings: list[str] = field(default_factory=list)
    limits: tuple[str, ...] = DISK_LIMITS
    timings: Timings = field(default_factory=Timings)

    def requests_by_device(self) -> dict[str, int]:
        """Requests completed per device, over every interval."""
        totals: dict[str, int] = {}
        for histogram in self.devices:
            totals[histogram.device] = totals.get(histogram.device, 0) + histogram.requests
        return totals


def resolve_disk_activity(raw: DiskActivity, launched: bool = False) -> DiskActivity:
    started = time.monotonic()
    warnings = [f"{raw.lost:,} requests the maps had no room for"] if raw.lost else []
    if raw.requests_not_listed:
        warnings.append(
            f"{raw.requests_not_listed:,} completed requests not listed one by one (the histograms and"
            " totals have them)"
        )
    warnings.extend(raw.header.warnings("trace", launched))
    return replace(raw, warnings=warnings, timings=raw.header.timings.resolved_since(started))
