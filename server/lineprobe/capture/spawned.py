"""Starting the privileged agent and talking to it over a socket pair.

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

``SpawnedAgent`` is blocking and thread-safe: the CLI calls it directly,
the LSP server from worker threads. Messages are encoded and decoded by
``wire``; with a ``Recorder``, every exchange is also kept for replay.
"""

from __future__ import annotations

import collections
import contextlib
import os
import pwd
import queue
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lineprobe.capture.agent_errors import AgentError, IncompatibleAgent
from lineprobe.capture.progress import CapabilityReport, Progress, ProgressCallback
from lineprobe.capture.recorded import Recorder
from lineprobe.capture.wire.convert import Captured, Hello, Message, Prepared, Tracepoints, WireSession
from lineprobe.tracepoints.records import TracepointLayout

DEFAULT_LAUNCHER = "sudo -n"
INSTALLED_AGENT = "/usr/local/libexec/lineprobe-agent"
"""The root-owned agent entry that a launcher's rule names (``make install-agent``)."""
AGENT_ENVIRONMENT = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
"""All the environment the agent, or its launcher, is started with: nothing of the caller's."""
HELLO_TIMEOUT_S = 20.0

CAP_SYS_ADMIN = 21
CAP_PERFMON = 38
CAP_BPF = 39


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


@dataclass
class _Pending:
    progress: ProgressCallback | None
    answers: queue.Queue[Message | None] = field(default_factory=queue.Queue)


SERVICE = "service"
"""The launcher that means: connect to the lineprobe service (``ServiceAgent``), start nothing."""
SERVICE_SOCKET = "/run/lineprobe/agent.sock"
"""Where ``lineprobe setup-agent`` makes the service listen (``LINEPROBE_AGENT_SOCKET`` overrides)."""


def service_socket() -> str:
    return os.environ.get("LINEPROBE_AGENT_SOCKET", SERVICE_SOCKET)


class SpawnedAgent:
    """One running agent. Use as a context manager, or call ``close``."""

    def __init__(self, launcher: str | None = None, recorder: Recorder | None = None) -> None:
        self.spawned_at = time.monotonic()
        self._wire = WireSession()
        self._recorder = recorder
        self._process: subprocess.Popen[bytes] | None = None
        argv = agent_command(launcher) if launcher != SERVICE else []
        self._socket = self._open(argv)
        self._connected = True
        self._reader = self._socket.makefile("rb")
        self._write_lock = threading.Lock()
        self._pending: dict[int, _Pending] = {}
        self._pending_lock = threading.Lock()
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=40)
        self._hello: queue.Queue[Hello | AgentError | None] = queue.Queue()
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
        if isinstance(hello, AgentError):  # a version this server does not speak
            self.close()
            raise hello
        self.agent_pid = hello.agent_pid
        self.features = hello.features
        self.started_in_s = time.monotonic() - self.spawned_at

    def _open(self, argv: list[str]) -> socket.socket:
        """Start the agent with ``argv``; the socket it speaks on."""
        # One socket pair for both directions: the agent asks the kernel who made it.
        ours, agent_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
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
            ours.close()
            raise AgentError(
                "no-privileges", f"cannot start the agent with `{shlex.join(argv)}`: {exc}"
            ) from None
        finally:
            agent_end.close()
        return ours

    def _startup_failure(self, argv: list[str]) -> str:
        detail = " ".join(line.strip() for line in self._stderr_tail if line.strip())[-600:]
        if "password is required" in detail or "a terminal is required" in detail:
            return (
                "the launcher asked for a password: tracing needs privileges. Set up the lineprobe "
                f"service once (as root: `lineprobe setup-agent --user {_user_name()}`; in VS Code: "
                "lineprobe: Set Up the Tracing Service…), or run as root, or allow "
                f"`{shlex.join(argv)}` without a password (sudoers NOPASSWD), or set LINEPROBE_LAUNCHER"
            )
        return f"the agent did not start (`{shlex.join(argv)}`): {detail or 'no output'}"

    # -- reading -----------------------------------------------------------------------

    def _read_stdout(self) -> None:
        for line in self._reader:
            try:
                message = self._wire.decode(line)
            except IncompatibleAgent as exc:
                self._hello.put(exc)
                continue
            except AgentError as exc:
                self._stderr_tail.append(exc.message)
                continue
            if self._recorder is not None:
                self._recorder.agent_said(line)
            if isinstance(message.body, Hello):
                self._hello.put(message.body)
                continue
            with self._pending_lock:
                pending = self._pending.get(message.request_id) if message.request_id is not None else None
            if pending is None:
                if isinstance(message.body, AgentError):
                    self._stderr_tail.append(f"agent: {message.body.message}")
                continue
            if isinstance(message.body, Progress):
                if pending.progress is not None:
                    pending.progress(message.body)
                continue
            pending.answers.put(message)
        # EOF: the agent is gone; wake everyone who waits.
        self._connected = False
        self._hello.put(None)
        with self._pending_lock:
            for pending in self._pending.values():
                pending.answers.put(None)

    def _read_stderr(self) -> None:
        if self._process is None or self._process.stderr is None:
            return
        for raw in self._process.stderr:
            self._stderr_tail.append(raw.decode("utf-8", errors="replace").rstrip())

    # -- requests ------------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        with self._write_lock:
            try:
                self._socket.sendall(data)
            except (BrokenPipeError, ValueError, OSError):
                raise AgentError("internal", self._died_message()) from None
        if self._recorder is not None:
            self._recorder.server_said(data)

    def _died_message(self) -> str:
        tail = " ".join(self._stderr_tail)[-600:]
        if self._process is None:
            return f"the lineprobe service's agent closed the connection: {tail or 'no message'}"
        return f"the agent exited (status {self._process.poll()}): {tail or 'no output'}"

    def _call(self, encode: Any, progress: ProgressCallback | None) -> Any:
        """Send the request that ``encode(id)`` makes; wait for its answer's body."""
        with self._pending_lock:
            request_id = self._wire.next_id()
            pending = self._pending[request_id] = _Pending(progress)
        try:
            self._send(encode(request_id))
            answer = pending.answers.get()
        finally:
            with self._pending_lock:
                self._pending.pop(request_id, None)
        if answer is None:
            raise AgentError("internal", self._died_message())
        if isinstance(answer.body, AgentError):
            raise answer.body
        return answer.body

    def prepare(self, programs: list[str]) -> float:
        """Have the agent compile programs now (``cpu``, ``syscalls``, ``leaks``...); returns seconds."""
        answer = self._call(lambda i: self._wire.prepare_request(i, programs), None)
        assert isinstance(answer, Prepared)
        return answer.compile_s

    def capabilities(self) -> CapabilityReport:
        answer = self._call(self._wire.capabilities_request, None)
        assert isinstance(answer, CapabilityReport)
        return answer

    def tracepoints(self, pattern: str) -> tuple[TracepointLayout, ...]:
        answer = self._call(lambda i: self._wire.tracepoints_request(i, pattern), None)
        assert isinstance(answer, Tracepoints)
        return answer.layouts

    def trace(
        self,
        kind: str,
        pid: int,
        duration_s: float,
        parameters: dict[str, Any],
        progress: ProgressCallback | None = None,
        start_at_exec: int = 0,
    ) -> Any:
        answer = self._call(
            lambda i: self._wire.trace_request(kind, i, pid, duration_s, start_at_exec, parameters), progress
        )
        assert isinstance(answer, Captured)
        return answer.raw

    def stop_all(self) -> None:
        """Ask every running request to end early; each still answers with its data."""
        with self._pending_lock:
            ids = list(self._pending)
        for request_id in ids:
            self._send(self._wire.stop_request(request_id))

    @property
    def alive(self) -> bool:
        if self._process is None:
            return not self._closed and self._connected
        return self._process.poll() is None and not self._closed

    def close(self, timeout_s: float = 5.0) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(AgentError):
            self._send(self._wire.shutdown_request())
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_WR)  # end of input for the agent
        if self._process is None:  # the service's agent: it exits when its input ends
            self._socket.close()
            return
        try:
            self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._process.terminate()
            try:
                self._process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __enter__(self) -> SpawnedAgent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ServiceAgent(SpawnedAgent):
    """An agent of the lineprobe service (``lineprobe_agent.service``, or systemd's socket unit):
    connected to, not started; it asks the kernel who connected, as a spawned agent asks who made
    its socket pair, and serves that caller with the same checks."""

    def __init__(self, path: str | None = None, recorder: Recorder | None = None) -> None:
        self.path = path or service_socket()
        super().__init__(SERVICE, recorder)

    def _open(self, argv: list[str]) -> socket.socket:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.connect(self.path)
        except OSError as exc:
            connection.close()
            raise AgentError(
                "no-privileges",
                f"cannot reach the lineprobe service at {self.path}: {exc.strerror}",
                "as root, run `lineprobe setup-agent` once (it installs the service and a group to"
                " join), or run lineprobe as root",
            ) from None
        return connection

    def _startup_failure(self, argv: list[str]) -> str:
        detail = " ".join(line.strip() for line in self._stderr_tail if line.strip())[-600:]
        return f"the lineprobe service at {self.path} did not start an agent: {detail or 'no answer'}"


def _user_name() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def starts_without_asking(launcher: str | None = None) -> bool:
    """Whether an agent can be had without anyone being asked for anything: this process may
    trace, the lineprobe service is set up, or a launcher was chosen (``launcher``, else
    ``LINEPROBE_LAUNCHER``). Only then does the server start one before the user asks for a
    trace; the default launcher, ``sudo -n``, is tried when they do."""
    chosen = launcher if launcher is not None else os.environ.get("LINEPROBE_LAUNCHER")
    return has_tracing_privileges() or chosen is not None or os.path.exists(service_socket())


def live_agent(launcher: str | None = None, recorder: Recorder | None = None) -> SpawnedAgent:
    """The agent to trace with: the lineprobe service's when the launcher says ``service``, or
    when none is set, this process cannot trace itself and the service's socket is there;
    otherwise one started here (directly with privileges, else through the launcher)."""
    chosen = launcher if launcher is not None else os.environ.get("LINEPROBE_LAUNCHER")
    if chosen == SERVICE or (
        chosen is None and not has_tracing_privileges() and os.path.exists(service_socket())
    ):
        return ServiceAgent(recorder=recorder)
    return SpawnedAgent(launcher, recorder)
