"""The gate in front of every BPF program: which process's events may be recorded, and when.

Each program includes ``TARGET_GATE_C`` and asks ``lp_is_target()`` before it
records anything. The gate holds the target's tgid, and it shuts

- when the target execs: a new program may carry new credentials (a setuid
  binary) or be non-dumpable, so nothing is recorded until the agent has
  asked the kernel again whether the caller may debug it (``AccessCheck``)
  and approved the exec count it asked about. Events met meanwhile are
  counted, never kept. A root caller may trace whatever runs, so for root an
  exec does not shut the gate (``trusted``);
- for good, when a new task is given the target's PID (the original has
  exited and been reaped). ``sched_process_fork`` fires before the new task
  first runs, so not one of its events is recorded: the tgid and this
  generation together are an identity that cannot be reused within a trace.

The agent learns of an exec or a reuse at once through the ``lp_gate_events``
perf buffer, which the tracer's own ``perf_buffer_poll`` drains with its other
buffers.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

GATE_TGID = 0
GATE_EXECS = 1
GATE_APPROVED = 2
GATE_ENDED = 3
GATE_HELD = 4
GATE_TRUSTED = 5
GATE_START = 6
GATE_SLOTS = 7
NEVER = 2**64 - 1
"""An approved exec count that no count reaches: the gate stays shut."""

# One u64 per slot, so that user space writes only its own slots (tgid, approved,
# ended at open) and the programs only theirs (execs, held, ended): no update is
# ever lost to a concurrent write of a neighbouring field. The gate is open while
# the approved exec count equals the exec count: an exec shuts it until user
# space has checked access and approved the count it checked, and a second exec
# during that check keeps it shut.
TARGET_GATE_C = r"""
BPF_ARRAY(lp_gate, u64, GATE_SLOTS);
BPF_PERF_OUTPUT(lp_gate_events);

static __always_inline u64 *lp_gate_slot(u32 slot)
{
    return lp_gate.lookup(&slot);
}

static __always_inline int lp_gate_matches(u32 tgid)
{
    u64 *wanted = lp_gate_slot(GATE_TGID);
    return wanted && *wanted && tgid == (u32)*wanted;
}

/* 0: not the target, or its gate is shut; 1: the target, recording; 2: the target before the exec
 * that starts recording (a launched command's gate and wrapper: lineprobe's own work). */
static __always_inline int lp_gate_state(void)
{
    if (!lp_gate_matches(bpf_get_current_pid_tgid() >> 32))
        return 0;
    u64 *execs = lp_gate_slot(GATE_EXECS);
    u64 *start = lp_gate_slot(GATE_START);
    u64 *approved = lp_gate_slot(GATE_APPROVED);
    u64 *ended = lp_gate_slot(GATE_ENDED);
    u64 *trusted = lp_gate_slot(GATE_TRUSTED);
    if (!execs || !start || !approved || !ended || !trusted)
        return 0;
    if (*ended == 0 && (*approved == *execs || *trusted))
        return *execs < *start ? 2 : 1;
    if (*execs >= *start) {
        u64 *held = lp_gate_slot(GATE_HELD);
        if (held)
            __sync_fetch_and_add(held, 1);
    }
    return 0;
}

static __always_inline int lp_is_target(void)
{
    return lp_gate_state() == 1;
}

TRACEPOINT_PROBE(sched, sched_process_exec)
{
    if (!lp_gate_matches(bpf_get_current_pid_tgid() >> 32))
        return 0;
    u64 *execs = lp_gate_slot(GATE_EXECS);
    if (execs)
        __sync_fetch_and_add(execs, 1);
    u32 what = 1;
    lp_gate_events.perf_submit(args, &what, sizeof(what));
    return 0;
}

/* A new task given the target's number: the target has exited and been reaped. */
TRACEPOINT_PROBE(sched, sched_process_fork)
{
    if (!lp_gate_matches((u32)args->child_pid))
        return 0;
    u64 *ended = lp_gate_slot(GATE_ENDED);
    if (ended)
        *ended = 1;
    u32 what = 2;
    lp_gate_events.perf_submit(args, &what, sizeof(what));
    return 0;
}
"""


def gate_cflags() -> list[str]:
    return [
        f"-DGATE_SLOTS={GATE_SLOTS}",
        f"-DGATE_TGID={GATE_TGID}",
        f"-DGATE_EXECS={GATE_EXECS}",
        f"-DGATE_APPROVED={GATE_APPROVED}",
        f"-DGATE_ENDED={GATE_ENDED}",
        f"-DGATE_HELD={GATE_HELD}",
        f"-DGATE_TRUSTED={GATE_TRUSTED}",
        f"-DGATE_START={GATE_START}",
    ]


@dataclass
class TargetGate:
    """The user-space side of one program's gate."""

    bpf: Any
    exec_seen: bool = False
    reused: bool = False
    trusted: bool = False
    """The caller may trace whatever the target execs (root): an exec does not shut the gate,
    so not one event is held; set before ``open``."""
    start_at_exec: int = 0
    """Nothing is recorded before the target's Nth exec (a launched command's gate and wrapper);
    set before ``open``."""

    def __post_init__(self) -> None:
        self.bpf["lp_gate_events"].open_perf_buffer(self._on_event, page_cnt=8)

    def _on_event(self, cpu: int, data: Any, size: int) -> None:
        what = ctypes.cast(data, ctypes.POINTER(ctypes.c_uint32)).contents.value
        if what == 1:
            self.exec_seen = True
        elif what == 2:
            self.reused = True

    def _get(self, slot: int) -> int:
        return int(self.bpf["lp_gate"][ctypes.c_int(slot)].value)

    def _set(self, slot: int, value: int) -> None:
        self.bpf["lp_gate"][ctypes.c_int(slot)] = ctypes.c_uint64(value)

    def open(self, tgid: int) -> None:
        """Start recording ``tgid``'s events, with fresh counts."""
        self.exec_seen = self.reused = False
        self._set(GATE_TGID, 0)
        for slot in (GATE_EXECS, GATE_APPROVED, GATE_ENDED, GATE_HELD):
            self._set(slot, 0)
        self._set(GATE_TRUSTED, 1 if self.trusted else 0)
        self._set(GATE_START, self.start_at_exec)
        self._set(GATE_TGID, tgid)

    def execs(self) -> int:
        """Execs of the target so far: read before an access check, approved after it."""
        return self._get(GATE_EXECS)

    def approve(self, execs: int) -> None:
        """Re-open the gate for the program the target runs after ``execs`` execs."""
        self._set(GATE_APPROVED, execs)

    def hold(self) -> None:
        """Record nothing more (the caller lost access); the target's events are still counted."""
        self._set(GATE_TRUSTED, 0)
        self._set(GATE_APPROVED, NEVER)

    def ended(self) -> bool:
        return self.reused or self._get(GATE_ENDED) != 0

    def held_events(self) -> int:
        return self._get(GATE_HELD)

    def close(self) -> None:
        """No target: nothing is recorded or counted."""
        self._set(GATE_TGID, 0)
