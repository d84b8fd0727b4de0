"""Block I/O by device and by the process that issued it (``bpf/disk_io.bpf.c``): what biotop
and biolatency -D report, from the block tracepoints, aggregated in the kernel.

Compiled for each request (system-wide or gated to the target); the tracepoints' argument
structs come from their tracefs formats through bcc, so no kernel struct layout is assumed.
"""

from __future__ import annotations

import ctypes
import time
from typing import Any

from lineprobe_agent.bpf_source import constant
from lineprobe_agent.bpf_tables import c_text, stat
from lineprobe_agent.protocol import (
    DiskCounters,
    DiskLatency,
    DiskProcess,
    DiskRequestRecord,
    LiveReport,
    Mapping,
)
from lineprobe_agent.system_live import LiveTotals
from lineprobe_agent.tracepoint_program import TracepointProgram

ISSUED = constant("DK_STAT_ISSUED")
COMPLETED = constant("DK_STAT_COMPLETED")
LOST = constant("DK_STAT_LOST")
NOT_SENT = constant("DK_STAT_NOT_SENT")
RECORD_PAGES = 64
"""Perf ring per CPU for completed requests (256 KiB: about 4,000 records)."""


class RequestRecord(ctypes.Structure):
    """``struct request_record_t`` in bpf/disk_io.bpf.c."""

    _fields_ = [
        ("time_ns", ctypes.c_uint64),
        ("latency_ns", ctypes.c_uint64),
        ("sector", ctypes.c_uint64),
        ("tgid", ctypes.c_uint32),
        ("dev", ctypes.c_uint32),
        ("bytes", ctypes.c_uint32),
        ("op", ctypes.c_uint32),
        ("comm", ctypes.c_char * 16),
    ]


class DiskTracer(TracepointProgram):
    """One window of block I/O: compiled for it, attached, collected, closed."""

    TABLES = ("issued", "processes", "latency", "window_start", "requests_sent")
    TRACEPOINTS = (("block:block_rq_issue", "on_issue"), ("block:block_rq_complete", "on_complete"))

    def __init__(self, system_wide: bool, interval_ns: int = 0, max_requests: int = 0) -> None:
        super().__init__(
            "disk_io",
            system_wide,
            {"INTERVAL_NS": f"{int(interval_ns)}ULL", "MAX_REQUESTS": str(int(max_requests))},
        )
        self._live = LiveTotals("bytes")
        self._records: list[DiskRequestRecord] = []
        self.started_ns = 0
        self._bpf["request_records"].open_perf_buffer(self._on_record, page_cnt=RECORD_PAGES)

    def start(self, pid: int | None) -> None:
        self.started_ns = time.monotonic_ns()  # bpf_ktime_get_ns's clock
        self._bpf["window_start"][ctypes.c_int(0)] = ctypes.c_uint64(self.started_ns)
        super().start(pid)

    def _on_record(self, cpu: int, data: Any, size: int) -> None:
        r = ctypes.cast(data, ctypes.POINTER(RequestRecord)).contents
        self._records.append(
            DiskRequestRecord(
                time_ns=int(r.time_ns),
                latency_ns=int(r.latency_ns),
                tgid=int(r.tgid),
                comm=c_text(r.comm),
                dev=int(r.dev),
                op=_op_letter(int(r.op)),
                sector=int(r.sector),
                bytes=int(r.bytes),
            )
        )

    def events_so_far(self) -> int:
        return stat(self._bpf, COMPLETED)

    def live(self, mappings: list[Mapping]) -> LiveReport | None:
        """Bytes completed so far by process."""
        if not self._live.due():
            return None
        return self._live.report(
            (
                f"{c_text(key.comm)} {int(key.tgid)}",
                int(value.bytes),
            )
            for key, value in self._bpf["processes"].items()
        )

    def _forget(self) -> None:
        self._live.reset()
        self._records = []

    def collect(self) -> tuple[list[DiskLatency], list[DiskProcess], list[DiskRequestRecord], DiskCounters]:
        self._bpf.perf_buffer_poll(timeout=0)
        by_device: dict[tuple[int, int], list[list[int]]] = {}
        for key, count in self._bpf["latency"].items():
            by_device.setdefault((int(key.dev), int(key.interval)), []).append(
                [int(key.bucket), int(count.value)]
            )
        latency = [
            DiskLatency(dev, interval, sorted(buckets))
            for (dev, interval), buckets in sorted(by_device.items())
        ]
        processes = [
            DiskProcess(
                tgid=int(key.tgid),
                comm=c_text(key.comm),
                dev=int(key.dev),
                op=_op_letter(int(key.op)),
                ios=int(value.ios),
                bytes=int(value.bytes),
                latency_ns=int(value.latency_ns),
            )
            for key, value in self._bpf["processes"].items()
        ]
        processes.sort(key=lambda p: -p.bytes)
        counters = DiskCounters(
            issued=stat(self._bpf, ISSUED),
            completed=stat(self._bpf, COMPLETED),
            lost=stat(self._bpf, LOST),
            requests_not_sent=stat(self._bpf, NOT_SENT),
        )
        records = sorted(self._records, key=lambda r: r.time_ns)
        self._reset()
        return latency, processes, records, counters


def _op_letter(op: int) -> str:
    """rwbs' first letter as the program kept it, "?" when it is not a printable one."""
    return chr(op) if 32 < op < 127 else "?"
