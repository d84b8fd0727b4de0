"""Who asks, and whether the kernel would let them debug the process they name.

The agent holds privileges that read any process's memory, so every trace must
be one the caller could have made with ptrace. Rather than re-implement the
kernel's rules (uid *and* gid sets, the dumpable flag that setuid/setgid
programs and ``prctl(PR_SET_DUMPABLE, 0)`` clear, capabilities), the agent asks
the kernel: a small helper process runs with the caller's exact credentials and
opens ``/proc/PID/environ``, which the kernel allows only after
``ptrace_may_access(PTRACE_MODE_READ_FSCREDS)``. Yama's ``ptrace_scope`` (which
governs attaching, not reading) is applied on top, as the kernel applies it to
a debugger.

The caller is never taken from the environment: the agent's stdin is a unix
socket pair made by the caller, and ``SO_PEERCRED``/``SO_PEERGROUPS`` give the
credentials it had when it made it, as the kernel recorded them.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

SO_PEERGROUPS = getattr(socket, "SO_PEERGROUPS", 59)
YAMA_SCOPE = Path("/proc/sys/kernel/yama/ptrace_scope")

# Runs with the caller's credentials, from the agent's root-owned interpreter
# (`-I`: no environment, no user site, no current directory on sys.path). One
# line in per question (a PID), one line out: "ok" or the errno's name.
_PROBE_SCRIPT = r"""
import errno, os, sys
for line in sys.stdin:
    try:
        fd = os.open("/proc/%d/environ" % int(line), os.O_RDONLY)
    except OSError as exc:
        answer = errno.errorcode.get(exc.errno, str(exc.errno))
    except ValueError:
        answer = "EINVAL"
    else:
        os.close(fd)
        answer = "ok"
    sys.stdout.write(answer + "\n")
    sys.stdout.flush()
"""


class CallerUnknown(Exception):
    """The agent cannot tell who is asking, so it serves no one."""


@dataclass(frozen=True)
class Caller:
    """The credentials of the process that made the agent's socket pair."""

    pid: int
    uid: int
    gid: int
    groups: tuple[int, ...]

    @property
    def is_root(self) -> bool:
        return self.uid == 0

    @classmethod
    def of_socket(cls, fd: int) -> Caller:
        """The peer of the unix socket ``fd``, as the kernel recorded it."""
        try:
            sock = socket.socket(fileno=os.dup(fd))
        except OSError as exc:
            raise CallerUnknown(f"fd {fd} is not a socket ({exc.strerror})") from None
        try:
            if sock.family != socket.AF_UNIX:
                raise CallerUnknown(f"fd {fd} is not a unix socket")
            pid, uid, gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
            try:
                raw = sock.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, 4 * 65536)
                groups = struct.unpack(f"{len(raw) // 4}I", raw[: len(raw) // 4 * 4])
            except OSError:
                groups = ()
        finally:
            sock.close()
        if uid < 0 or pid <= 0:
            raise CallerUnknown(f"the socket on fd {fd} has no peer credentials")
        return cls(pid, uid, gid, tuple(groups))


def yama_scope() -> int:
    """Yama's ptrace_scope (0 when Yama is not built in)."""
    try:
        return int(YAMA_SCOPE.read_text().strip())
    except (OSError, ValueError):
        return 0


def _parent_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    return 0


def is_descendant(pid: int, ancestor: int) -> bool:
    """Whether ``ancestor`` is ``pid``'s parent, grandparent, ... (Yama's scope 1 rule)."""
    seen = 0
    while pid > 1 and seen < 4096:
        try:
            pid = _parent_of(pid)
        except OSError:
            return False
        if pid == ancestor:
            return True
        seen += 1
    return False


def _credentials(pid: int) -> dict[str, list[int]]:
    fields: dict[str, list[int]] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, values = line.partition(":")
            if name in ("Uid", "Gid"):
                fields[name] = [int(v) for v in values.split()]
    except OSError:
        pass
    return fields


def _helper_python() -> str:
    """An interpreter the caller can run: the system's, where this one may sit in a directory only
    root can enter (a root-owned pyenv or venv)."""
    system = "/usr/bin/python3"
    return system if os.access(system, os.X_OK) else sys.executable


@dataclass
class AccessCheck:
    """Answers, for one caller, "may they debug process PID now?" (None: yes; else why not)."""

    caller: Caller
    python: str = field(default_factory=_helper_python)
    _helper: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def denial(self, pid: int) -> str | None:
        """None when the caller may trace ``pid``; otherwise a reason for the user."""
        if self.caller.is_root:
            return None
        scope = yama_scope()
        if scope >= 2:
            return (
                f"Yama's ptrace_scope is {scope}: only root may debug other processes "
                f"(the caller is uid {self.caller.uid})"
            )
        answer = self._ask(pid)
        if answer == "ok":
            if scope == 1 and not is_descendant(pid, self.caller.pid):
                return (
                    f"Yama's ptrace_scope is 1: process {pid} is not a descendant of the caller "
                    f"(pid {self.caller.pid}); launch it with lineprobe, or ask root to trace it"
                )
            return None
        if answer in ("ENOENT", "ESRCH"):
            return f"process {pid} exited"
        return self._explain(pid, answer)

    def _explain(self, pid: int, answer: str) -> str:
        creds = _credentials(pid)
        uids, gids = creds.get("Uid", []), creds.get("Gid", [])
        caller = f"the caller (uid {self.caller.uid})"
        if uids and any(u != self.caller.uid for u in uids[:3]):
            owner = next(u for u in uids[:3] if u != self.caller.uid)
            return (
                f"process {pid} belongs to uid {owner}, not to {caller}; "
                "lineprobe traces only processes the caller could debug with ptrace"
            )
        if gids and any(g != self.caller.gid for g in gids[:3]):
            return (
                f"process {pid} runs with group {next(g for g in gids[:3] if g != self.caller.gid)} "
                f"(a setgid program), which {caller} cannot debug"
            )
        return (
            f"process {pid} is not debuggable by {caller} ({answer}): it made itself non-dumpable "
            "(prctl PR_SET_DUMPABLE) or changed its credentials"
        )

    def _ask(self, pid: int) -> str:
        with self._lock:
            for _ in range(2):  # a helper that died (killed by the caller) is started again once
                helper = self._helper if self._helper and self._helper.poll() is None else self._start()
                assert helper.stdin is not None and helper.stdout is not None
                try:
                    helper.stdin.write(f"{pid}\n".encode())
                    helper.stdin.flush()
                    answer = helper.stdout.readline().decode().strip()
                except OSError:
                    answer = ""
                if answer:
                    return answer
                self._helper = None
            return "EIO"

    def _start(self) -> subprocess.Popen[bytes]:
        caller = self.caller
        self._helper = subprocess.Popen(
            [self.python, "-I", "-S", "-c", _PROBE_SCRIPT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd="/",
            env={},
            user=caller.uid,
            group=caller.gid,
            extra_groups=list(caller.groups),
            close_fds=True,
        )
        return self._helper

    def close(self) -> None:
        with self._lock:
            helper, self._helper = self._helper, None
        if helper is not None and helper.poll() is None:
            helper.kill()
            helper.wait()
