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

Following children (``follow``, root callers only: ``target_gate``), each count
also says its process, and the memory maps of the followed processes are read
while sampling (every tick, and at once after one execs), through
/proc/PID/map_files for build ids as the target's are (``Target.snapshot_maps``):
children often exit before the profile ends, so the last map seen is kept. A
process sampled whose map was never read is counted (``children_unmapped``).

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
from lineprobe_agent.protocol import Exemplar, ProcessMaps, SampleCounters, StackCount
from lineprobe_agent.target import Target
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
    processes: dict[int, ProcessMaps]


class CpuProfiler(BpfTracer):
    """Owns one compiled program; ``start``/``stop`` run one profile at a time."""

    TABLES = ("counts", "stack_traces", "thread_names")

    def __init__(self) -> None:
        self._bpf: Any = compile_program("cpu_profiler")
        self._attached = False
        # (user stack id, user ip key, tid, time bucket, ip, sp, bp, stack, r13) per exemplar
        self._exemplars: ExemplarBuffer[tuple[int, int, int, int, int, int, int, bytes, int]] = (
            ExemplarBuffer(self._bpf, _raw_exemplar, EXEMPLAR_BUFFER_PAGES)
        )
        self.gate = TargetGate(self._bpf)
        self._time_bucket_ms = 0
        self._followed = FollowedProcesses(self.gate, 0)

    def poll(self, timeout_s: float) -> None:
        """Deliver pending exemplars, waiting up to ``timeout_s`` for some."""
        self._bpf.perf_buffer_poll(timeout=max(int(timeout_s * 1000), 0))
        if self.gate.followed_exec_seen:
            self.gate.followed_exec_seen = False
            self._followed.refresh()

    def start(
        self, tgid: int, frequency: int, exemplars: bool = True, time_bucket_ms: int = 0, follow: bool = False
    ) -> None:
        """Sample ``tgid``'s threads at ``frequency`` Hz per CPU; with ``time_bucket_ms``, each
        count also says which slice of that width, from now, it fell in. With ``follow`` (root
        callers only), also the processes it starts."""
        from bcc import PerfSWConfig, PerfType

        self._reset()
        self.gate.follow = follow
        self._followed = FollowedProcesses(self.gate, tgid)
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
        """Stacks are aggregated in the kernel; the followed processes' maps are read."""
        if self.gate.follow:
            self._followed.refresh()

    def stop(self) -> None:
        """Detach the perf events and the gate: sampling ends here, the maps stay readable."""
        if self.gate.follow:
            self._followed.refresh()
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
        follow = self.gate.follow
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
                StackCount(
                    int(value.value),
                    user,
                    kernel,
                    user_missing,
                    tid,
                    bucket if timed else None,
                    int(key.tgid) if follow else None,
                )
            )
        sampled = {s.tgid for s in stacks if s.tgid is not None}
        sampled.discard(self._followed.target)
        processes = {tgid: maps for tgid, maps in self._followed.processes().items() if tgid in sampled}
        unmapped = sampled - processes.keys()
        counters = STATS.read(self._bpf, self._exemplars.lost)
        counters = msgspec.structs.replace(
            counters,
            untimed=stat(self._bpf, UNTIMED),
            children_not_followed=self.gate.follow_full() if follow else 0,
            children_unmapped=len(unmapped),
        )
        exemplars = [
            Exemplar(index_of.get((stack_id, -1, ip_key, tid, bucket), -1), tid, ip, sp, bp, data, r13)
            for stack_id, ip_key, tid, bucket, ip, sp, bp, data, r13 in self._exemplars.records
        ]
        names = {int(tid.value): c_text(name.comm) for tid, name in self._bpf["thread_names"].items()}
        self._reset()
        return CollectedSamples(stacks, counters, exemplars, names, processes)


class FollowedProcesses:
    """The processes the gate follows besides the target, and their memory maps as last read."""

    def __init__(self, gate: TargetGate, target: int) -> None:
        self.gate = gate
        self.target = target
        self._processes: dict[int, Target] = {}
        self._threads: set[int] = set()
        """Numbers in the followed map that are threads' tids (inert there), not processes."""
        self._present: set[int] = set()
        """The numbers in the followed map at the last refresh."""

    def refresh(self) -> None:
        """Read the maps of every followed process that still runs: new ones, and for the known
        ones what they mapped since (an exec replaces what it overlaps; build ids are read once
        per file). A number that left the map (its task exited) and is back is another task."""
        present = set(self.gate.followed())
        self._threads &= present
        for pid in sorted(present):
            if pid in self._threads:
                continue
            process = self._processes.get(pid)
            if process is not None and pid not in self._present:
                process = None  # the number was given to another process since
            if process is None:
                tgid = _tgid_of(pid)
                if tgid is None:
                    continue  # exiting: its last map (if read) is kept
                if tgid != pid:
                    self._threads.add(pid)
                    continue
                process = self._processes[pid] = Target(pid=pid, pidfd=-1, exe="", comm="")
            process.snapshot_maps()
        self._present = present

    def processes(self) -> dict[int, ProcessMaps]:
        """Each followed process whose map was read, by tgid."""
        return {
            pid: ProcessMaps(process.comm, process.exe, process.mappings())
            for pid, process in self._processes.items()
            if process.exe
        }


def _tgid_of(pid: int) -> int | None:
    """The process a task number belongs to (itself for a process), None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("Tgid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _raw_exemplar(event: Any) -> tuple[int, int, int, int, int, int, int, bytes, int]:
    return (
        int(event.user_stack_id),
        int(event.user_ip_key),
        int(event.tid),
        int(event.time_bucket),
        int(event.ip),
        int(event.sp),
        int(event.bp),
        copied_stack(event),
        int(event.r13),
    )


def name_kernel_address(address: int) -> str:
    from bcc import BPF

    name = BPF.ksym(address, show_module=False, show_offset=False)
    return name.decode(errors="replace") if isinstance(name, bytes) else str(name)
