"""Starting the privileged agent and talking to it over its pipes.

The agent is a child process speaking the newline-delimited JSON protocol of
``lineprobe_agent.protocol`` over one end of a unix socket pair made here: the
kernel records who made it, and that is how the agent knows who asks
(``SO_PEERCRED``), whatever the environment says.

When this process already has the privileges tracing needs, the agent is
started directly from this installation (``python -I``, working directory
``/``, an empty environment; it refuses to run as root from files that anyone
but root can change). Otherwise the installed agent
(``/usr/local/libexec/lineprobe-agent``, root-owned, from ``make install-agent``)
is started through a launcher (``sudo -n`` by default, or
``LINEPROBE_LAUNCHER``), which must not prompt: an editor has no terminal to
type a password into.

``AgentConnection`` is blocking and thread-safe: the CLI calls it directly,
the LSP server from worker threads. This is also the one place where wire
messages become domain types.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from lineprobe_agent import protocol

from lineprobe.leaks.model import AllocationSnapshot, RawLeakSite, RawLeakTrace
from lineprobe.profiling.model import LossCounters, RawProfile, SampledStack, StackSnapshot, Timings
from lineprobe.symbolization.resolver import MappedFile
from lineprobe.syscalls.model import (
    BlockRequest,
    Bucket,
    CallSnapshot,
    CpuInterval,
    Distribution,
    RawFailure,
    RawFileIo,
    RawSyscallTrace,
    SyscallTotal,
)
from lineprobe.unwinding.stack_unwinder import StackCopy, UserRegisters

DEFAULT_LAUNCHER = "sudo -n"
INSTALLED_AGENT = "/usr/local/libexec/lineprobe-agent"
"""The root-owned agent entry that a launcher's rule names (``make install-agent``)."""
AGENT_ENVIRONMENT = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
"""All the environment the agent, or its launcher, is started with: nothing of the caller's."""
HELLO_TIMEOUT_S = 20.0

CAP_SYS_ADMIN = 21
CAP_PERFMON = 38
CAP_BPF = 39


class AgentError(Exception):
    """A request the agent could not carry out, with a message for the user."""

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}" + (f" ({self.hint})" if self.hint else "")


def has_tracing_privileges() -> bool:
    """Whether an agent started directly by this process could trace."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return False
    caps = 0
    for line in status.splitlines():
        if line.startswith("CapEff:"):
            caps = int(line.split()[1], 16)
    if os.geteuid() == 0 and caps & (1 << CAP_SYS_ADMIN):
        return True
    return bool(caps & (1 << CAP_BPF)) and bool(caps & (1 << CAP_PERFMON))


def installed_agent() -> list[str]:
    """The agent a launcher starts: ``LINEPROBE_AGENT`` (a command line), else the installed entry."""
    return shlex.split(os.environ.get("LINEPROBE_AGENT", INSTALLED_AGENT))


def agent_command(launcher: str | None = None, python: str | None = None) -> list[str]:
    """The argv that starts the agent, through the launcher when privileges are missing."""
    base = [python or sys.executable, "-I", "-m", "lineprobe_agent"]
    if has_tracing_privileges():
        return base
    launcher = launcher if launcher is not None else os.environ.get("LINEPROBE_LAUNCHER", DEFAULT_LAUNCHER)
    argv = shlex.split(launcher)
    if not argv:
        return base
    agent = installed_agent()
    if not agent or not (os.path.isabs(agent[0]) and os.access(agent[0], os.X_OK)):
        raise AgentError(
            "no-privileges",
            f"tracing needs root or CAP_BPF+CAP_PERFMON, and the privileged agent "
            f"`{agent[0] if agent else ''}` is not installed",
            "as root, run `make install-agent` in lineprobe's checkout once (it installs root-owned "
            f"files only), then allow `{INSTALLED_AGENT}` in sudoers (see the README's Privileges)",
        )
    if shutil.which(argv[0]) is None:
        raise AgentError(
            "no-privileges",
            f"tracing needs root or CAP_BPF+CAP_PERFMON, and the launcher `{argv[0]}` is not installed",
            "run lineprobe as root, or set LINEPROBE_LAUNCHER (setting lineprobe.launcher) to a command "
            "that gains privileges without prompting, e.g. `sudo -n` with a NOPASSWD rule for the agent",
        )
    return [*argv, *agent]


def _mappings(maps: list[protocol.Mapping]) -> tuple[MappedFile, ...]:
    return tuple(MappedFile(m.start, m.end, m.offset, m.path, m.build_id) for m in maps)


def _timings(t: protocol.PhaseTimings) -> Timings:
    return Timings(t.agent_start_s, t.compile_s, t.attach_s, t.sampling_s, t.collect_s)


def to_raw_profile(result: protocol.ProfileResult) -> RawProfile:
    """The protocol-to-domain boundary for CPU profiles."""
    c = result.counters
    return RawProfile(
        pid=result.pid,
        exe=result.exe,
        comm=result.comm,
        frequency=result.frequency,
        requested_s=result.requested_s,
        duration_s=result.duration_s,
        started_at=result.started_at,
        stopped_early=result.stopped_early,
        target_exited=result.target_exited,
        exited_after_s=result.exited_after_s,
        counters=LossCounters(
            c.samples,
            c.lost,
            c.user_stack_missing,
            c.kernel_stack_missing,
            c.stack_collisions,
            c.exemplars_lost,
        ),
        stacks=tuple(
            SampledStack(s.count, tuple(s.user), tuple(s.kernel), s.user_stack_missing) for s in result.stacks
        ),
        mappings=_mappings(result.maps),
        timings=_timings(result.timings),
        snapshots=tuple(
            StackSnapshot(e.stack, e.tid, UserRegisters(e.ip, e.sp, e.bp), StackCopy(e.sp, e.data))
            for e in result.exemplars
        ),
        access_lost=result.access_lost,
        held_events=result.held_events,
    )


def _distribution(histogram: protocol.Histogram) -> Distribution:
    return Distribution(
        histogram.name, histogram.unit, tuple(Bucket(b.low, b.high, b.count) for b in histogram.buckets)
    )


def to_raw_syscall_trace(result: protocol.SyscallsResult) -> RawSyscallTrace:
    """The protocol-to-domain boundary for system-call traces."""

    def snapshots(indices: list[int]) -> tuple[CallSnapshot, ...]:
        picked = [result.exemplars[i] for i in indices if 0 <= i < len(result.exemplars)]
        return tuple(
            CallSnapshot(UserRegisters(e.ip, e.sp, e.bp), StackCopy(e.sp, e.data), e.latency_ns)
            for e in picked
        )

    c = result.counters
    return RawSyscallTrace(
        pid=result.pid,
        exe=result.exe,
        comm=result.comm,
        duration_s=result.duration_s,
        requested_s=result.requested_s,
        target_exited=result.target_exited,
        exited_after_s=result.exited_after_s,
        totals=tuple(SyscallTotal(s.name, s.count, dict(s.errors)) for s in result.counts),
        failures=tuple(
            RawFailure(f.name, f.errno, f.path, f.count, snapshots(f.exemplars)) for f in result.failures
        ),
        io=tuple(
            RawFileIo(
                i.name,
                i.fd,
                i.path,
                i.count,
                i.bytes,
                i.max_ns,
                _distribution(i.latency),
                snapshots(i.exemplars),
            )
            for i in result.io
        ),
        sleeps=tuple(_distribution(h) for h in result.sleeps),
        block_latency=_distribution(result.block.latency),
        block_requests=tuple(
            BlockRequest(r.dev, r.sector, r.bytes, r.rwbs, r.queue_us, r.service_us, r.tid, r.at_s)
            for r in result.block.records
        ),
        block_records_dropped=result.block.records_dropped,
        cpu=tuple(CpuInterval(s.at_s, s.interval_s, s.user_s, s.system_s) for s in result.cpu),
        lost=c.lost,
        inflight_full=c.inflight_full,
        exemplars_lost=c.exemplars_lost,
        mappings=_mappings(result.maps),
        timings=_timings(result.timings),
        descriptor_changes_lost=c.descriptor_changes_lost,
        access_lost=result.access_lost,
        held_events=result.held_events,
    )


def to_raw_leak_trace(result: protocol.LeaksResult) -> RawLeakTrace:
    """The protocol-to-domain boundary for leak traces."""
    return RawLeakTrace(
        pid=result.pid,
        exe=result.exe,
        comm=result.comm,
        duration_s=result.duration_s,
        requested_s=result.requested_s,
        target_exited=result.target_exited,
        exited_after_s=result.exited_after_s,
        sites=tuple(
            RawLeakSite(
                (s.caller, s.stack_id, s.path_hash),
                tuple(s.frame_pointer_stack),
                s.outstanding_bytes,
                s.outstanding_count,
                s.allocations,
                s.allocated_bytes,
                s.oldest_age_s,
                s.newest_age_s,
            )
            for s in result.sites
        ),
        snapshots=tuple(
            AllocationSnapshot(
                (e.caller, e.stack_id, e.path_hash), UserRegisters(e.ip, e.sp, e.bp), StackCopy(e.sp, e.data)
            )
            for e in result.exemplars
        ),
        history=tuple(
            (h.at_s, {(s.caller, s.stack_id, s.path_hash): s.bytes for s in h.sites}) for h in result.history
        ),
        sampling=dict(result.sampling),
        mappings=_mappings(result.maps),
        timings=_timings(result.timings),
        access_lost=result.access_lost,
        held_events=result.held_events,
    )


ProgressCallback = Callable[[protocol.Progress], None]


@dataclass
class _Pending:
    progress: ProgressCallback | None
    answers: queue.Queue[protocol.AgentMessage | None] = field(default_factory=queue.Queue)


class AgentConnection:
    """One running agent. Use as a context manager, or call ``close``."""

    def __init__(self, launcher: str | None = None) -> None:
        self.spawned_at = time.monotonic()
        argv = agent_command(launcher)
        # One socket pair for both directions: the agent asks the kernel who made it.
        self._socket, agent_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._process = subprocess.Popen(
                argv,
                stdin=agent_end.fileno(),
                stdout=agent_end.fileno(),
                stderr=subprocess.PIPE,
                cwd="/",
                env=AGENT_ENVIRONMENT,
                # A Ctrl-C in the terminal reaches us, and we stop it cleanly; and with no
                # controlling terminal, sudo passes the socket through instead of a pty.
                start_new_session=True,
            )
        except OSError as exc:
            self._socket.close()
            raise AgentError(
                "no-privileges", f"cannot start the agent with `{shlex.join(argv)}`: {exc}"
            ) from None
        finally:
            agent_end.close()
        self._reader = self._socket.makefile("rb")
        self._write_lock = threading.Lock()
        self._pending: dict[int, _Pending] = {}
        self._pending_lock = threading.Lock()
        self._next_id = 1
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=40)
        self._hello: queue.Queue[protocol.Hello | None] = queue.Queue()
        self._closed = False
        threading.Thread(target=self._read_stdout, daemon=True, name="agent-stdout").start()
        self._stderr_reader = threading.Thread(target=self._read_stderr, daemon=True, name="agent-stderr")
        self._stderr_reader.start()
        try:
            hello = self._hello.get(timeout=HELLO_TIMEOUT_S)
        except queue.Empty:
            hello = None
        if hello is None:
            self.close()
            # stdout may reach EOF before stderr is read: let the launcher's words arrive.
            self._stderr_reader.join(2.0)
            raise AgentError("no-privileges", self._startup_failure(argv))
        if hello.version != protocol.PROTOCOL_VERSION:
            self.close()
            raise AgentError(
                "internal",
                f"agent speaks protocol v{hello.version}, this server v{protocol.PROTOCOL_VERSION}: "
                "reinstall lineprobe so both come from one version",
            )
        self.agent_pid = hello.agent_pid
        self.started_in_s = time.monotonic() - self.spawned_at

    def _startup_failure(self, argv: list[str]) -> str:
        detail = " ".join(line.strip() for line in self._stderr_tail if line.strip())[-600:]
        if "password is required" in detail or "a terminal is required" in detail:
            return (
                "the launcher asked for a password: tracing needs privileges. Run as root, or allow "
                f"`{shlex.join(argv)}` without a password (sudoers NOPASSWD), or set LINEPROBE_LAUNCHER"
            )
        return f"the agent did not start (`{shlex.join(argv)}`): {detail or 'no output'}"

    # -- reading -----------------------------------------------------------------------

    def _read_stdout(self) -> None:
        for line in self._reader:
            try:
                message = protocol.decode_message(line)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                self._stderr_tail.append(f"undecodable agent message: {exc}: {line[:200]!r}")
                continue
            if isinstance(message, protocol.Hello):
                self._hello.put(message)
                continue
            request_id = getattr(message, "id", None)
            with self._pending_lock:
                pending = self._pending.get(request_id) if request_id is not None else None
            if pending is None:
                if isinstance(message, protocol.Failure):
                    self._stderr_tail.append(f"agent: {message.message}")
                continue
            if isinstance(message, protocol.Progress):
                if pending.progress is not None:
                    pending.progress(message)
                continue
            pending.answers.put(message)
        # EOF: the agent is gone; wake everyone who waits.
        self._hello.put(None)
        with self._pending_lock:
            for pending in self._pending.values():
                pending.answers.put(None)

    def _read_stderr(self) -> None:
        assert self._process.stderr is not None
        for raw in self._process.stderr:
            self._stderr_tail.append(raw.decode("utf-8", errors="replace").rstrip())

    # -- requests ------------------------------------------------------------------------

    def _send(self, message: protocol.Request) -> None:
        with self._write_lock:
            try:
                self._socket.sendall(protocol.encode(message))
            except (BrokenPipeError, ValueError, OSError):
                raise AgentError("internal", self._died_message()) from None

    def _died_message(self) -> str:
        code = self._process.poll()
        tail = " ".join(self._stderr_tail)[-600:]
        return f"the agent exited (status {code}): {tail or 'no output'}"

    def _call(
        self, build: Callable[[int], protocol.Request], progress: ProgressCallback | None
    ) -> protocol.AgentMessage:
        with self._pending_lock:
            request_id = self._next_id
            self._next_id += 1
            pending = self._pending[request_id] = _Pending(progress)
        try:
            self._send(build(request_id))
            answer = pending.answers.get()
        finally:
            with self._pending_lock:
                self._pending.pop(request_id, None)
        if answer is None:
            raise AgentError("internal", self._died_message())
        if isinstance(answer, protocol.Failure):
            raise AgentError(answer.code, answer.message, answer.hint)
        return answer

    def prepare(self, programs: list[str]) -> float:
        """Have the agent compile programs now (``cpu``, ``syscalls``, ``leaks``); returns seconds."""
        wanted = [p for p in programs if p in ("cpu", "syscalls", "leaks")]
        answer = self._call(lambda i: protocol.PrepareRequest(i, wanted), None)  # type: ignore[arg-type]
        assert isinstance(answer, protocol.Prepared)
        return answer.compile_s

    def capabilities(self) -> protocol.CapabilityReport:
        answer = self._call(protocol.CapabilitiesRequest, None)
        assert isinstance(answer, protocol.CapabilitiesResult)
        return answer.report

    def profile(
        self,
        pid: int,
        duration_s: float,
        frequency: int = 99,
        progress: ProgressCallback | None = None,
        start_at_exec: int = 0,
    ) -> RawProfile:
        answer = self._call(
            lambda i: protocol.ProfileRequest(i, pid, frequency, duration_s, start_at_exec=start_at_exec),
            progress,
        )
        assert isinstance(answer, protocol.ProfileDone)
        raw = to_raw_profile(answer.result)
        return raw

    def trace_syscalls(
        self,
        pid: int,
        duration_s: float,
        slow_ms: float = 1.0,
        progress: ProgressCallback | None = None,
        start_at_exec: int = 0,
    ) -> RawSyscallTrace:
        answer = self._call(
            lambda i: protocol.SyscallsRequest(i, pid, duration_s, slow_ms, start_at_exec=start_at_exec),
            progress,
        )
        assert isinstance(answer, protocol.SyscallsDone)
        return to_raw_syscall_trace(answer.result)

    def find_leaks(
        self,
        pid: int,
        duration_s: float,
        interval_s: float = 1.0,
        budget_percent: float = 5.0,
        sample_fraction: float | None = None,
        progress: ProgressCallback | None = None,
        start_at_exec: int = 0,
    ) -> RawLeakTrace:
        answer = self._call(
            lambda i: protocol.LeaksRequest(
                i, pid, duration_s, interval_s, budget_percent, sample_fraction, start_at_exec=start_at_exec
            ),
            progress,
        )
        assert isinstance(answer, protocol.LeaksDone)
        return to_raw_leak_trace(answer.result)

    def stop_all(self) -> None:
        """Ask every running request to end early; each still answers with its data."""
        with self._pending_lock:
            ids = list(self._pending)
        for request_id in ids:
            self._send(protocol.StopRequest(request_id))

    @property
    def alive(self) -> bool:
        return self._process.poll() is None and not self._closed

    def close(self, timeout_s: float = 5.0) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(AgentError):
            self._send(protocol.ShutdownRequest())
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_WR)  # end of input for the agent
        try:
            self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._process.terminate()
            try:
                self._process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __enter__(self) -> AgentConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
