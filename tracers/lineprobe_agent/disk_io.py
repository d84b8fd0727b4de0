"""Block I/O by device and by the process that issued it (``bpf/disk_io.bpf.c``): what biotop
and biolatency -D report, from the block tracepoints, aggregated in the kernel.

Compiled for each request (system-wide or gated to the target); the tracepoints' argument
structs come from their tracefs formats through bcc, so no kernel struct layout is assumed.
"""

from __future__ import annotations

import time
from typing import Any

from lineprobe_agent.bpf_source import BPF_DIR, constant, program_text
from lineprobe_agent.bpf_tables import c_text, stat
from lineprobe_agent.bpf_tracer import BpfTracer, NoExemplars
from lineprobe_agent.protocol import DiskCounters, DiskLatency, DiskProcess, LiveReport, Mapping
from lineprobe_agent.system_live import LiveTotals
from lineprobe_agent.target_gate import TargetGate

ISSUED = constant("DK_STAT_ISSUED")
COMPLETED = constant("DK_STAT_COMPLETED")
LOST = constant("DK_STAT_LOST")
TRACEPOINTS = (("block:block_rq_issue", "on_issue"), ("block:block_rq_complete", "on_complete"))


class DiskTracer(BpfTracer):
    """One window of block I/O: compiled for it, attached, collected, closed."""

    TABLES = ("issued", "processes", "latency")

    def __init__(self, system_wide: bool) -> None:
        from bcc import BPF

        cflags = [f"-I{BPF_DIR}", f"-DSYSTEM_WIDE={1 if system_wide else 0}"]
        self._bpf: Any = BPF(text=program_text("disk_io", {}).encode(), cflags=cflags)
        self._exemplars = NoExemplars()
        self.gate = TargetGate(self._bpf)
        self.system_wide = system_wide
        self._attached: list[str] = []
        self._live = LiveTotals("bytes")

    def start(self, pid: int | None) -> None:
        if pid is None:
            self.gate.close()
        else:
            self.gate.attach()
            self.gate.open(pid)
        for tracepoint, function in TRACEPOINTS:
            self._bpf.attach_tracepoint(tp=tracepoint.encode(), fn_name=function.encode())
            self._attached.append(tracepoint)

    def poll(self, timeout_s: float) -> None:
        time.sleep(max(timeout_s, 0.0))  # everything is counted in the kernel

    def tick(self) -> None:
        """Nothing between polls."""

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

    def stop(self) -> None:
        attached, self._attached = self._attached, []
        for tracepoint in attached:
            self._bpf.detach_tracepoint(tp=tracepoint.encode())
        if not self.system_wide:
            self.gate.close()
            self.gate.detach()

    def collect(self) -> tuple[list[DiskLatency], list[DiskProcess], DiskCounters]:
        by_device: dict[int, list[list[int]]] = {}
        for key, count in self._bpf["latency"].items():
            by_device.setdefault(int(key.dev), []).append([int(key.bucket), int(count.value)])
        latency = [DiskLatency(dev, sorted(buckets)) for dev, buckets in sorted(by_device.items())]
        processes = [
            DiskProcess(
                tgid=int(key.tgid),
                comm=c_text(key.comm),
                dev=int(key.dev),
                op=chr(int(key.op)) if 32 < int(key.op) < 127 else "?",
                ios=int(value.ios),
                bytes=int(value.bytes),
                latency_ns=int(value.latency_ns),
            )
            for key, value in self._bpf["processes"].items()
        ]
        processes.sort(key=lambda p: -p.bytes)
        counters = DiskCounters(
            issued=stat(self._bpf, ISSUED), completed=stat(self._bpf, COMPLETED), lost=stat(self._bpf, LOST)
        )
        self._reset()
        return latency, processes, counters
