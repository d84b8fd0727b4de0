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
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import BinaryIO

import msgspec

from lineprobe_agent import protocol
from lineprobe_agent.access import AccessCheck, Caller, CallerUnknown
from lineprobe_agent.capabilities import capability_report, has_tracing_privileges
from lineprobe_agent.code_trust import UntrustedCode, check_running_code
from lineprobe_agent.kernel_source import KernelHeadersMissing, export_for_bcc, find_kernel_headers
from lineprobe_agent.stack_counter import UnknownTracepoint
from lineprobe_agent.target import NoSuchProcess, NotPermitted, Target
from lineprobe_agent.tracepoint_events import list_tracepoints
from lineprobe_agent.tracer_registry import BY_PROGRAM, BY_REQUEST, TracerProgram
from lineprobe_agent.tracing import CompiledT, RequestFailed, Tracing, WholeSystem

__all__ = ["Agent", "Channel", "RequestFailed", "main"]

EOF_GRACE_S = 3.0
"""After end of input, how long the request under way may take before the agent exits anyway."""


Work = (
    protocol.CapabilitiesRequest
    | protocol.PrepareRequest
    | protocol.TracepointsRequest
    | protocol.TracingRequest
)
"""Requests that run on the main thread, one at a time (stop and shutdown do not queue)."""


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
    programs: dict[str, TracerProgram] = field(default_factory=dict)
    """Compiled tracers by program name (``tracer_registry``), kept for the agent's life."""
    first_request_at: float | None = None
    finished: threading.Event = field(default_factory=threading.Event)
    exit_code: int | None = None
    """Set by SIGTERM or SIGINT: the agent is to exit with this code (see ``on_signal``)."""

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM, SIGINT: stop what runs and exit. The SystemExit raised here is lost when the
        signal lands inside a ctypes callback (bcc's perf-buffer reader: ctypes prints and drops
        exceptions raised in callbacks), so the code is also kept, and the tracing window and the
        request loop raise it again from plain Python (``exit_if_signalled``)."""
        self.exit_code = 128 + signum
        self.stop_requested.set()
        raise SystemExit(self.exit_code)

    def exit_if_signalled(self) -> None:
        if self.exit_code is not None:
            raise SystemExit(self.exit_code)

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
                self.exit_if_signalled()
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

    def send(self, message: protocol.AgentMessage) -> None:
        self.channel.send(message)

    def handle(self, request: Work) -> None:
        if isinstance(request, protocol.CapabilitiesRequest):
            self.channel.send(protocol.CapabilitiesResult(request.id, capability_report()))
        elif isinstance(request, protocol.PrepareRequest):
            self.channel.send(protocol.Prepared(request.id, round(self.prepare(request), 4)))
        elif isinstance(request, protocol.TracepointsRequest):
            try:
                found = list_tracepoints(request.pattern)
            except UnknownTracepoint as exc:
                raise RequestFailed("bad-request", str(exc)) from None
            self.channel.send(protocol.TracepointsResult(request.id, found))
        elif type(request) in BY_REQUEST:
            self.channel.send(self.trace(request))
        else:
            raise RequestFailed("bad-request", f"unexpected request {type(request).__name__}")

    def trace(self, request: protocol.TracingRequest) -> protocol.AgentMessage:
        """Carry out one tracing request with the tracer registered for its type."""
        entry = BY_REQUEST[type(request)]
        agent_start_s = self._agent_start_s()
        self._check_ready()
        target: Target | WholeSystem
        if request.pid is not None:
            target = self._open_target(request.pid)
        elif not entry.system_wide:
            raise RequestFailed("bad-request", f"{protocol.tag_of(entry.request)} needs a pid")
        elif not self.access.caller.is_root:
            raise RequestFailed(
                "permission-denied",
                f"tracing every task needs root (the caller is uid {self.access.caller.uid})",
                "give a --pid of a process of yours, or run as root",
            )
        else:
            target = WholeSystem()
        try:
            return entry.run(
                Tracing(self, request.id, request.duration_s, target, agent_start_s, request.start_at_exec),
                request,
            )
        finally:
            target.close()

    def close(self) -> None:
        programs = list(self.programs.values())
        self.programs.clear()
        for program in programs:
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

    def program(self, name: str, request_id: int) -> tuple[TracerProgram, float]:
        """The named tracer's program, compiled now if this agent has not yet; and the seconds
        compiling took now (0 when it was ready)."""
        ready = self.programs.get(name)
        if ready is not None:
            return ready, 0.0
        build = BY_PROGRAM[name].build
        assert build is not None, "BY_PROGRAM holds the programs compiled once per agent"
        program, seconds = self.compile(request_id, build)
        self.programs[name] = program
        return program, seconds

    def compile(self, request_id: int, build: Callable[[], CompiledT]) -> tuple[CompiledT, float]:
        """Compile one of the agent's programs; returns it and the seconds spent."""
        try:
            export_for_bcc(find_kernel_headers())
        except KernelHeadersMissing as exc:
            raise RequestFailed("kernel-headers-missing", str(exc), "install linux-headers-amd64") from None
        self.channel.send(protocol.Progress(request_id, "compiling", 0.0, 0.0, 0))
        started = time.monotonic()
        try:
            program = build()
        except RequestFailed:
            raise  # the build's own answer (a probe the process lacks)
        except ImportError as exc:
            raise RequestFailed(
                "bcc-unavailable", f"cannot import bcc: {exc}", "install python3-bpfcc and run `make setup`"
            ) from None
        except UntrustedCode as exc:  # a BPF source anyone but root could have changed
            raise RequestFailed("no-privileges", str(exc)) from None
        except Exception as exc:
            raise RequestFailed("compile-failed", f"BPF program did not compile or load: {exc}") from None
        try:
            check_running_code()  # what the build imported (bcc and its modules) must be root's too
        except UntrustedCode as exc:
            program.close()
            raise RequestFailed("no-privileges", str(exc)) from None
        return program, time.monotonic() - started

    def _open_target(self, pid: int) -> Target:
        try:
            return Target.open(pid, self.access)
        except NoSuchProcess as exc:
            raise RequestFailed("no-such-process", str(exc), "check the PID: `ps -e`") from None
        except NotPermitted as exc:
            raise RequestFailed("permission-denied", str(exc)) from None

    def _agent_start_s(self) -> float:
        """From the agent process's start to its first request."""
        return (self.first_request_at or time.monotonic()) - self.started_at

    def prepare(self, request: protocol.PrepareRequest) -> float:
        """Compile the requested programs now; returns the seconds it took."""
        self._check_ready()
        unknown = sorted(set(request.programs) - set(BY_PROGRAM))
        if unknown:
            raise RequestFailed(
                "bad-request", f"no such program: {', '.join(unknown)} (known: {', '.join(BY_PROGRAM)})"
            )
        return sum(self.program(name, request.id)[1] for name in dict.fromkeys(request.programs))


def _private_stdout() -> BinaryIO:
    """Keep fd 1 for the protocol only; everything else printed goes to stderr."""
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(protocol_fd, "wb", buffering=0)


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
    agent = Agent(channel, started_at, AccessCheck(caller))
    signal.signal(signal.SIGTERM, agent.on_signal)
    signal.signal(signal.SIGINT, agent.on_signal)
    channel.send(
        protocol.Hello(
            protocol.PROTOCOL_VERSION,
            protocol.OLDEST_VERSION,
            [
                "capabilities",
                "prepare",
                "tracepoints",
                *(protocol.tag_of(entry.request) for entry in BY_REQUEST.values()),
            ],
            os.getpid(),
            os.geteuid(),
        )
    )
    reader = threading.Thread(target=agent.read_then_exit, args=(sys.stdin.buffer,), daemon=True)
    reader.start()
    try:
        agent.serve()
    except SystemExit:
        agent.close()
        raise
    return 0
