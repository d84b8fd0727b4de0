"""Running one CPU profile end to end: agent, optional launch, resolution.

Shared by the CLI and the LSP server, so both behave the same way on every
failure. A launched command is held at a gate (a shell waiting on a pipe)
until sampling has begun, so its first instructions are profiled too, and the
agent records it from the exec that makes it the command (the gate's own
reads and redirections are lineprobe's, not the user's). It is ended, if still
running, when the profile ends. It also dies with whoever launched it: at the
gate, the pipe it waits on reaches end of file; once released, the kernel
sends it SIGKILL when the launching thread exits, however that happens
(``PR_SET_PDEATHSIG``, set by ``setpriv`` just before it execs the command),
so a CLI or server killed with SIGKILL leaves no command behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from lineprobe_agent import protocol

from lineprobe.agent_client import AgentConnection, AgentError, ProgressCallback
from lineprobe.leaks.attribute import resolve_leaks
from lineprobe.leaks.model import LeakTrace
from lineprobe.profiling.aggregate import resolve_profile
from lineprobe.profiling.model import CpuProfile, RawProfile
from lineprobe.symbolization.resolver import ImageCache
from lineprobe.syscalls.attribute import resolve_trace
from lineprobe.syscalls.model import SyscallTrace

# The gate is the shell's stdin: it blocks in `read` until lineprobe writes a
# line, then becomes the command, whose stdin is /dev/null.
GATE_SCRIPT = 'read _ || exit 125; exec "$@" </dev/null'


def gate_argv(argv: Sequence[str]) -> tuple[list[str], int]:
    """The gate shell, and how many execs it takes to become the command: one (the shell execs
    the command), or two where util-linux's setpriv is installed to make it die with its parent."""
    setpriv = shutil.which("setpriv")
    wrapper = [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []
    return ["/bin/sh", "-c", GATE_SCRIPT, "lineprobe-launch", *wrapper, *argv], 2 if setpriv else 1


@dataclass
class LaunchedCommand:
    """A command started by lineprobe, waiting at the gate until released."""

    argv: Sequence[str]
    cwd: str | None = None
    stdout: int | None = None
    """Where the command's output goes (a file descriptor); None: inherited."""
    process: subprocess.Popen[bytes] = field(init=False)
    execs_to_command: int = field(init=False, default=1)
    """Execs of the launched process until it runs the command (``start_at_exec`` for the agent)."""
    _gate: int = field(init=False, default=-1)

    def __post_init__(self) -> None:
        read_end, self._gate = os.pipe()
        argv, self.execs_to_command = gate_argv(self.argv)
        try:
            self.process = subprocess.Popen(
                argv,
                stdin=read_end,
                stdout=self.stdout,
                cwd=self.cwd,
                process_group=0,  # its own group: ended as a whole, and a Ctrl-C meant for us is ours
            )
        except OSError:
            os.close(self._gate)
            raise
        finally:
            os.close(read_end)

    @property
    def pid(self) -> int:
        return self.process.pid

    def release(self) -> None:
        if self._gate >= 0:
            with contextlib.suppress(OSError):  # the shell is gone already
                os.write(self._gate, b"go\n")
            os.close(self._gate)
            self._gate = -1

    def end(self, grace_s: float = 2.0) -> int | None:
        """Stop the command if it still runs; returns its exit status."""
        self.release()
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait()
        return self.process.returncode

    def _signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass
        except PermissionError:  # the command became setuid: it is not ours to signal as a group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                self.process.send_signal(signum)


@dataclass(frozen=True)
class Launch:
    """A command to start for a trace (instead of a running PID)."""

    argv: Sequence[str]
    cwd: str | None = None
    stdout: int | None = None
    """Where the command's output goes (a file descriptor); None: inherited."""


R = TypeVar("R")


@dataclass
class ProfileRunner:
    """Holds an agent (started on first use) and the image cache across profiles."""

    launcher: str | None = None
    cache: ImageCache = field(default_factory=ImageCache)
    agent: AgentConnection | None = None

    def connection(self) -> AgentConnection:
        with self._connecting:  # a warm-up thread and a command must not start two agents
            if self.agent is None or not self.agent.alive:
                self.agent = AgentConnection(self.launcher)
                self._fresh_agent = True
            return self.agent

    def prepare(self, programs: Sequence[str] = ("cpu",)) -> float:
        """Start the agent and compile programs before the first trace asks for them."""
        seconds = self.connection().prepare(list(programs))
        self._fresh_agent = False  # its start-up was not part of any trace
        return seconds

    _fresh_agent: bool = field(default=False, init=False)
    _connecting: threading.Lock = field(default_factory=threading.Lock, init=False)

    def _with_start_time(self, raw: RawProfile) -> RawProfile:
        """Charge the agent's start-up (measured here, from spawn to hello) to the
        first profile it serves; later profiles reuse the running agent."""
        agent_start_s = self.agent.started_in_s if self._fresh_agent and self.agent else 0.0
        self._fresh_agent = False
        return replace(raw, timings=replace(raw.timings, agent_start_s=round(agent_start_s, 4)))

    def _on(
        self,
        target: int | Launch,
        progress: ProgressCallback | None,
        request: Callable[[AgentConnection, int, ProgressCallback | None, int], R],
    ) -> tuple[R, int | None]:
        """Run one agent request on a PID, or on a command launched for it.

        A launched command waits at its gate until the agent reports that
        tracing has begun, and is traced from the exec that makes it the command;
        it is ended when the request returns. ``request`` gets the agent, the PID,
        the progress callback and the exec to record from. Returns the request's
        answer and the command's exit status (None for a PID).
        """
        agent = self.connection()
        if isinstance(target, int):
            return request(agent, target, progress, 0), None
        if not target.argv:
            raise AgentError("bad-request", "no command to launch")
        try:
            command = LaunchedCommand(target.argv, target.cwd, target.stdout)
        except OSError as exc:
            raise AgentError("bad-request", f"cannot start {target.argv[0]!r}: {exc.strerror}") from None

        def on_progress(message: protocol.Progress) -> None:
            if message.phase == "sampling":
                command.release()
            if progress is not None:
                progress(message)

        try:
            answer = request(agent, command.pid, on_progress, command.execs_to_command)
        finally:
            status = command.end()
        return answer, status

    def profile(
        self,
        target: int | Launch,
        duration_s: float,
        frequency: int = 99,
        progress: ProgressCallback | None = None,
    ) -> CpuProfile:
        raw, status = self._on(
            target,
            progress,
            lambda agent, pid, report, start: agent.profile(pid, duration_s, frequency, report, start),
        )
        launched = not isinstance(target, int)
        profile = resolve_profile(self._with_start_time(raw), self.cache, launched=launched)
        self.cache.save()
        if status not in (None, 0) and raw.target_exited:
            profile.warnings.append(f"the command exited with status {status}")
        return profile

    def trace_syscalls(
        self,
        target: int | Launch,
        duration_s: float,
        slow_ms: float = 1.0,
        progress: ProgressCallback | None = None,
    ) -> SyscallTrace:
        raw, _ = self._on(
            target,
            progress,
            lambda agent, pid, report, start: agent.trace_syscalls(pid, duration_s, slow_ms, report, start),
        )
        self._fresh_agent = False
        trace = resolve_trace(raw, self.cache)
        self.cache.save()
        return trace

    def find_leaks(
        self,
        target: int | Launch,
        duration_s: float,
        interval_s: float = 1.0,
        budget_percent: float = 5.0,
        sample_fraction: float | None = None,
        progress: ProgressCallback | None = None,
    ) -> LeakTrace:
        raw, _ = self._on(
            target,
            progress,
            lambda agent, pid, report, start: agent.find_leaks(
                pid, duration_s, interval_s, budget_percent, sample_fraction, report, start
            ),
        )
        self._fresh_agent = False
        leaks = resolve_leaks(raw, self.cache)
        self.cache.save()
        return leaks

    def stop(self) -> None:
        if self.agent is not None and self.agent.alive:
            self.agent.stop_all()

    def close(self) -> None:
        if self.agent is not None:
            self.agent.close()
            self.agent = None
        self.cache.close()
