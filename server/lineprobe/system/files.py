"""File I/O by process, file and thread, as filetop and fileslower report it: each file's reads,
writes and syncs (calls, bytes, time), each thread's share, each (file, call)'s latency
histogram, and every call slower than a threshold on its own.

Descriptors are named by the agent from /proc while they are open (``FileDescriptor``): what a
name cannot say is in ``FILES_LIMITS``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from lineprobe.model.capture import CaptureHeader, Timings
from lineprobe.model.power_of_two import power_of_two_rows

READ_CALLS = frozenset({"read", "pread64", "readv", "preadv", "preadv2"})
WRITE_CALLS = frozenset({"write", "pwrite64", "writev", "pwritev", "pwritev2"})
SYNC_CALLS = frozenset({"fsync", "fdatasync"})
FILES_LIMITS = (
    "reads and writes through mmap, sendfile, splice, io_uring and aio make no read or write call"
    " and are not counted",
    "a descriptor is named from /proc the first time it is seen (about once a second): one opened"
    " and closed in between keeps its number only, and a number reused for another file in the"
    " window keeps the first file's name",
)
"""What this view cannot measure on this kernel, and why (the kprobes on vfs_read and vfs_write
that filetop uses, which see every file operation and its struct file, are refused here)."""


def descriptor_kind(name: str) -> str:
    """file, device, socket, pipe, other (anon_inode:...), or unknown (closed before named)."""
    if not name:
        return "unknown"
    if name.startswith("/dev/"):
        return "device"
    if name.startswith("/"):
        return "file"
    if name.startswith("socket:"):
        return "socket"
    if name.startswith("pipe:"):
        return "pipe"
    return "other"


def call_class(call: str) -> str:
    return "read" if call in READ_CALLS else "write" if call in WRITE_CALLS else "sync"


@dataclass(frozen=True)
class ThreadFileIO:
    pid: int
    tid: int
    thread: str
    fd: int
    file: str
    """The descriptor's name (``FileDescriptor.name``), or ``fd N`` when it has none."""
    call: str
    calls: int
    bytes: int
    errors: int
    total_ns: int
    max_ns: int


@dataclass(frozen=True)
class FileTotals:
    """One process's I/O on one file, all its threads and descriptors for it together."""

    pid: int
    process: str
    file: str
    kind: str
    reads: int = 0
    read_bytes: int = 0
    writes: int = 0
    write_bytes: int = 0
    syncs: int = 0
    errors: int = 0
    total_ns: int = 0
    """Time spent in the calls."""
    max_ns: int = 0
    threads: int = 0


@dataclass(frozen=True)
class FileLatency:
    pid: int
    process: str
    file: str
    call: str
    buckets: dict[int, int]
    """Calls by the power of two of their microseconds (0 for 0, K for 2^(K-1)..2^K-1)."""

    @property
    def calls(self) -> int:
        return sum(self.buckets.values())

    def rows(self) -> list[tuple[int, int, int]]:
        return power_of_two_rows(self.buckets)


@dataclass(frozen=True)
class SlowCall:
    offset_s: float
    """Seconds from the window's start."""
    pid: int
    tid: int
    comm: str
    file: str
    call: str
    latency_ns: int
    result: int
    """Bytes moved, 0 for a sync, or a negative errno."""


@dataclass
class FileActivity:
    header: CaptureHeader
    files: tuple[FileTotals, ...]
    """Most time in calls first."""
    threads: tuple[ThreadFileIO, ...]
    latency: tuple[FileLatency, ...]
    slow: tuple[SlowCall, ...]
    slow_ms: float
    calls: int
    slow_calls: int
    slow_not_listed: int
    lost: int
    warnings: list[str] = field(default_factory=list)
    limits: tuple[str, ...] = FILES_LIMITS
    timings: Timings = field(default_factory=Timings)


def file_totals(threads: tuple[ThreadFileIO, ...], processes: dict[int, str]) -> tuple[FileTotals, ...]:
    """Each (process, file)'s totals over its threads and calls, most time first."""
    totals: dict[tuple[int, str], FileTotals] = {}
    tids: dict[tuple[int, str], set[int]] = {}
    for row in threads:
        key = (row.pid, row.file)
        found = totals.get(key) or FileTotals(
            row.pid,
            processes.get(row.pid, ""),
            row.file,
            descriptor_kind("" if row.file.startswith("fd ") else row.file),
        )
        kind = call_class(row.call)
        found = replace(
            found,
            reads=found.reads + (row.calls if kind == "read" else 0),
            read_bytes=found.read_bytes + (row.bytes if kind == "read" else 0),
            writes=found.writes + (row.calls if kind == "write" else 0),
            write_bytes=found.write_bytes + (row.bytes if kind == "write" else 0),
            syncs=found.syncs + (row.calls if kind == "sync" else 0),
            errors=found.errors + row.errors,
            total_ns=found.total_ns + row.total_ns,
            max_ns=max(found.max_ns, row.max_ns),
        )
        totals[key] = found
        tids.setdefault(key, set()).add(row.tid)
    ranked = [replace(t, threads=len(tids[key])) for key, t in totals.items()]
    ranked.sort(key=lambda t: (-t.total_ns, -(t.read_bytes + t.write_bytes), t.file))
    return tuple(ranked)


def resolve_file_activity(raw: FileActivity, launched: bool = False) -> FileActivity:
    started = time.monotonic()
    warnings = []
    if raw.lost:
        warnings.append(f"{raw.lost:,} calls the maps had no room for (not in the totals)")
    if raw.slow_not_listed:
        warnings.append(
            f"{raw.slow_not_listed:,} of {raw.slow_calls:,} calls slower than {raw.slow_ms:g} ms not listed"
            " one by one (the totals and histograms have them)"
        )
    warnings.extend(raw.header.warnings("trace", launched))
    return replace(raw, warnings=warnings, timings=raw.header.timings.resolved_since(started))
