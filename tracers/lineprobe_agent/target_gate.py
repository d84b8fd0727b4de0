"""The gate in front of every BPF program: which process's events may be recorded, and when.

Each program includes ``bpf/lineprobe.h``, where the gate's C is, and asks
``lp_is_target()`` before it records anything. The gate holds the target's tgid, and it shuts

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

With ``follow`` (root callers only: a caller the agent trusts to trace whatever
runs, since no access check is made per child), the processes the target forks,
and theirs in turn, are recorded as the target is: ``sched_process_fork`` adds a
recorded parent's child to the ``lp_followed`` map (by tgid; a thread's tid added
is inert), and ``sched_process_exit``, attached only then, deletes it, so that a
number given to another process is not followed by mistake. A fork the map has no
room for is counted (``follow_full``).

The agent learns of an exec or a reuse at once through the ``lp_gate_events``
perf buffer, which the tracer's own ``perf_buffer_poll`` drains with its other
buffers. The two ``sched:`` tracepoints that keep the gate are attached for a
request (``attach``, before the gate opens) and detached after it (``detach``,
once it is closed): between requests no exec or fork anywhere runs them.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Any, Protocol

from lineprobe_agent.bpf_source import constant
from lineprobe_agent.tracepoints import Tracepoints

# The slots of the lp_gate array and what lp_gate_events says: enum lp_gate_slot and
# GATE_EVENT_* in bpf/lineprobe.h, which also says who writes which slot.
GATE_TGID = constant("GATE_TGID")
GATE_EXECS = constant("GATE_EXECS")
GATE_APPROVED = constant("GATE_APPROVED")
GATE_ENDED = constant("GATE_ENDED")
GATE_HELD = constant("GATE_HELD")
GATE_TRUSTED = constant("GATE_TRUSTED")
GATE_START = constant("GATE_START")
GATE_FOLLOW = constant("GATE_FOLLOW")
GATE_FOLLOW_FULL = constant("GATE_FOLLOW_FULL")
GATE_SLOTS = constant("GATE_SLOTS")
GATE_EVENT_EXEC = constant("GATE_EVENT_EXEC")
GATE_EVENT_REUSED = constant("GATE_EVENT_REUSED")
GATE_EVENT_FOLLOWED_EXEC = constant("GATE_EVENT_FOLLOWED_EXEC")
NEVER = 2**64 - 1
"""An approved exec count that no count reaches: the gate stays shut."""

GATE_TRACEPOINTS = (
    ("sched:sched_process_exec", "lp_gate_on_exec"),
    ("sched:sched_process_fork", "lp_gate_on_fork"),
)
FOLLOW_TRACEPOINTS = (("sched:sched_process_exit", "lp_gate_on_exit"),)
"""Attached only while following children: forget a followed task as it exits."""


@dataclass
class TargetGate:
    """The user-space side of one program's gate."""

    bpf: Any
    exec_seen: bool = False
    reused: bool = False
    followed_exec_seen: bool = False
    """A followed process exec'd since this was last cleared (its new map is worth reading)."""
    trusted: bool = False
    """The caller may trace whatever the target execs (root): an exec does not shut the gate,
    so not one event is held; set before ``open``."""
    start_at_exec: int = 0
    """Nothing is recorded before the target's Nth exec (a launched command's gate and wrapper);
    set before ``open``."""
    follow: bool = False
    """Also record the processes the target starts (and theirs): root callers only; set before
    ``attach``."""
    _tracepoints: Tracepoints = field(init=False, repr=False)
    _follow_tracepoints: Tracepoints = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.bpf["lp_gate_events"].open_perf_buffer(self._on_event, page_cnt=8)
        self._tracepoints = Tracepoints(self.bpf, GATE_TRACEPOINTS)
        self._follow_tracepoints = Tracepoints(self.bpf, FOLLOW_TRACEPOINTS)

    def _on_event(self, cpu: int, data: Any, size: int) -> None:
        what = ctypes.cast(data, ctypes.POINTER(ctypes.c_uint32)).contents.value
        if what == GATE_EVENT_EXEC:
            self.exec_seen = True
        elif what == GATE_EVENT_REUSED:
            self.reused = True
        elif what == GATE_EVENT_FOLLOWED_EXEC:
            self.followed_exec_seen = True

    def _get(self, slot: int) -> int:
        return int(self.bpf["lp_gate"][ctypes.c_int(slot)].value)

    def _set(self, slot: int, value: int) -> None:
        self.bpf["lp_gate"][ctypes.c_int(slot)] = ctypes.c_uint64(value)

    def attach(self) -> None:
        """Follow execs and forks (the gate's tracepoints), and exits when following children;
        before ``open``."""
        if self.follow:
            self._follow_tracepoints.attach()
        self._tracepoints.attach()

    def detach(self) -> None:
        """Stop following execs and forks; after ``close``. Safe to call when not attached."""
        try:
            self._tracepoints.detach()
        finally:
            self._follow_tracepoints.detach()

    def open(self, tgid: int) -> None:
        """Start recording ``tgid``'s events, with fresh counts."""
        self.exec_seen = self.reused = self.followed_exec_seen = False
        self._set(GATE_TGID, 0)
        for slot in (GATE_EXECS, GATE_APPROVED, GATE_ENDED, GATE_HELD):
            self._set(slot, 0)
        self._set(GATE_TRUSTED, 1 if self.trusted else 0)
        self._set(GATE_START, self.start_at_exec)
        self._set(GATE_FOLLOW, 0)
        self.bpf["lp_followed"].clear()
        self._set(GATE_FOLLOW_FULL, 0)
        self._set(GATE_FOLLOW, 1 if self.follow else 0)
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

    def followed(self) -> list[int]:
        """The tasks followed now (tgids, and the inert tids of threads)."""
        return [int(key.value) for key in self.bpf["lp_followed"]]

    def follow_full(self) -> int:
        """Forks not followed because the map of followed processes was full."""
        return self._get(GATE_FOLLOW_FULL)

    def close(self) -> None:
        """No target: nothing is recorded or counted."""
        self._set(GATE_TGID, 0)
        self._set(GATE_FOLLOW, 0)


class WindowGate(Protocol):
    """What a tracing window asks of the gate in front of its program (or programs)."""

    trusted: bool
    start_at_exec: int
    exec_seen: bool

    def execs(self) -> int: ...

    def approve(self, execs: int) -> None: ...

    def hold(self) -> None: ...

    def ended(self) -> bool: ...

    def held_events(self) -> int: ...


class GateGroup:
    """The gates of several programs tracing one target in one window (a wall-clock trace runs
    the CPU profiler and the off-CPU program together), driven as one: each counts the target's
    execs itself, so the lowest count is approved (a gate that saw one more stays shut until the
    next check), and any gate's end ends the window."""

    def __init__(self, gates: list[TargetGate]) -> None:
        self.gates = gates

    @property
    def trusted(self) -> bool:
        return all(gate.trusted for gate in self.gates)

    @trusted.setter
    def trusted(self, value: bool) -> None:
        for gate in self.gates:
            gate.trusted = value

    @property
    def start_at_exec(self) -> int:
        return self.gates[0].start_at_exec

    @start_at_exec.setter
    def start_at_exec(self, value: int) -> None:
        for gate in self.gates:
            gate.start_at_exec = value

    @property
    def exec_seen(self) -> bool:
        return any(gate.exec_seen for gate in self.gates)

    @exec_seen.setter
    def exec_seen(self, value: bool) -> None:
        for gate in self.gates:
            gate.exec_seen = value

    def execs(self) -> int:
        return min(gate.execs() for gate in self.gates)

    def approve(self, execs: int) -> None:
        for gate in self.gates:
            gate.approve(execs)

    def hold(self) -> None:
        for gate in self.gates:
            gate.hold()

    def ended(self) -> bool:
        return any(gate.ended() for gate in self.gates)

    def held_events(self) -> int:
        return sum(gate.held_events() for gate in self.gates)
