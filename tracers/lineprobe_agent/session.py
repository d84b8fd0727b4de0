"""The agent's request loop: reads requests, runs them one at a time, answers.

Stdout belongs to the protocol alone. At start the agent keeps a private
duplicate of fd 1 for its messages and points fd 1 at stderr, so whatever
bcc, clang or a library prints can never corrupt the message stream.

A reader thread parses stdin so that ``stop`` reaches a running profile and a
closed pipe ends it; the main thread does the BPF work. Probes are released
on every exit path: normal return, exception, SIGTERM, EOF on stdin. The
perf events themselves are file descriptors, so even SIGKILL frees them.
"""

from __future__ import annotations

import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, BinaryIO, TypeVar

import msgspec

from lineprobe_agent import protocol
from lineprobe_agent.capabilities import capability_report, has_tracing_privileges
from lineprobe_agent.cpu_profiler import CpuProfiler, name_kernel_address
from lineprobe_agent.cpu_time import CpuTimeSampler
from lineprobe_agent.kernel_source import KernelHeadersMissing, export_for_bcc, find_kernel_headers
from lineprobe_agent.leak_tracer import LeakTracer, find_libc
from lineprobe_agent.syscall_tracer import SyscallTracer
from lineprobe_agent.target import NoSuchProcess, NotPermitted, Target, caller_uid
from lineprobe_agent.window import WindowTracer, sampling_loop

T = TypeVar("T")

MAX_DURATION_S = 3600.0
MAX_FREQUENCY = 10000


Work = (
    protocol.CapabilitiesRequest
    | protocol.PrepareRequest
    | protocol.ProfileRequest
    | protocol.SyscallsRequest
    | protocol.LeaksRequest
)
"""Requests that run on the main thread, one at a time (stop and shutdown do not queue)."""


class RequestFailed(Exception):
    def __init__(self, code: protocol.ErrorCode, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code: protocol.ErrorCode = code
        self.message = message
        self.hint = hint


@dataclass
class Channel:
    """The protocol side of stdout, safe to write from any thread."""

    stream: BinaryIO
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, message: protocol.AgentMessage) -> None:
        data = protocol.encode(message)
        with self.lock:
            try:
                self.stream.write(data)
                self.stream.flush()
            except (BrokenPipeError, ValueError):
                pass  # the server is gone; the reader thread will end the loop


@dataclass
class Agent:
    channel: Channel
    started_at: float
    requests: queue.Queue[Work | None] = field(default_factory=queue.Queue)
    stop_requested: threading.Event = field(default_factory=threading.Event)
    current_id: int | None = None
    profiler: CpuProfiler | None = None
    syscall_tracer: SyscallTracer | None = None
    leak_tracer: LeakTracer | None = None
    first_request_at: float | None = None

    # -- input -------------------------------------------------------------------

    def read_requests(self, stdin: BinaryIO) -> None:
        """Reader thread: parse each line; garbage gets an error, not a crash."""
        for line in stdin:
            if not line.strip():
                continue
            try:
                request = protocol.decode_request(line)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                self.channel.send(protocol.Failure(None, "bad-request", f"malformed request: {exc}"))
                continue
            if isinstance(request, protocol.StopRequest):
                if request.id == self.current_id:
                    self.stop_requested.set()
                continue
            if isinstance(request, protocol.ShutdownRequest):
                break
            self.requests.put(request)
        # EOF, shutdown or a closed pipe: end whatever runs, then the loop.
        self.stop_requested.set()
        self.requests.put(None)

    # -- the loop ------------------------------------------------------------------

    def serve(self) -> None:
        try:
            while True:
                request = self.requests.get()
                if request is None:
                    return
                if self.first_request_at is None:
                    self.first_request_at = time.monotonic()
                self.stop_requested.clear()
                self.current_id = request.id
                try:
                    self.handle(request)
                except RequestFailed as exc:
                    self.channel.send(protocol.Failure(request.id, exc.code, exc.message, exc.hint))
                except Exception as exc:  # the agent must answer, whatever broke
                    self.channel.send(
                        protocol.Failure(request.id, "internal", f"{type(exc).__name__}: {exc}")
                    )
                finally:
                    self.current_id = None
        finally:
            self.close()

    def handle(self, request: Work) -> None:
        if isinstance(request, protocol.CapabilitiesRequest):
            self.channel.send(protocol.CapabilitiesResult(request.id, capability_report()))
        elif isinstance(request, protocol.PrepareRequest):
            self.channel.send(protocol.Prepared(request.id, round(self.prepare(request), 4)))
        elif isinstance(request, protocol.ProfileRequest):
            self.channel.send(protocol.ProfileDone(request.id, self.profile(request)))
        elif isinstance(request, protocol.SyscallsRequest):
            self.channel.send(protocol.SyscallsDone(request.id, self.trace_syscalls(request)))
        elif isinstance(request, protocol.LeaksRequest):
            self.channel.send(protocol.LeaksDone(request.id, self.find_leaks(request)))
        else:
            raise RequestFailed("bad-request", f"unexpected request {type(request).__name__}")

    def close(self) -> None:
        programs: list[CpuProfiler | SyscallTracer | LeakTracer | None] = [
            self.profiler,
            self.syscall_tracer,
            self.leak_tracer,
        ]
        self.profiler = None
        self.syscall_tracer = None
        self.leak_tracer = None
        for program in programs:
            if program is not None:
                program.close()

    # -- shared by every tracer ---------------------------------------------------------

    def _check_ready(self) -> None:
        if not has_tracing_privileges():
            raise RequestFailed(
                "no-privileges",
                f"the agent runs as uid {os.geteuid()} without CAP_BPF/CAP_PERFMON",
                "run as root, or set a launcher that gains privileges (default `sudo -n`)",
            )

    def _compile(self, request_id: int, build: Callable[[], T]) -> tuple[T, float]:
        """Compile one of the agent's programs (once per agent); returns it and seconds spent."""
        try:
            export_for_bcc(find_kernel_headers())
        except KernelHeadersMissing as exc:
            raise RequestFailed("kernel-headers-missing", str(exc), "install linux-headers-amd64") from None
        self.channel.send(protocol.Progress(request_id, "compiling", 0.0, 0.0, 0))
        started = time.monotonic()
        try:
            program = build()
        except ImportError as exc:
            raise RequestFailed(
                "bcc-unavailable", f"cannot import bcc: {exc}", "install python3-bpfcc and run `make setup`"
            ) from None
        except Exception as exc:
            raise RequestFailed("compile-failed", f"BPF program did not compile or load: {exc}") from None
        return program, time.monotonic() - started

    def _open_target(self, pid: int) -> Target:
        try:
            return Target.open(pid, caller_uid())
        except NoSuchProcess as exc:
            raise RequestFailed("no-such-process", str(exc), "check the PID: `ps -e`") from None
        except NotPermitted as exc:
            raise RequestFailed("permission-denied", str(exc)) from None

    def _window(self, request_id: int, duration_s: float, target: Target, tracer: WindowTracer) -> Window:
        """Run one tracing window: until the duration ends, a stop, or the target exits."""
        exited = False

        def wait(timeout: float) -> bool:
            nonlocal exited
            if self.stop_requested.wait(0):
                return True
            # Drain the perf buffers while waiting; the pidfd then says whether the target lives.
            tracer.poll(timeout)
            exited = target.wait_exit(0)
            return exited or self.stop_requested.is_set()

        def tick(elapsed: float) -> None:
            target.snapshot_maps()
            tracer.tick()
            self.channel.send(
                protocol.Progress(request_id, "sampling", elapsed, duration_s, tracer.events_so_far())
            )

        started_at = time.time()
        self.channel.send(protocol.Progress(request_id, "sampling", 0.0, duration_s, 0))
        try:
            elapsed, ended_early = sampling_loop(duration_s, wait, tick)
        finally:
            tracer.stop()
        if not exited:
            target.snapshot_maps()
        self.channel.send(protocol.Progress(request_id, "collecting", elapsed, duration_s, 0))
        return Window(started_at, round(elapsed, 4), ended_early and not exited, exited)

    def _agent_start_s(self) -> float:
        """From the agent process's start to its first request."""
        return (self.first_request_at or time.monotonic()) - self.started_at

    def _validate_duration(self, duration_s: float) -> None:
        if not 0 < duration_s <= MAX_DURATION_S:
            raise RequestFailed("bad-request", f"duration must be in (0, {MAX_DURATION_S:.0f}] s")

    def prepare(self, request: protocol.PrepareRequest) -> float:
        """Compile the requested programs now; returns the seconds it took."""
        self._check_ready()
        spent = 0.0
        if "cpu" in request.programs and self.profiler is None:
            self.profiler, seconds = self._compile(request.id, CpuProfiler)
            spent += seconds
        if "syscalls" in request.programs and self.syscall_tracer is None:
            self.syscall_tracer, seconds = self._compile(request.id, SyscallTracer)
            spent += seconds
        if "leaks" in request.programs and self.leak_tracer is None:
            self.leak_tracer, seconds = self._compile(request.id, LeakTracer)
            spent += seconds
        return spent

    # -- CPU profiling -----------------------------------------------------------------------

    def profile(self, request: protocol.ProfileRequest) -> protocol.ProfileResult:
        if not 1 <= request.frequency <= MAX_FREQUENCY:
            raise RequestFailed("bad-request", f"frequency must be 1..{MAX_FREQUENCY} Hz")
        self._validate_duration(request.duration_s)
        with self._tracing(request.id, request.pid, request.duration_s) as tracing:
            if self.profiler is None:
                self.profiler, tracing.compile_s = self._compile(request.id, CpuProfiler)
            profiler = self.profiler
            assert profiler is not None
            tracing.attach(
                lambda: profiler.start(request.pid, request.frequency, request.exemplars),
                "cannot attach the perf events",
            )
            collected, shared = tracing.run(profiler, lambda: profiler.collect(name_kernel_address))
            return protocol.ProfileResult(
                frequency=request.frequency,
                counters=collected.counters,
                stacks=collected.stacks,
                exemplars=collected.exemplars,
                **shared,
            )

    # -- system calls --------------------------------------------------------------------------

    def trace_syscalls(self, request: protocol.SyscallsRequest) -> protocol.SyscallsResult:
        self._validate_duration(request.duration_s)
        if not 0 <= request.slow_ms <= 60_000:
            raise RequestFailed("bad-request", "slow_ms must be 0..60000")
        with self._tracing(request.id, request.pid, request.duration_s) as tracing:
            if self.syscall_tracer is None:
                self.syscall_tracer, tracing.compile_s = self._compile(request.id, SyscallTracer)
            tracer = self.syscall_tracer
            assert tracer is not None
            tracing.attach(lambda: tracer.start(request.pid, request.slow_ms, request.exemplars))
            cpu = CpuTimeSampler(request.pid)
            collected, shared = tracing.run(_SamplingCpuToo(tracer, cpu), tracer.collect)
            return protocol.SyscallsResult(
                counts=collected.counts,
                failures=collected.failures,
                io=collected.io,
                sleeps=collected.sleeps,
                block=collected.block,
                cpu=cpu.splits,
                exemplars=collected.exemplars,
                counters=collected.counters,
                **shared,
            )

    # -- leaks -----------------------------------------------------------------------------------

    def find_leaks(self, request: protocol.LeaksRequest) -> protocol.LeaksResult:
        self._validate_duration(request.duration_s)
        if not 0.1 <= request.interval_s <= 600:
            raise RequestFailed("bad-request", "interval_s must be 0.1..600")
        if not 0.1 <= request.budget_percent <= 100:
            raise RequestFailed("bad-request", "budget_percent must be 0.1..100")
        if request.sample_fraction is not None and not 0 < request.sample_fraction <= 1:
            raise RequestFailed("bad-request", "sample_fraction must be in (0, 1]")
        with self._tracing(request.id, request.pid, request.duration_s) as tracing:
            libc = find_libc(request.pid)
            if libc is None:
                raise RequestFailed(
                    "attach-failed", f"process {request.pid} maps no C library: no allocator to probe"
                )
            if self.leak_tracer is None:
                self.leak_tracer, tracing.compile_s = self._compile(request.id, LeakTracer)
            tracer = self.leak_tracer
            assert tracer is not None
            tracing.attach(
                lambda: tracer.start(request.pid, libc, request.sample_fraction, request.budget_percent),
                "cannot attach the allocator probes",
                undo=tracer.stop,
            )
            (sites, exemplars, history, sampling), shared = tracing.run(
                _EveryInterval(tracer, request.interval_s), tracer.collect
            )
            return protocol.LeaksResult(
                libc=libc, sites=sites, exemplars=exemplars, history=history, sampling=sampling, **shared
            )

    @contextmanager
    def _tracing(self, request_id: int, pid: int, duration_s: float) -> Iterator[_Tracing]:
        """What every tracing request does around its own work: the target, opened and closed."""
        agent_start_s = self._agent_start_s()
        self._check_ready()
        target = self._open_target(pid)
        try:
            yield _Tracing(self, request_id, duration_s, target, agent_start_s)
        finally:
            target.close()


@dataclass
class _Tracing:
    """One tracing request under way: its target, the phases' times, and the fields that every
    result (profile, system calls, leaks) shares."""

    session: Agent
    request_id: int
    duration_s: float
    target: Target
    agent_start_s: float
    compile_s: float = 0.0
    attach_s: float = 0.0

    def attach(
        self, start: Callable[[], None], failure: str | None = None, undo: Callable[[], None] | None = None
    ) -> None:
        """Start the program on the target (its memory map taken first), timed. With ``failure``,
        an error is an ``attach-failed`` answer saying so, after ``undo``."""
        self.target.snapshot_maps()
        started = time.monotonic()
        try:
            start()
        except Exception as exc:
            if failure is None:
                raise
            if undo is not None:
                undo()
            raise RequestFailed("attach-failed", f"{failure}: {exc}") from None
        self.attach_s = time.monotonic() - started

    def run(self, tracer: WindowTracer, collect: Callable[[], T]) -> tuple[T, dict[str, Any]]:
        """The tracing window, then ``collect``: what it collected, and the shared result fields."""
        window = self.session._window(self.request_id, self.duration_s, self.target, tracer)
        collect_started = time.monotonic()
        collected = collect()
        target = self.target
        shared = {
            "pid": target.pid,
            "exe": target.exe,
            "comm": target.comm,
            "requested_s": self.duration_s,
            "duration_s": window.elapsed_s,
            "started_at": window.started_at,
            "stopped_early": window.stopped_early,
            "target_exited": window.target_exited,
            "exited_after_s": window.elapsed_s if window.target_exited else None,
            "maps": target.mappings(),
            "timings": window.timings(self.agent_start_s, self.compile_s, self.attach_s, collect_started),
        }
        return collected, shared


@dataclass
class _EveryInterval:
    """The leak tracer, snapshotting sites every ``interval_s`` rather than every tick."""

    tracer: LeakTracer
    interval_s: float
    _next: float = 0.0

    def poll(self, timeout_s: float) -> None:
        self.tracer.poll(timeout_s)

    def tick(self) -> None:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.interval_s
            self.tracer.tick()

    def events_so_far(self) -> int:
        return self.tracer.events_so_far()

    def stop(self) -> None:
        self.tracer.tick()
        self.tracer.stop()


@dataclass(frozen=True)
class Window:
    started_at: float
    elapsed_s: float
    stopped_early: bool
    target_exited: bool

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


@dataclass
class _SamplingCpuToo:
    """The syscall tracer, plus a pidstat-like CPU split taken at every tick."""

    tracer: SyscallTracer
    cpu: CpuTimeSampler

    def poll(self, timeout_s: float) -> None:
        self.tracer.poll(timeout_s)

    def tick(self) -> None:
        self.tracer.tick()
        self.cpu.sample()

    def events_so_far(self) -> int:
        return self.tracer.events_so_far()

    def stop(self) -> None:
        self.cpu.sample()
        self.tracer.stop()


def _private_stdout() -> BinaryIO:
    """Keep fd 1 for the protocol only; everything else printed goes to stderr."""
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(protocol_fd, "wb", buffering=0)


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(started_at: float) -> int:
    channel = Channel(_private_stdout())
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    signal.signal(signal.SIGINT, _raise_on_sigterm)
    agent = Agent(channel, started_at)
    channel.send(protocol.Hello(protocol.PROTOCOL_VERSION, os.getpid(), os.geteuid()))
    reader = threading.Thread(target=agent.read_requests, args=(sys.stdin.buffer,), daemon=True)
    reader.start()
    try:
        agent.serve()
    except SystemExit:
        agent.close()
        raise
    return 0
