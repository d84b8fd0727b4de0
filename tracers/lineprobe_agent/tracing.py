"""One tracing request under way, whatever its tracer: the target, the window, the result header.

Every tracer (``tracer_registry``) runs through the same steps: its program is
compiled once per agent, attached to the target (whose memory map is taken
first), run for a window that ends at the requested duration, a ``stop``, the
target's exit or the caller's loss of access, then collected. ``Tracing`` does
all of it but the tracer's own start and collect, and writes the
``TraceHeader`` that every result starts with.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from lineprobe_agent import protocol
from lineprobe_agent.access import AccessCheck
from lineprobe_agent.target import Target
from lineprobe_agent.target_gate import WindowGate
from lineprobe_agent.window import WindowTracer, sampling_loop

T = TypeVar("T")


class Compiled(Protocol):
    def close(self) -> None: ...


CompiledT = TypeVar("CompiledT", bound=Compiled)


class RequestFailed(Exception):
    def __init__(self, code: protocol.ErrorCode, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code: protocol.ErrorCode = code
        self.message = message
        self.hint = hint


class TracedTarget(Protocol):
    """What a trace needs of its target: one process (``Target``), or every task (``WholeSystem``)."""

    pid: int
    exe: str
    comm: str

    def close(self) -> None: ...

    def wait_exit(self, timeout_s: float) -> bool: ...

    def alive(self) -> bool: ...

    def snapshot_maps(self) -> None: ...

    def mappings(self) -> list[protocol.Mapping]: ...


@dataclass
class WholeSystem:
    """Every task at once, for root callers: no process to pin, to see exit, or to map.

    Its pid is 0 in the result header; a tracer that counts per process says which."""

    pid: int = 0
    exe: str = ""
    comm: str = "(all tasks)"

    def close(self) -> None:
        """Nothing is held."""

    def wait_exit(self, timeout_s: float) -> bool:
        return False

    def alive(self) -> bool:
        return True

    def snapshot_maps(self) -> None:
        """Every task has its own map: none is taken."""

    def mappings(self) -> list[protocol.Mapping]:
        return []


class Session(Protocol):
    """What a tracing request needs of the agent that runs it."""

    access: AccessCheck
    stop_requested: threading.Event

    def send(self, message: protocol.AgentMessage) -> None: ...

    def exit_if_signalled(self) -> None:
        """Raise the SystemExit of a SIGTERM that a ctypes callback swallowed, if one came."""
        ...

    def program(self, name: str, request_id: int) -> tuple[Any, float]:
        """The named BPF program, compiled on first use; and the seconds compiling took now."""
        ...

    def compile(self, request_id: int, build: Callable[[], CompiledT]) -> tuple[CompiledT, float]:
        """A program made for one request (not kept), and the seconds compiling it took."""
        ...


@dataclass
class Tracing:
    """One tracing request under way: its target, the phases' times, and the result header."""

    session: Session
    request_id: int
    duration_s: float
    target: Target | WholeSystem
    agent_start_s: float
    start_at_exec: int = 0
    compile_s: float = 0.0
    attach_s: float = 0.0
    gate: WindowGate | None = None

    def program(self, name: str) -> Any:
        """The tracer's program, compiled now if this agent has not yet (the time is charged here)."""
        program, self.compile_s = self.session.program(name, self.request_id)
        return program

    def program_for_request(self, build: Callable[[], CompiledT]) -> CompiledT:
        """A program compiled for this request alone (its probe's code is written into it); the
        caller closes it. The time is charged here."""
        program, self.compile_s = self.session.compile(self.request_id, build)
        return program

    def attach(
        self,
        start: Callable[[], None],
        stop: Callable[[], None],
        gate: WindowGate,
        failure: str | None = None,
    ) -> None:
        """Start the program on the target (its memory map taken first), timed. With ``failure``,
        an error is an ``attach-failed`` answer saying so.

        Then the target is checked again: the pidfd taken when the request came says whether
        the process has exited meanwhile (compiling takes seconds, and its PID may have gone
        to another process since), and the kernel whether the caller may still debug it.
        Either way the program is stopped and nothing is answered but the reason."""
        self.target.snapshot_maps()
        gate.trusted = self.session.access.caller.is_root
        gate.start_at_exec = self.start_at_exec
        started = time.monotonic()
        try:
            start()
        except Exception as exc:
            stop()
            if failure is None:
                raise
            if not self.target.alive():
                raise RequestFailed(
                    "no-such-process", f"process {self.target.pid} exited while tracing was being set up"
                ) from None
            raise RequestFailed("attach-failed", f"{failure}: {exc}") from None
        self.attach_s = time.monotonic() - started
        self.gate = gate
        pid = self.target.pid
        if not self.target.alive() or gate.ended():
            stop()
            raise RequestFailed(
                "no-such-process",
                f"process {pid} exited while tracing was being set up; nothing was recorded "
                "(another process may have its PID by now)",
            )
        denial = self.session.access.denial(pid)
        if denial is not None:
            stop()
            raise RequestFailed("permission-denied", denial)

    def run(self, tracer: WindowTracer, collect: Callable[[], T]) -> tuple[T, protocol.TraceHeader]:
        """The tracing window, then ``collect``: what it collected, and the result's header."""
        assert self.gate is not None, "attach() comes before run()"
        window = self._window(tracer, self.gate)
        collect_started = time.monotonic()
        collected = collect()
        target = self.target
        header = protocol.TraceHeader(
            pid=target.pid,
            exe=target.exe,
            comm=target.comm,
            requested_s=self.duration_s,
            duration_s=window.elapsed_s,
            started_at=window.started_at,
            stopped_early=window.stopped_early,
            target_exited=window.target_exited,
            exited_after_s=window.elapsed_s if window.target_exited else None,
            maps=target.mappings(),
            timings=window.timings(self.agent_start_s, self.compile_s, self.attach_s, collect_started),
            access_lost=window.access_lost,
            held_events=window.held_events,
        )
        return collected, header

    def _window(self, tracer: WindowTracer, gate: WindowGate) -> Window:
        """Run one tracing window: until the duration ends, a stop, the target exits, or the
        caller may no longer debug it."""
        session, target, duration_s = self.session, self.target, self.duration_s
        exited = False
        access_lost: str | None = None

        def still_allowed() -> bool:
            """Ask the kernel again; re-open the gate for the exec count asked about, or shut it."""
            nonlocal access_lost
            if access_lost is not None:
                return False
            execs = gate.execs()  # read before asking: an exec after this keeps the gate shut
            denial = session.access.denial(target.pid)
            if denial is None:
                gate.approve(execs)
                return True
            gate.hold()
            access_lost = denial
            return False

        def wait(timeout: float) -> bool:
            nonlocal exited
            if session.stop_requested.wait(0) or access_lost is not None:
                return True
            # Drain the perf buffers while waiting; the pidfd then says whether the target lives.
            tracer.poll(timeout)
            session.exit_if_signalled()
            exited = target.wait_exit(0) or gate.ended()
            if exited:
                return True
            if gate.exec_seen:  # a new program: held until the caller's access is confirmed
                gate.exec_seen = False
                if not still_allowed():
                    return True
                target.snapshot_maps()
            return session.stop_requested.is_set()

        def tick(elapsed: float) -> None:
            if not still_allowed():  # credentials can change without an exec (setuid, prctl)
                return
            target.snapshot_maps()
            tracer.tick()
            live = tracer.live(target.mappings())
            session.send(
                protocol.Progress(
                    self.request_id, "sampling", elapsed, duration_s, tracer.events_so_far(), live
                )
            )

        started_at = time.time()
        session.send(protocol.Progress(self.request_id, "sampling", 0.0, duration_s, 0))
        try:
            elapsed, ended_early = sampling_loop(duration_s, wait, tick)
        finally:
            tracer.stop()
        if not exited and access_lost is None:
            target.snapshot_maps()
        session.send(protocol.Progress(self.request_id, "collecting", elapsed, duration_s, 0))
        stopped_early = ended_early and not exited and access_lost is None
        return Window(started_at, round(elapsed, 4), stopped_early, exited, access_lost, gate.held_events())


@dataclass(frozen=True)
class Window:
    started_at: float
    elapsed_s: float
    stopped_early: bool
    target_exited: bool
    access_lost: str | None
    held_events: int

    def timings(
        self, agent_start_s: float, compile_s: float, attach_s: float, collect_started: float
    ) -> protocol.PhaseTimings:
        """The phases of a request around this window; collection runs from ``collect_started`` to now."""
        return protocol.PhaseTimings(
            agent_start_s=round(agent_start_s, 4),
            compile_s=round(compile_s, 4),
            attach_s=round(attach_s, 4),
            sampling_s=self.elapsed_s,
            collect_s=round(time.monotonic() - collect_started, 4),
        )
