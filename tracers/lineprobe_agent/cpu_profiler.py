"""CPU sampling with a perf event per CPU and aggregation in the kernel.

One BPF program runs at every tick of a ``cpu-clock`` software event on every
CPU. It keeps samples of the target's threads (by tgid, which a map holds so
the compiled program is reused for every profile this agent runs), takes the
user and kernel stack ids, and counts each distinct (user stack, kernel stack,
thread, time bucket) in a hash map, with each thread's name beside it: per-thread
views and time ranges are sliced from these counts, with no per-sample event
(hotspot's and speedscope's questions at the cost of a larger key). What could
not be recorded is counted, never dropped silently: a sample with no room for its
time bucket is counted without it (``untimed``).

The program (``bpf/cpu_profiler.bpf.c``) includes only UAPI headers, so it is
safe against kernel headers that do not match the running kernel. The perf
events and the gate's tracepoints are attached for a profile and detached after
it; the compiled program stays loaded for the agent's next profile.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from lineprobe_agent.bpf_source import compile_program, constant, copied_stack
from lineprobe_agent.bpf_tables import StackStats, c_text, stat
from lineprobe_agent.bpf_tracer import BpfTracer
from lineprobe_agent.exemplar_buffer import ExemplarBuffer
from lineprobe_agent.protocol import Exemplar, SampleCounters, StackCount
from lineprobe_agent.target_gate import TargetGate

EXEMPLAR_BUFFER_PAGES = 256
"""Perf buffer per CPU (1 MiB): a second of 999 Hz exemplars between two polls."""

STATS = StackStats.named("CPU", "SAMPLES")
"""Indices into the per-CPU stats array (enum lp_cpu_stat in bpf/lineprobe.h)."""
UNTIMED = constant("CPU_STAT_UNTIMED")
NO_TIME_BUCKET = 0xFFFFFFFF
"""A count kept without its time (NO_TIME_BUCKET in bpf/cpu_profiler.bpf.c)."""
CLOCK_START, CLOCK_BUCKET_NS = 0, 1
"""The slots of ``profile_clock`` (the enum in bpf/cpu_profiler.bpf.c)."""


@dataclass
class CollectedSamples:
    stacks: list[StackCount]
    counters: SampleCounters
    exemplars: list[Exemplar]
    thread_names: dict[int, str]


class CpuProfiler(BpfTracer):
    """Owns one compiled program; ``start``/``stop`` run one profile at a time."""

    TABLES = ("counts", "stack_traces", "thread_names")

    def __init__(self) -> None:
        self._bpf: Any = compile_program("cpu_profiler")
        self._attached = False
        # (user stack id, user ip key, tid, time bucket, ip, sp, bp, stack) per exemplar
        self._exemplars: ExemplarBuffer[tuple[int, int, int, int, int, int, int, bytes]] = ExemplarBuffer(
            self._bpf, _raw_exemplar, EXEMPLAR_BUFFER_PAGES
        )
        self.gate = TargetGate(self._bpf)
        self._time_bucket_ms = 0

    def poll(self, timeout_s: float) -> None:
        """Deliver pending exemplars, waiting up to ``timeout_s`` for some."""
        self._bpf.perf_buffer_poll(timeout=max(int(timeout_s * 1000), 0))

    def start(self, tgid: int, frequency: int, exemplars: bool = True, time_bucket_ms: int = 0) -> None:
        """Sample ``tgid``'s threads at ``frequency`` Hz per CPU; with ``time_bucket_ms``, each
        count also says which slice of that width, from now, it fell in."""
        from bcc import PerfSWConfig, PerfType

        self._reset()
        self._bpf["exemplars_enabled"][ctypes.c_int(0)] = ctypes.c_uint32(1 if exemplars else 0)
        clock = self._bpf["profile_clock"]
        clock[ctypes.c_int(CLOCK_BUCKET_NS)] = ctypes.c_uint64(time_bucket_ms * 1_000_000)
        # bpf_ktime_get_ns() is CLOCK_MONOTONIC: bucket 0 starts as the perf events are attached.
        clock[ctypes.c_int(CLOCK_START)] = ctypes.c_uint64(time.monotonic_ns())
        self._time_bucket_ms = time_bucket_ms
        self.gate.attach()
        self.gate.open(tgid)
        self._bpf.attach_perf_event(
            ev_type=PerfType.SOFTWARE,
            ev_config=PerfSWConfig.CPU_CLOCK,
            fn_name=b"on_cpu_sample",
            sample_freq=frequency,
        )
        self._attached = True

    def events_so_far(self) -> int:
        return stat(self._bpf, STATS.events)

    def tick(self) -> None:
        """Nothing to do between polls: stacks are aggregated in the kernel."""

    def stop(self) -> None:
        """Detach the perf events and the gate: sampling ends here, the maps stay readable."""
        if self._attached:
            from bcc import PerfSWConfig, PerfType

            self._attached = False
            self._bpf.detach_perf_event(ev_type=PerfType.SOFTWARE, ev_config=PerfSWConfig.CPU_CLOCK)
        self.gate.close()
        self.gate.detach()

    def collect(self, name_kernel_address: Callable[[int], str]) -> CollectedSamples:
        self.poll(0)  # whatever is still in the ring
        counts = self._bpf["counts"]
        traces = self._bpf["stack_traces"]
        stacks: list[StackCount] = []
        index_of: dict[tuple[int, int, int, int, int], int] = {}
        for key, value in counts.items():
            tid, bucket = int(key.tid), int(key.time_bucket)
            index_of[(int(key.user_stack_id), int(key.kernel_stack_id), int(key.user_ip), tid, bucket)] = len(
                stacks
            )
            user: list[int] = []
            user_missing = key.user_stack_id < 0
            if not user_missing:
                user = [int(addr) for addr in traces.walk(key.user_stack_id)]
            elif key.user_ip:
                user = [int(key.user_ip)]
            kernel: list[str] = []
            if key.kernel_stack_id >= 0:
                kernel = [name_kernel_address(int(a)) for a in traces.walk(key.kernel_stack_id)]
            timed = self._time_bucket_ms > 0 and bucket != NO_TIME_BUCKET
            stacks.append(
                StackCount(int(value.value), user, kernel, user_missing, tid, bucket if timed else None)
            )
        counters = STATS.read(self._bpf, self._exemplars.lost)
        counters = msgspec.structs.replace(counters, untimed=stat(self._bpf, UNTIMED))
        exemplars = [
            Exemplar(index_of.get((stack_id, -1, ip_key, tid, bucket), -1), tid, ip, sp, bp, data)
            for stack_id, ip_key, tid, bucket, ip, sp, bp, data in self._exemplars.records
        ]
        names = {int(tid.value): c_text(name.comm) for tid, name in self._bpf["thread_names"].items()}
        self._reset()
        return CollectedSamples(stacks, counters, exemplars, names)


def _raw_exemplar(event: Any) -> tuple[int, int, int, int, int, int, int, bytes]:
    return (
        int(event.user_stack_id),
        int(event.user_ip_key),
        int(event.tid),
        int(event.time_bucket),
        int(event.ip),
        int(event.sp),
        int(event.bp),
        copied_stack(event),
    )


def name_kernel_address(address: int) -> str:
    from bcc import BPF

    name = BPF.ksym(address, show_module=False, show_offset=False)
    return name.decode(errors="replace") if isinstance(name, bytes) else str(name)
