"""CPU sampling with a perf event per CPU and aggregation in the kernel.

One BPF program runs at every tick of a ``cpu-clock`` software event on every
CPU. It keeps samples of the target's threads (by tgid, which a map holds so
the compiled program is reused for every profile this agent runs), takes the
user and kernel stack ids, and counts each distinct (user stack, kernel stack)
pair in a hash map. Nothing per sample crosses to user space; what could not
be recorded is counted, never dropped silently.

The program includes only UAPI headers, so it is safe against kernel headers
that do not match the running kernel.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lineprobe_agent.bpf_snippets import COPY_USER_STACK
from lineprobe_agent.bpf_tables import empty, stat
from lineprobe_agent.protocol import Exemplar, SampleCounters, StackCount
from lineprobe_agent.target_gate import TARGET_GATE_C, TargetGate, gate_cflags

COUNTS_ENTRIES = 40960
STACK_ENTRIES = 16384
STACK_COPY_BYTES = 8192
"""User stack bytes copied per exemplar: enough for the frames of most programs."""
EXEMPLAR_BUFFER_PAGES = 256
"""Perf buffer per CPU (1 MiB): a second of 999 Hz exemplars between two polls."""

# Indices into the per-CPU stats array; keep in sync with the C below.
STAT_SAMPLES = 0
STAT_LOST = 1
STAT_USER_STACK_MISSING = 2
STAT_KERNEL_STACK_MISSING = 3
STAT_COLLISIONS = 4
STAT_COUNT = 5

BPF_PROGRAM = (
    COPY_USER_STACK
    + r"""
#include <uapi/linux/ptrace.h>
"""
    + TARGET_GATE_C
    + r"""

/* The layout of uapi/linux/bpf_perf_event.h on x86_64, written out because
 * including that header costs about 2.5 s of compile time per agent. */
struct lp_perf_event_data {
    struct pt_regs regs;
    u64 sample_period;
    u64 addr;
};

#define EEXIST 17

struct sample_key_t {
    int user_stack_id;
    int kernel_stack_id;
    u64 user_ip;      /* only set when the user stack is missing */
};

/* A user-mode sample's registers and a copy of its stack, for unwinding
 * with CFI in user space where frame pointers are missing. */
struct exemplar_t {
    u32 tid;
    s32 user_stack_id;
    u64 user_ip_key;
    u64 ip;
    u64 sp;
    u64 bp;
    u32 size;
    u32 pad;
    u8 data[STACK_COPY_BYTES];
};

BPF_HASH(counts, struct sample_key_t, u64, COUNTS_ENTRIES);
BPF_PERCPU_ARRAY(exemplar_scratch, struct exemplar_t, 1);
BPF_PERF_OUTPUT(exemplars);
BPF_ARRAY(exemplars_enabled, u32, 1);
BPF_STACK_TRACE(stack_traces, STACK_ENTRIES);
BPF_PERCPU_ARRAY(stats, u64, STAT_COUNT);

static __always_inline void bump(u32 index)
{
    u64 *value = stats.lookup(&index);
    if (value)
        (*value)++;
}

int on_cpu_sample(struct lp_perf_event_data *ctx)
{
    u32 zero = 0;
    if (!lp_is_target())
        return 0;
    bump(STAT_SAMPLES);

    struct sample_key_t key = {};
    /* cs & 3 == 3: the CPU was running user code when the tick came. */
    int in_user = (ctx->regs.cs & 3) == 3;
    key.user_stack_id = stack_traces.get_stackid(ctx, BPF_F_USER_STACK);
    if (key.user_stack_id < 0) {
        bump(key.user_stack_id == -EEXIST ? STAT_COLLISIONS : STAT_USER_STACK_MISSING);
        if (in_user)
            key.user_ip = ctx->regs.ip;
    }
    if (in_user) {
        key.kernel_stack_id = -1;
    } else {
        key.kernel_stack_id = stack_traces.get_stackid(ctx, 0);
        if (key.kernel_stack_id < 0)
            bump(key.kernel_stack_id == -EEXIST ? STAT_COLLISIONS : STAT_KERNEL_STACK_MISSING);
    }

    u64 one = 0;
    u64 *count = counts.lookup_or_try_init(&key, &one);
    if (count)
        __sync_fetch_and_add(count, 1);
    else
        bump(STAT_LOST);

    u32 *enabled = exemplars_enabled.lookup(&zero);
    if (!in_user || !enabled || !*enabled)
        return 0;
    struct exemplar_t *e = exemplar_scratch.lookup(&zero);
    if (!e)
        return 0;
    e->tid = (u32)bpf_get_current_pid_tgid();
    e->user_stack_id = key.user_stack_id;
    e->user_ip_key = key.user_ip;
    e->ip = ctx->regs.ip;
    e->sp = ctx->regs.sp;
    e->bp = ctx->regs.bp;
    COPY_USER_STACK(e, e->sp);
    exemplars.perf_submit(ctx, e, sizeof(*e));
    return 0;
}
"""
)


def program_cflags() -> list[str]:
    return [
        f"-DCOUNTS_ENTRIES={COUNTS_ENTRIES}",
        f"-DSTACK_ENTRIES={STACK_ENTRIES}",
        f"-DSTAT_SAMPLES={STAT_SAMPLES}",
        f"-DSTAT_LOST={STAT_LOST}",
        f"-DSTAT_USER_STACK_MISSING={STAT_USER_STACK_MISSING}",
        f"-DSTAT_KERNEL_STACK_MISSING={STAT_KERNEL_STACK_MISSING}",
        f"-DSTAT_COLLISIONS={STAT_COLLISIONS}",
        f"-DSTAT_COUNT={STAT_COUNT}",
        f"-DSTACK_COPY_BYTES={STACK_COPY_BYTES}",
        *gate_cflags(),
    ]


@dataclass
class CollectedSamples:
    stacks: list[StackCount]
    counters: SampleCounters
    exemplars: list[Exemplar]


class CpuProfiler:
    """Owns one compiled program; ``start``/``stop`` run one profile at a time."""

    def __init__(self) -> None:
        from bcc import BPF

        self._bpf: Any = BPF(text=BPF_PROGRAM.encode(), cflags=program_cflags())
        self._attached = False
        # (user stack id, user ip key) -> raw exemplars, filled by the perf buffer callback
        self._exemplars: list[tuple[int, int, int, int, int, int, bytes]] = []
        self._exemplars_lost = 0
        self._bpf["exemplars"].open_perf_buffer(
            self._on_exemplar, page_cnt=EXEMPLAR_BUFFER_PAGES, lost_cb=self._on_exemplars_lost
        )
        self.gate = TargetGate(self._bpf)

    def _on_exemplar(self, cpu: int, data: Any, size: int) -> None:
        # The event is a view into the ring: copy what we keep now.
        event = self._bpf["exemplars"].event(data)
        length = min(int(event.size), STACK_COPY_BYTES)
        stack = ctypes.string_at(ctypes.addressof(event.data), length)
        self._exemplars.append(
            (
                int(event.user_stack_id),
                int(event.user_ip_key),
                int(event.tid),
                int(event.ip),
                int(event.sp),
                int(event.bp),
                stack,
            )
        )

    def _on_exemplars_lost(self, count: int) -> None:
        self._exemplars_lost += int(count)

    def poll(self, timeout_s: float) -> None:
        """Deliver pending exemplars, waiting up to ``timeout_s`` for some."""
        self._bpf.perf_buffer_poll(timeout=max(int(timeout_s * 1000), 0))

    def start(self, tgid: int, frequency: int, exemplars: bool = True) -> None:
        from bcc import PerfSWConfig, PerfType

        self._reset()
        self._bpf["exemplars_enabled"][ctypes.c_int(0)] = ctypes.c_uint32(1 if exemplars else 0)
        self.gate.open(tgid)
        self._bpf.attach_perf_event(
            ev_type=PerfType.SOFTWARE,
            ev_config=PerfSWConfig.CPU_CLOCK,
            fn_name=b"on_cpu_sample",
            sample_freq=frequency,
        )
        self._attached = True

    def events_so_far(self) -> int:
        return stat(self._bpf, STAT_SAMPLES)

    def tick(self) -> None:
        """Nothing to do between polls: stacks are aggregated in the kernel."""

    def stop(self) -> None:
        """Detach the perf events: sampling ends here, the maps stay readable."""
        if self._attached:
            from bcc import PerfSWConfig, PerfType

            self._attached = False
            self._bpf.detach_perf_event(ev_type=PerfType.SOFTWARE, ev_config=PerfSWConfig.CPU_CLOCK)
        self.gate.close()

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
        counters = SampleCounters(
            samples=stat(self._bpf, STAT_SAMPLES),
            lost=stat(self._bpf, STAT_LOST),
            user_stack_missing=stat(self._bpf, STAT_USER_STACK_MISSING),
            kernel_stack_missing=stat(self._bpf, STAT_KERNEL_STACK_MISSING),
            stack_collisions=stat(self._bpf, STAT_COLLISIONS),
            exemplars_lost=self._exemplars_lost,
        )
        exemplars = [
            Exemplar(index_of.get((stack_id, -1, ip_key), -1), tid, ip, sp, bp, data)
            for stack_id, ip_key, tid, ip, sp, bp, data in self._exemplars
        ]
        self._reset()
        return CollectedSamples(stacks, counters, exemplars)

    def close(self) -> None:
        try:
            self.stop()
        finally:
            self._bpf.cleanup()

    def _reset(self) -> None:
        self._exemplars = []
        self._exemplars_lost = 0
        empty(self._bpf, ("counts", "stack_traces"))


def name_kernel_address(address: int) -> str:
    from bcc import BPF

    name = BPF.ksym(address, show_module=False, show_offset=False)
    return name.decode(errors="replace") if isinstance(name, bytes) else str(name)
