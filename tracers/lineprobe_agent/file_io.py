"""File I/O by process, thread and descriptor (``bpf/file_io.bpf.c``): what filetop and
fileslower report, from the syscall tracepoints, aggregated in the kernel.

Compiled for each request (system-wide or gated to the target). The kernel keeps numbers only;
this loader names each descriptor from ``/proc/PID/fd`` the first time it sees it, about once a
second while the window is open, so a file opened and closed between two looks keeps its number
alone (``FileDescriptor.name`` is then empty) and a number reused for another file in the window
keeps the first file's name.
"""

from __future__ import annotations

import ctypes
import os
import time
from typing import Any

from lineprobe_agent.bpf_source import constant
from lineprobe_agent.bpf_tables import c_text, stat
from lineprobe_agent.protocol import (
    FileCounters,
    FileDescriptor,
    FileLatency,
    FileThreadIO,
    LiveReport,
    Mapping,
    SlowFileCall,
)
from lineprobe_agent.syscall_names import SyscallNames
from lineprobe_agent.system_live import LiveTotals
from lineprobe_agent.tracepoint_program import TracepointProgram

CALLS = constant("FI_STAT_CALLS")
SLOW = constant("FI_STAT_SLOW")
SLOW_NOT_SENT = constant("FI_STAT_SLOW_NOT_SENT")
LOST = constant("FI_STAT_LOST")
FILE_CALLS = (
    "read",
    "write",
    "pread64",
    "pwrite64",
    "readv",
    "writev",
    "preadv",
    "pwritev",
    "preadv2",
    "pwritev2",
    "fsync",
    "fdatasync",
)
"""The calls followed: those that move a file's data or wait for it to reach the disk."""
SLOW_PAGES = 64
"""Perf ring per CPU for slow calls (256 KiB: about 4,000 records)."""


class SlowCall(ctypes.Structure):
    """``struct slow_call_t`` in bpf/file_io.bpf.c."""

    _fields_ = [
        ("time_ns", ctypes.c_uint64),
        ("latency_ns", ctypes.c_uint64),
        ("ret", ctypes.c_int64),
        ("tgid", ctypes.c_uint32),
        ("tid", ctypes.c_uint32),
        ("fd", ctypes.c_int32),
        ("nr", ctypes.c_uint32),
        ("comm", ctypes.c_char * 16),
    ]


def descriptor_name(tgid: int, fd: int) -> str:
    """What ``fd`` names in process ``tgid`` now (a path, ``socket:[N]``, ``pipe:[N]``...), or ""."""
    try:
        return os.readlink(f"/proc/{tgid}/fd/{fd}")
    except OSError:
        return ""


def process_name(tgid: int) -> str:
    try:
        with open(f"/proc/{tgid}/comm") as comm:
            return comm.read().strip()
    except OSError:
        return ""


class FileTracer(TracepointProgram):
    """One window of file I/O: compiled for it, attached, collected, closed."""

    TABLES = ("inflight", "files", "latency", "slow_sent")
    TRACEPOINTS = tuple(
        (f"syscalls:sys_{side}_{call}", function)
        for call in FILE_CALLS
        for side, function in (("enter", "on_enter"), ("exit", "on_exit"))
    )

    def __init__(self, system_wide: bool, slow_ns: int, max_slow: int) -> None:
        settings = {
            "SELF_TGID": str(os.getpid()),
            "SLOW_NS": f"{int(slow_ns)}ULL",
            "MAX_SLOW": str(int(max_slow)),
        }
        super().__init__("file_io", system_wide, settings)
        self._syscalls = SyscallNames.load()
        self.started_ns = 0
        self._names: dict[tuple[int, int], str] = {}
        self._processes: dict[int, str] = {}
        self._slow: list[SlowFileCall] = []
        self._live = LiveTotals("ns")
        self._bpf["slow_calls"].open_perf_buffer(self._on_slow, page_cnt=SLOW_PAGES)

    def start(self, pid: int | None) -> None:
        self.started_ns = time.monotonic_ns()  # bpf_ktime_get_ns's clock
        super().start(pid)

    def tick(self) -> None:
        """Name the descriptors seen since the last look, while they are still open."""
        self._name_descriptors((int(key.tgid), int(key.fd)) for key in self._bpf["files"])

    def events_so_far(self) -> int:
        return stat(self._bpf, CALLS)

    def live(self, mappings: list[Mapping]) -> LiveReport | None:
        """Time in calls so far by process and file (named at the last tick)."""
        if not self._live.due():
            return None
        totals = []
        for key, value in self._bpf["files"].items():
            tgid, fd = int(key.tgid), int(key.fd)
            name = self._names.get((tgid, fd)) or f"fd {fd}"
            totals.append((f"{self._processes.get(tgid, '')} {tgid}: {name}", int(value.total_ns)))
        return self._live.report(totals)

    def _on_slow(self, cpu: int, data: Any, size: int) -> None:
        record = ctypes.cast(data, ctypes.POINTER(SlowCall)).contents
        tgid, fd = int(record.tgid), int(record.fd)
        self._name_descriptors([(tgid, fd)])  # a slow call's file is usually still open now
        self._slow.append(
            SlowFileCall(
                time_ns=int(record.time_ns),
                tgid=tgid,
                tid=int(record.tid),
                comm=c_text(record.comm),
                fd=fd,
                call=self._syscalls.name(int(record.nr)),
                latency_ns=int(record.latency_ns),
                ret=int(record.ret),
            )
        )

    def _name_descriptors(self, seen: Any) -> None:
        for tgid, fd in seen:
            if (tgid, fd) not in self._names:
                self._names[tgid, fd] = descriptor_name(tgid, fd)
            if tgid not in self._processes:
                self._processes[tgid] = process_name(tgid)

    def collect(
        self,
    ) -> tuple[list[FileThreadIO], list[FileLatency], list[FileDescriptor], list[SlowFileCall], FileCounters]:
        self._bpf.perf_buffer_poll(timeout=0)
        name = self._syscalls.name
        io = [
            FileThreadIO(
                tgid=int(key.tgid),
                tid=int(key.tid),
                thread=c_text(value.comm),
                fd=int(key.fd),
                call=name(int(key.nr)),
                calls=int(value.calls),
                bytes=int(value.bytes),
                errors=int(value.errors),
                total_ns=int(value.total_ns),
                max_ns=int(value.max_ns),
            )
            for key, value in self._bpf["files"].items()
        ]
        self._name_descriptors((row.tgid, row.fd) for row in io)
        by_descriptor: dict[tuple[int, int, str], list[list[int]]] = {}
        for key, count in self._bpf["latency"].items():
            by_descriptor.setdefault((int(key.tgid), int(key.fd), name(int(key.nr))), []).append(
                [int(key.bucket), int(count.value)]
            )
        latency = [
            FileLatency(tgid, fd, call, sorted(buckets))
            for (tgid, fd, call), buckets in sorted(by_descriptor.items())
        ]
        descriptors = [
            FileDescriptor(tgid, fd, path, self._processes.get(tgid, ""))
            for (tgid, fd), path in sorted(self._names.items())
        ]
        counters = FileCounters(
            calls=stat(self._bpf, CALLS),
            slow=stat(self._bpf, SLOW),
            slow_not_sent=stat(self._bpf, SLOW_NOT_SENT),
            lost=stat(self._bpf, LOST),
        )
        slow = sorted(self._slow, key=lambda call: call.time_ns)
        self._reset()
        return io, latency, descriptors, slow, counters

    def _forget(self) -> None:
        self._live.reset()
        self._names = {}
        self._processes = {}
        self._slow = []
