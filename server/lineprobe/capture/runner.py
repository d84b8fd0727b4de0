"""Running one capture end to end, whatever its kind: agent, optional launch, resolution.

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
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from lineprobe.capture.agent_errors import AgentError
from lineprobe.capture.client import AgentClient
from lineprobe.capture.kinds import CaptureKind, Resolved
from lineprobe.capture.progress import Progress, ProgressCallback
from lineprobe.capture.recorded import RecordedAgent, Recorder
from lineprobe.capture.runtime_support import jit_names_asked, remove_leftovers, runtime_argv
from lineprobe.capture.spawned import live_agent
from lineprobe.profiling.model import RawProfile
from lineprobe.symbolization.frame_archive import FrameArchive
from lineprobe.symbolization.resolver import ImageCache
from lineprobe.tracepoints.records import TracepointLayout

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
        self._wait_at_gate()

    def _wait_at_gate(self, timeout_s: float = 10.0) -> None:
        """Returns once the shell waits in its ``read``: its own exec and its loader are done. Until
        then the process is half loaded (an exec whose files the page cache had evicted, on a
        machine that reclaims cold pages, took long enough for the agent to find no C library
        mapped in it, seen in CI), and what the agent reads of it would be of that moment."""
        deadline = time.monotonic() + timeout_s
        proc = Path(f"/proc/{self.process.pid}")
        while time.monotonic() < deadline and self.process.poll() is None:
            with contextlib.suppress(OSError):
                # read(0, ...): syscall 0 on fd 0, the gate's pipe (x86-64's numbering).
                if (proc / "syscall").read_text().split()[:2] == ["0", "0x0"]:
                    return
            # Else (not ours to read under Yama, another architecture): asleep, not in disk I/O.
            with contextlib.suppress(OSError):
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state == "S" and (proc / "wchan").read_text() not in ("", "0"):
                    return
            time.sleep(0.002)

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


R = TypeVar("R", bound=Resolved)
A = TypeVar("A")
REPLAY_ENVIRONMENT = "LINEPROBE_REPLAY"
"""A recording to answer every capture from, instead of a live agent (``recorded``)."""
RECORD_ENVIRONMENT = "LINEPROBE_RECORD"
"""Where to record what the live agent answers (and archive the traced binaries beside it)."""


@dataclass
class CaptureRunner:
    """Holds an agent (started on first use) and the image cache across captures."""

    launcher: str | None = None
    cache: ImageCache = field(default_factory=ImageCache)
    agent: AgentClient | None = None
    replay: Path | None = field(default_factory=lambda: _path_from_environment(REPLAY_ENVIRONMENT))
    record: Path | None = field(default_factory=lambda: _path_from_environment(RECORD_ENVIRONMENT))
    command: list[str] | None = None
    """The CLI arguments of the capture, kept in a recording's header (``--save``)."""
    replay_launched: bool = False
    """The replayed capture was of a command launched for it: it is reported as one (a command
    that ran to its exit, not a window cut short), though nothing is launched again."""
    _recorder: Recorder | None = field(default=None, init=False)
    _runtime_problem: str | None = field(default=None, init=False)
    """What a launched runtime could not be given (the JVMTI agent that did not build)."""
    _leftovers: tuple[int, str] | None = field(default=None, init=False)
    """PID and directory of a launched runtime whose files (written because of flags lineprobe
    added) are removed once its capture is resolved."""
    _fresh_agent: bool = field(default=False, init=False)
    _connecting: threading.Lock = field(default_factory=threading.Lock, init=False)

    def connection(self) -> AgentClient:
        with self._connecting:  # a warm-up thread and a command must not start two agents
            if self.agent is None or not self.agent.alive:
                self.agent = self._start_agent()
                self._fresh_agent = True
            return self.agent

    def _start_agent(self) -> AgentClient:
        if self.replay is not None:
            return RecordedAgent(self.replay)
        return live_agent(self.launcher, self._recording())

    def _recording(self) -> Recorder | None:
        if self.record is not None and self._recorder is None:
            try:
                self._recorder = Recorder(self.record, self.command)
            except OSError as exc:
                raise AgentError("bad-request", f"cannot record to {self.record}: {exc.strerror}") from None
        return self._recorder

    def separate_client(self) -> AgentClient:
        """An agent of its own, for a question that must not wait behind a running capture.

        Recorded only while no other agent of this runner is: two agents number their requests
        alike, and one recording must not hold two exchanges under one id."""
        if self.replay is not None:
            return RecordedAgent(self.replay)
        return live_agent(self.launcher, self._recording() if self._recorder is None else None)

    def tracepoints(self, pattern: str) -> tuple[TracepointLayout, ...]:
        """The kernel's tracepoints matching ``pattern``, asked of an agent of their own (tracefs
        is root's alone), which ends with the answer."""
        agent = self.separate_client()
        try:
            return agent.tracepoints(pattern)
        finally:
            agent.close()

    def prepare(self, programs: Sequence[str] = ("cpu",)) -> float:
        """Start the agent and compile programs before the first capture asks for them."""
        seconds = self.connection().prepare(list(programs))
        self._fresh_agent = False  # its start-up was not part of any capture
        return seconds

    def _agent_start_s(self) -> float:
        """The agent's start-up (measured here, from spawn to hello), charged to the first
        capture it serves; later captures reuse the running agent."""
        agent_start_s = self.agent.started_in_s if self._fresh_agent and self.agent else 0.0
        self._fresh_agent = False
        return round(agent_start_s, 4)

    def _on(
        self,
        target: int | Launch,
        progress: ProgressCallback | None,
        request: Callable[[AgentClient, int, ProgressCallback | None, int], A],
        runtime_flags: bool = False,
    ) -> tuple[A, int | None]:
        """Run one agent request on a PID, or on a command launched for it.

        A launched command waits at its gate until the agent reports that
        tracing has begun, and is traced from the exec that makes it the command;
        it is ended when the request returns. ``request`` gets the agent, the PID,
        the progress callback and the exec to record from. Returns the request's
        answer and the command's exit status (None for a PID). A recording is
        replayed as it is: nothing is launched. With ``runtime_flags``, a launched node or java
        gets what names its JIT code (capture/runtime_support.py).
        """
        agent = self.connection()
        if isinstance(target, int) or self.replay is not None:
            return request(agent, target if isinstance(target, int) else 0, progress, 0), None
        if not target.argv:
            raise AgentError("bad-request", "no command to launch")
        argv, flagged, self._runtime_problem = (
            runtime_argv(target.argv) if runtime_flags else (list(target.argv), False, None)
        )
        try:
            command = LaunchedCommand(argv, target.cwd, target.stdout)
        except OSError as exc:
            raise AgentError("bad-request", f"cannot start {target.argv[0]!r}: {exc.strerror}") from None
        if flagged:
            self._leftovers = (command.pid, target.cwd or os.getcwd())

        def on_progress(message: Progress) -> None:
            if message.phase == "sampling":
                command.release()
            if progress is not None:
                progress(message)

        try:
            answer = request(agent, command.pid, on_progress, command.execs_to_command)
        finally:
            status = command.end()
        return answer, status

    def capture(
        self,
        kind: CaptureKind[R],
        target: int | Launch,
        duration_s: float,
        parameters: dict[str, Any] | None = None,
        progress: ProgressCallback | None = None,
    ) -> R:
        """One capture of ``kind`` on a PID or a launched command, resolved to source."""
        raw, status = self._on(
            target,
            progress,
            lambda agent, pid, report, start: agent.trace(
                kind.name, pid, duration_s, parameters or {}, report, start
            ),
            runtime_flags=kind.user_stacks,
        )
        header = raw.header
        raw = replace(
            raw, header=replace(header, timings=replace(header.timings, agent_start_s=self._agent_start_s()))
        )
        if self._recorder is not None:
            children = raw.processes.values() if isinstance(raw, RawProfile) else ()
            self._recorder.archive(raw.header, [m for child in children for m in child.mappings])
        # A capture being saved keeps the frames its addresses resolve to; one saved so is
        # resolved from them first (it opens where its files are not).
        frames = FrameArchive() if self._recorder is not None else self._replayed_frames()
        cache = self.cache.for_capture(frames, self._jit_directories(target))
        running = (
            kind.user_stacks and isinstance(target, int) and self.replay is None and not header.target_exited
        )
        names: contextlib.AbstractContextManager[list[str]] = (
            jit_names_asked(header.pid, header.exe) if running else contextlib.nullcontext([])
        )
        try:
            with names as problems:
                result = kind.resolve(raw, cache, not isinstance(target, int) or self.replay_launched)
        finally:
            if self._leftovers is not None:
                remove_leftovers(*self._leftovers)
                self._leftovers = None
        if self._recorder is not None and frames is not None:
            self._recorder.keep_frames(frames)
        self.cache.save()
        result.warnings.extend(problems)
        if self._runtime_problem is not None and not isinstance(target, int):
            result.warnings.append(self._runtime_problem)
            self._runtime_problem = None
        if status not in (None, 0) and header.target_exited:
            result.warnings.append(f"the command exited with status {status}")
        return result

    def _jit_directories(self, target: int | Launch) -> tuple[str, ...]:
        """Where a launched command, gone by the time it is resolved, left its jitdump: the
        directory it ran in (Node writes ``jit-PID.dump`` there, with ``--perf-prof``)."""
        if isinstance(target, int) or self.replay is not None:
            return ()
        return (target.cwd or os.getcwd(),)

    def _replayed_frames(self) -> FrameArchive | None:
        return self.agent.frame_archive if isinstance(self.agent, RecordedAgent) else None

    def stop(self) -> None:
        if self.agent is not None and self.agent.alive:
            self.agent.stop_all()

    def close(self) -> None:
        if self.agent is not None:
            self.agent.close()
            self.agent = None
        if self._recorder is not None:
            self._recorder.close()
            self._recorder = None
        self.cache.close()


def _path_from_environment(name: str) -> Path | None:
    """The path, made absolute: a replay's archived binaries are named from it, and a binary's
    path must be absolute to be resolved as a mapped file."""
    value = os.environ.get(name)
    return Path(value).absolute() if value else None
