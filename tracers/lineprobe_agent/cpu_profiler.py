"""CPU sampling with a perf event per CPU and aggregation in the kernel.

One BPF program runs at every tick of a ``cpu-clock`` software event on every
CPU. It keeps samples of the target's threads (by tgid, which a map holds so
the compiled program is reused for every profile this agent runs), takes the
user and kernel stack ids, and counts each distinct (user stack, kernel stack)
pair in a hash map. Nothing per sample crosses to user space; what could not
be recorded is counted, never dropped silently.

The program (``bpf/cpu_profiler.bpf.c``) includes only UAPI headers, so it is
safe against kernel headers that do not match the running kernel. The perf
events and the gate's tracepoints are attached for a profile and detached after
it; the compiled program stays loaded for the agent's next profile.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lineprobe_agent.bpf_source import compile_program, copied_stack
from lineprobe_agent.bpf_tables import StackStats, stat
from lineprobe_agent.bpf_tracer import BpfTracer
from lineprobe_agent.exemplar_buffer import ExemplarBuffer
from lineprobe_agent.protocol import Exemplar, SampleCounters, StackCount
from lineprobe_agent.target_gate import TargetGate

EXEMPLAR_BUFFER_PAGES = 256
"""Perf buffer per CPU (1 MiB): a second of 999 Hz exemplars between two polls."""

STATS = StackStats.named("CPU", "SAMPLES")
"""Indices into the per-CPU stats array (enum lp_cpu_stat in bpf/lineprobe.h)."""


@dataclass
class CollectedSamples:
    stacks: list[StackCount]
    counters: SampleCounters
    exemplars: list[Exemplar]


class CpuProfiler(BpfTracer):
    """Owns one compiled program; ``start``/``stop`` run one profile at a time."""

    TABLES = ("counts", "stack_traces")

    def __init__(self) -> None:
        self._bpf: Any = compile_program("cpu_profiler")
        self._attached = False
        # (user stack id, user ip key, tid, ip, sp, bp, stack) per exemplar
        self._exemplars: ExemplarBuffer[tuple[int, int, int, int, int, int, bytes]] = ExemplarBuffer(
            self._bpf, _raw_exemplar, EXEMPLAR_BUFFER_PAGES
        )
        self.gate = TargetGate(self._bpf)

    def poll(self, timeout_s: float) -> None:
        """Deliver pending exemplars, waiting up to ``timeout_s`` for some."""
        self._bpf.perf_buffer_poll(timeout=max(int(timeout_s * 1000), 0))

    def start(self, tgid: int, frequency: int, exemplars: bool = True) -> None:
        from bcc import PerfSWConfig, PerfType

        self._reset()
        self._bpf["exemplars_enabled"][ctypes.c_int(0)] = ctypes.c_uint32(1 if exemplars else 0)
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
        index_of: dict[tuple[int, int, int], int] = {}
        for key, value in counts.items():
            index_of[(int(key.user_stack_id), int(key.kernel_stack_id), int(key.user_ip))] = len(stacks)
            user: list[int] = []
            user_missing = key.user_stack_id < 0
            if not user_missing:
                user = [int(addr) for addr in traces.walk(key.user_stack_id)]
            elif key.user_ip:
                user = [int(key.user_ip)]
            kernel: list[str] = []
            if key.kernel_stack_id >= 0:
                kernel = [name_kernel_address(int(a)) for a in traces.walk(key.kernel_stack_id)]
            stacks.append(StackCount(int(value.value), user, kernel, user_missing))
        counters = STATS.read(self._bpf, self._exemplars.lost)
        exemplars = [
            Exemplar(index_of.get((stack_id, -1, ip_key), -1), tid, ip, sp, bp, data)
            for stack_id, ip_key, tid, ip, sp, bp, data in self._exemplars.records
        ]
        self._reset()
        return CollectedSamples(stacks, counters, exemplars)


def _raw_exemplar(event: Any) -> tuple[int, int, int, int, int, int, bytes]:
    return (
        int(event.user_stack_id),
        int(event.user_ip_key),
        int(event.tid),
        int(event.ip),
        int(event.sp),
        int(event.bp),
        copied_stack(event),
    )


def name_kernel_address(address: int) -> str:
    from bcc import BPF

    name = BPF.ksym(address, show_module=False, show_offset=False)
    return name.decode(errors="replace") if isinstance(name, bytes) else str(name)
