"""The agent's request loop: reads requests, runs them one at a time, answers.

Stdout belongs to the protocol alone. At start the agent keeps a private
duplicate of fd 1 for its messages and points fd 1 at stderr, so whatever
bcc, clang or a library prints can never corrupt the message stream.

A reader thread parses stdin so that ``stop`` reaches a running profile and a
closed pipe ends it; the main thread does the BPF work. Probes are released
on every exit path: normal return, exception, SIGTERM, EOF on stdin. The
perf events themselves are file descriptors, so even SIGKILL frees them.
After EOF the agent waits a few seconds for the request under way to end,
then exits whatever it is doing: no one is left to read its answer.

Before it serves anyone, ``main`` makes sure the agent runs only root's code
(``code_trust``), isolated from the caller's directory and environment, and
learns the caller from the kernel (``access.Caller``).
"""

from __future__ import annotations

import contextlib
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
from lineprobe_agent.access import AccessCheck, Caller, CallerUnknown
from lineprobe_agent.capabilities import capability_report, has_tracing_privileges
from lineprobe_agent.code_trust import UntrustedCode, check_running_code
from lineprobe_agent.cpu_profiler import CpuProfiler, name_kernel_address
from lineprobe_agent.cpu_time import CpuTimeSampler
from lineprobe_agent.kernel_source import KernelHeadersMissing, export_for_bcc, find_kernel_headers
from lineprobe_agent.leak_tracer import LeakTracer, find_libc
from lineprobe_agent.syscall_tracer import SyscallTracer
from lineprobe_agent.target import NoSuchProcess, NotPermitted, Target
from lineprobe_agent.target_gate import TargetGate
from lineprobe_agent.window import WindowTracer, sampling_loop

T = TypeVar("T")

MAX_DURATION_S = 3600.0
MAX_FREQUENCY = 10000
MAX_START_AT_EXEC = 8
EOF_GRACE_S = 3.0
"""After end of input, how long the request under way may take before the agent exits anyway."""


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


def _request_id(line: bytes) -> int | None:
    """The ``id`` of a request that failed to decode, when it has one, so the answer can name it."""
    try:
        value = msgspec.json.decode(line)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    request_id = value.get("id") if isinstance(value, dict) else None
    return request_id if type(request_id) is int else None


@dataclass
class Agent:
    channel: Channel
    started_at: float
    access: AccessCheck
    requests: queue.Queue[Work | None] = field(default_factory=queue.Queue)
    stop_requested: threading.Event = field(default_factory=threading.Event)
    current_id: int | None = None
    profiler: CpuProfiler | None = None
    syscall_tracer: SyscallTracer | None = None
    leak_tracer: LeakTracer | None = None
    first_request_at: float | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    # -- input -------------------------------------------------------------------

    def read_requests(self, stdin: BinaryIO) -> None:
        """Reader thread: parse each line; garbage gets an error, not a crash. However input
        ends (end of file, ``shutdown``, a connection reset by a caller that died with
        unread answers), the request under way is stopped and the loop told to end."""
        try:
            for line in stdin:
                if not line.strip():
                    continue
                try:
                    request = protocol.decode_request(line)
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    self.channel.send(
                        protocol.Failure(_request_id(line), "bad-request", f"malformed request: {exc}")
                    )
                    continue
                if isinstance(request, protocol.StopRequest):
                    if request.id == self.current_id:
                        self.stop_requested.set()
                    continue
                if isinstance(request, protocol.ShutdownRequest):
                    break
                self.requests.put(request)
        except (OSError, ValueError):
            pass  # ECONNRESET from the socket: the caller is gone, as at end of file
        finally:
            self.stop_requested.set()
            self.requests.put(None)

    def read_then_exit(self, stdin: BinaryIO) -> None:
        """The reader thread: requests until end of input; then, if the request under way has
        not ended within EOF_GRACE_S (collecting a huge table, say), the agent exits anyway:
        no one is left to read the answer, and the probes and maps are file descriptors that
        the kernel frees at exit."""
        self.read_requests(stdin)
        if not self.finished.wait(EOF_GRACE_S):
            os._exit(0)

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
            self.finished.set()

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
        self.access.close()

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
        try:
            check_running_code()  # what the build imported (bcc and its modules) must be root's too
        except UntrustedCode as exc:
            close = getattr(program, "close", None)
            if close is not None:
                close()
            raise RequestFailed("no-privileges", str(exc)) from None
        return program, time.monotonic() - started

    def _open_target(self, pid: int) -> Target:
        try:
            return Target.open(pid, self.access)
        except NoSuchProcess as exc:
            raise RequestFailed("no-such-process", str(exc), "check the PID: `ps -e`") from None
        except NotPermitted as exc:
            raise RequestFailed("permission-denied", str(exc)) from None

    def _window(
        self, request_id: int, duration_s: float, target: Target, tracer: WindowTracer, gate: TargetGate
    ) -> Window:
        """Run one tracing window: until the duration ends, a stop, the target exits, or the
        caller may no longer debug it."""
        exited = False
        access_lost: str | None = None

        def still_allowed() -> bool:
            """Ask the kernel again; re-open the gate for the exec count asked about, or shut it."""
            nonlocal access_lost
            if access_lost is not None:
                return False
            execs = gate.execs()  # read before asking: an exec after this keeps the gate shut
            denial = self.access.denial(target.pid)
            if denial is None:
                gate.approve(execs)
                return True
            gate.hold()
            access_lost = denial
            return False

        def wait(timeout: float) -> bool:
            nonlocal exited
            if self.stop_requested.wait(0) or access_lost is not None:
                return True
            # Drain the perf buffers while waiting; the pidfd then says whether the target lives.
            tracer.poll(timeout)
            exited = target.wait_exit(0) or gate.ended()
            if exited:
                return True
            if gate.exec_seen:  # a new program: held until the caller's access is confirmed
                gate.exec_seen = False
                if not still_allowed():
                    return True
                target.snapshot_maps()
            return self.stop_requested.is_set()

        def tick(elapsed: float) -> None:
            if not still_allowed():  # credentials can change without an exec (setuid, prctl)
                return
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
        if not exited and access_lost is None:
            target.snapshot_maps()
        self.channel.send(protocol.Progress(request_id, "collecting", elapsed, duration_s, 0))
        stopped_early = ended_early and not exited and access_lost is None
        return Window(started_at, round(elapsed, 4), stopped_early, exited, access_lost, gate.held_events())

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
        with self._tracing(request) as tracing:
            if self.profiler is None:
                self.profiler, tracing.compile_s = self._compile(request.id, CpuProfiler)
            profiler = self.profiler
            assert profiler is not None
            tracing.attach(
                lambda: profiler.start(request.pid, request.frequency, request.exemplars),
                profiler.stop,
                profiler.gate,
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
        with self._tracing(request) as tracing:
            if self.syscall_tracer is None:
                self.syscall_tracer, tracing.compile_s = self._compile(request.id, SyscallTracer)
            tracer = self.syscall_tracer
            assert tracer is not None
            start = lambda: tracer.start(request.pid, request.slow_ms, request.exemplars)  # noqa: E731
            tracing.attach(start, tracer.stop, tracer.gate)
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
        with self._tracing(request) as tracing:
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
                tracer.stop,
                tracer.gate,
                "cannot attach the allocator probes",
            )
            (sites, exemplars, history, sampling), shared = tracing.run(
                _EveryInterval(tracer, request.interval_s), tracer.collect
            )
            return protocol.LeaksResult(
                libc=libc, sites=sites, exemplars=exemplars, history=history, sampling=sampling, **shared
            )

    @contextmanager
    def _tracing(self, request: protocol.TracingRequest) -> Iterator[_Tracing]:
        """What every tracing request does around its own work: the target, opened and closed."""
        agent_start_s = self._agent_start_s()
        self._check_ready()
        if not 0 <= request.start_at_exec <= MAX_START_AT_EXEC:
            raise RequestFailed("bad-request", f"start_at_exec must be 0..{MAX_START_AT_EXEC}")
        target = self._open_target(request.pid)
        try:
            yield _Tracing(self, request.id, request.duration_s, target, agent_start_s, request.start_at_exec)
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
    start_at_exec: int = 0
    compile_s: float = 0.0
    attach_s: float = 0.0
    gate: TargetGate | None = None

    def attach(
        self,
        start: Callable[[], None],
        stop: Callable[[], None],
        gate: TargetGate,
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

    def run(self, tracer: WindowTracer, collect: Callable[[], T]) -> tuple[T, dict[str, Any]]:
        """The tracing window, then ``collect``: what it collected, and the shared result fields."""
        assert self.gate is not None, "attach() comes before run()"
        window = self.session._window(self.request_id, self.duration_s, self.target, tracer, self.gate)
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
            "access_lost": window.access_lost,
            "held_events": window.held_events,
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


SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _refuse(message: str) -> int:
    sys.stderr.write(f"lineprobe agent: {message}\n")
    sys.stderr.flush()
    return 2


def _isolate() -> str | None:
    """Make sure a privileged agent runs only root's code, away from the caller's directory and
    environment; the reason it must not start, or None."""
    os.chdir("/")
    if not (has_tracing_privileges() or os.geteuid() == 0):
        return None  # nothing to give away; requests will be answered no-privileges
    if not sys.flags.isolated:
        return (
            "with privileges the agent runs only isolated from its caller: start it as "
            "`python -I -m lineprobe_agent` (or the installed /usr/local/libexec/lineprobe-agent)"
        )
    with contextlib.suppress(ImportError):
        import bcc  # noqa: F401  (imported now, so that its files are checked with the rest)
    try:
        check_running_code()
    except UntrustedCode as exc:
        return str(exc)
    return None


def main(started_at: float) -> int:
    refusal = _isolate()
    if refusal is not None:
        return _refuse(refusal)
    try:
        caller = Caller.of_socket(0)
    except CallerUnknown as exc:
        return _refuse(
            f"cannot tell who is asking: {exc}. The agent's stdin must be one end of a unix socket "
            "pair made by the caller (lineprobe does this), whose peer credentials the kernel keeps"
        )
    # Nothing the caller put in the environment steers the agent (bcc, clang, the loader).
    os.environ.clear()
    os.environ["PATH"] = SAFE_PATH
    channel = Channel(_private_stdout())
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    signal.signal(signal.SIGINT, _raise_on_sigterm)
    agent = Agent(channel, started_at, AccessCheck(caller))
    channel.send(protocol.Hello(protocol.PROTOCOL_VERSION, os.getpid(), os.geteuid()))
    reader = threading.Thread(target=agent.read_then_exit, args=(sys.stdin.buffer,), daemon=True)
    reader.start()
    try:
        agent.serve()
    except SystemExit:
        agent.close()
        raise
    return 0
