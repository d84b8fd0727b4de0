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
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lineprobe_agent.protocol import SampleCounters, StackCount

COUNTS_ENTRIES = 40960
STACK_ENTRIES = 16384

# Indices into the per-CPU stats array; keep in sync with the C below.
STAT_SAMPLES = 0
STAT_LOST = 1
STAT_USER_STACK_MISSING = 2
STAT_KERNEL_STACK_MISSING = 3
STAT_COLLISIONS = 4
STAT_COUNT = 5

BPF_PROGRAM = r"""
#include <uapi/linux/ptrace.h>

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

BPF_HASH(counts, struct sample_key_t, u64, COUNTS_ENTRIES);
BPF_STACK_TRACE(stack_traces, STACK_ENTRIES);
BPF_ARRAY(target_tgid, u32, 1);
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
    u32 *wanted = target_tgid.lookup(&zero);
    if (!wanted || *wanted == 0)
        return 0;
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    if (tgid != *wanted)
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
    return 0;
}
"""


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
    ]


@dataclass
class CollectedSamples:
    stacks: list[StackCount]
    counters: SampleCounters


class CpuProfiler:
    """Owns one compiled program; ``start``/``stop`` run one profile at a time."""

    def __init__(self) -> None:
        from bcc import BPF

        self._bpf: Any = BPF(text=BPF_PROGRAM.encode(), cflags=program_cflags())
        self._attached = False

    def start(self, tgid: int, frequency: int) -> None:
        from bcc import PerfSWConfig, PerfType

        self._reset()
        self._bpf["target_tgid"][ctypes.c_int(0)] = ctypes.c_uint32(tgid)
        self._bpf.attach_perf_event(
            ev_type=PerfType.SOFTWARE,
            ev_config=PerfSWConfig.CPU_CLOCK,
            fn_name=b"on_cpu_sample",
            sample_freq=frequency,
        )
        self._attached = True

    def samples_so_far(self) -> int:
        return self._stat(STAT_SAMPLES)

    def stop(self) -> None:
        """Detach the perf events: sampling ends here, the maps stay readable."""
        if self._attached:
            from bcc import PerfSWConfig, PerfType

            self._attached = False
            self._bpf.detach_perf_event(ev_type=PerfType.SOFTWARE, ev_config=PerfSWConfig.CPU_CLOCK)
        self._bpf["target_tgid"][ctypes.c_int(0)] = ctypes.c_uint32(0)

    def collect(self, name_kernel_address: Callable[[int], str]) -> CollectedSamples:
        counts = self._bpf["counts"]
        traces = self._bpf["stack_traces"]
        stacks: list[StackCount] = []
        for key, value in counts.items():
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
            samples=self._stat(STAT_SAMPLES),
            lost=self._stat(STAT_LOST),
            user_stack_missing=self._stat(STAT_USER_STACK_MISSING),
            kernel_stack_missing=self._stat(STAT_KERNEL_STACK_MISSING),
            stack_collisions=self._stat(STAT_COLLISIONS),
        )
        self._reset()
        return CollectedSamples(stacks, counters)

    def close(self) -> None:
        try:
            self.stop()
        finally:
            self._bpf.cleanup()

    def _stat(self, index: int) -> int:
        return int(self._bpf["stats"].sum(ctypes.c_int(index)).value)

    def _reset(self) -> None:
        self._bpf["counts"].clear()
        self._bpf["stack_traces"].clear()
        self._bpf["stats"].zero()


def name_kernel_address(address: int) -> str:
    from bcc import BPF

    name = BPF.ksym(address, show_module=False, show_offset=False)
    return name.decode(errors="replace") if isinstance(name, bytes) else str(name)


def sampling_loop(
    profiler: CpuProfiler,
    duration_s: float,
    wait: Callable[[float], bool],
    tick: Callable[[float], None],
    interval_s: float = 0.25,
) -> tuple[float, bool]:
    """Sample until the duration ends or ``wait`` reports an end (exit or stop).

    Returns (seconds sampled, ended early).
    """
    started = time.monotonic()
    while True:
        elapsed = time.monotonic() - started
        remaining = duration_s - elapsed
        if remaining <= 0:
            return elapsed, False
        if wait(min(interval_s, remaining)):
            return time.monotonic() - started, True
        tick(time.monotonic() - started)
