"""The agent as a service: one root-owned process listening on a unix socket, which starts one
agent per connection, the connection as the agent's stdin and stdout, as inetd and systemd's
``Accept=yes`` do. The agent then asks the kernel who connected (``SO_PEERCRED``) and serves
that caller alone, with the access checks it makes for every caller; this process decides only
how many agents one user may have at once.

    python -I -m lineprobe_agent.service --socket /run/lineprobe/agent.sock --group lineprobe

Who may ask at all is the group (the set-up, ``lineprobe setup-agent``, makes it), checked here
for each connection against the group database, before anything else is done for it: a user the
set-up has just added is served at once, from the session they are in, where the socket's file
permissions would wait for their next login to give them the group. So the socket is mode 0666
(0600, root's alone, without a group) and a connection of someone else is answered with a refusal
that names the group and the set-up. Where systemd runs, its socket unit makes the
socket and hands it over when the first caller connects (socket activation: ``LISTEN_FDS``, the
socket as descriptor 3), and this process serves it as its own: the per-caller limits and the
sweep are the same either way.
"""

from __future__ import annotations

import argparse
import contextlib
import grp
import os
import pwd
import resource
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from lineprobe_agent import protocol
from lineprobe_agent.access import Caller, CallerUnknown
from lineprobe_agent.code_trust import UntrustedCode, check_running_code
from lineprobe_agent.tracefs_sweep import sweep_stale_probes

SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
AGENTS_PER_CALLER = 4
"""Agents one uid may have at once: each can hold programs, perf rings and probes."""
AGENT_ADDRESS_SPACE = 2 << 30
"""Each agent's address space (RLIMIT_AS): compiling the largest program peaks near 400 MiB
(VmPeak) and the kept results are bounded by the requests' own limits; a caller's agents
together stay under AGENTS_PER_CALLER times this."""
LISTEN_BACKLOG = 64


@dataclass
class Service:
    listener: socket.socket
    agent_argv: list[str]
    group: str | None = None
    """Whose members may connect (root always may); None: root alone."""
    per_caller: int = AGENTS_PER_CALLER
    log: BinaryIO | None = None
    agents: dict[int, tuple[int, subprocess.Popen[bytes]]] = field(default_factory=dict)
    """By agent PID: the caller's uid and the agent."""
    stopping: bool = False

    def serve(self) -> None:
        self.listener.settimeout(0.5)
        while not self.stopping:
            self._reap()
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self.stopping:
                    break
                raise
            with connection:
                self._start_agent(connection)

    def _start_agent(self, connection: socket.socket) -> None:
        try:
            caller = Caller.of_socket(connection.fileno())
        except CallerUnknown as exc:
            self._say(f"refused a connection: {exc}")
            return
        uid = caller.uid
        refusal = self._refusal(caller)
        if refusal is not None:
            with contextlib.suppress(OSError):
                connection.sendall(protocol.encode(refusal))
            self._say(f"refused uid {uid}: {refusal.message}")
            return
        agent = subprocess.Popen(
            self.agent_argv,
            stdin=connection.fileno(),
            stdout=connection.fileno(),
            stderr=self.log.fileno() if self.log else subprocess.DEVNULL,
            cwd="/",
            env={"PATH": SAFE_PATH},
            start_new_session=True,
        )
        # Set from here as it starts (it has allocated little yet), not in the child before exec.
        with contextlib.suppress(ProcessLookupError):
            resource.prlimit(agent.pid, resource.RLIMIT_AS, (AGENT_ADDRESS_SPACE, AGENT_ADDRESS_SPACE))
        self.agents[agent.pid] = (uid, agent)
        self._say(f"agent {agent.pid} for uid {uid}")

    def _refusal(self, caller: Caller) -> protocol.Failure | None:
        """Why ``caller`` gets no agent: not in the group, or too many agents already."""
        if not caller.is_root and not is_member(caller, self.group):
            try:
                name = pwd.getpwuid(caller.uid).pw_name
            except KeyError:
                name = str(caller.uid)
            return protocol.Failure(
                None,
                "no-privileges",
                f"{name} (uid {caller.uid}) is not a member of group {self.group or 'root'}, whose members"
                " may ask the lineprobe service for traces",
                f"an administrator adds you once: sudo lineprobe setup-agent --user {name}",
            )
        running = sum(1 for owner, _ in self.agents.values() if owner == caller.uid)
        if running >= self.per_caller:
            return protocol.Failure(
                None,
                "busy",
                f"uid {caller.uid} already has {running} lineprobe agents running"
                f" (at most {self.per_caller})",
                "stop a trace first, or close another editor's lineprobe",
            )
        return None

    def _reap(self) -> None:
        for pid, (_, agent) in list(self.agents.items()):
            if agent.poll() is not None:
                del self.agents[pid]

    def stop(self, signum: int, frame: object) -> None:
        self.stopping = True

    def close(self) -> None:
        """Stop listening; end every agent (each frees its programs and probes as it exits)."""
        self.listener.close()
        for _, agent in self.agents.values():
            with contextlib.suppress(ProcessLookupError):
                agent.terminate()
        deadline = time.monotonic() + 10
        for _, agent in self.agents.values():
            try:
                agent.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait()

    def _say(self, line: str) -> None:
        if self.log is not None:
            self.log.write(f"lineprobe service: {line}\n".encode())
            self.log.flush()


def is_member(caller: Caller, group: str | None) -> bool:
    """Whether ``caller`` belongs to ``group``: by the groups its connection was made with, or by
    the group database as it is now (a member added since the caller's login counts)."""
    if group is None:
        return False
    try:
        entry = grp.getgrnam(group)
    except KeyError:
        return False
    if caller.gid == entry.gr_gid or entry.gr_gid in caller.groups:
        return True
    try:
        user = pwd.getpwuid(caller.uid)
    except KeyError:
        return False
    return user.pw_gid == entry.gr_gid or user.pw_name in entry.gr_mem


def listen(path: Path, group: str | None) -> socket.socket:
    """The service's socket at ``path`` (a stale one replaced): mode 0666 with a group, whose
    membership the service checks itself; else 0600, root's alone.

    Bound under a name of its own and renamed into place once listening: a client never finds
    ``path`` before it accepts connections (bind, then listen, left a moment that refused them)."""
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        staging.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # never a moment when others may connect
    try:
        listener.bind(str(staging))
    finally:
        os.umask(old)
    gid = grp.getgrnam(group).gr_gid if group else 0  # an unknown group fails here, at start
    os.chown(staging, 0, gid)
    os.chmod(staging, 0o666 if group else 0o600)
    listener.listen(LISTEN_BACKLOG)
    os.rename(staging, path)  # replaces a stale socket in one step
    return listener


SD_LISTEN_FDS_START = 3


def listener_from_systemd() -> socket.socket | None:
    """The listening socket systemd passed (socket activation), or None when it passed none."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()) or os.environ.get("LISTEN_FDS") != "1":
        return None
    listener = socket.socket(fileno=SD_LISTEN_FDS_START)
    if listener.family != socket.AF_UNIX or listener.type != socket.SOCK_STREAM:
        listener.detach()
        raise SystemExit("lineprobe service: systemd passed a socket that is not a unix stream socket")
    return listener


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lineprobe_agent.service", description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", type=Path, required=True)
    parser.add_argument("--group", help="who may connect (without it: root alone)")
    parser.add_argument("--per-caller", type=int, default=AGENTS_PER_CALLER)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        sys.stderr.write("lineprobe service: run as root (lineprobe setup-agent starts it)\n")
        return 2
    if not sys.flags.isolated:
        sys.stderr.write("lineprobe service: start it as `python -I -m lineprobe_agent.service`\n")
        return 2
    try:
        check_running_code()
    except UntrustedCode as exc:
        sys.stderr.write(f"lineprobe service: {exc}\n")
        return 2
    os.chdir("/")
    activated = listener_from_systemd()
    listener = activated if activated is not None else listen(args.socket, args.group)
    service = Service(
        listener,
        [sys.executable, "-I", "-m", "lineprobe_agent"],
        group=args.group,
        per_caller=args.per_caller,
        log=sys.stderr.buffer,
    )
    signal.signal(signal.SIGTERM, service.stop)
    signal.signal(signal.SIGINT, service.stop)
    for line in sweep_stale_probes().report():  # what killed tracers left behind, before anyone asks
        service._say(line)
    service._say(f"listening on {args.socket} (group {args.group or 'root only'})")
    try:
        service.serve()
    finally:
        service.close()
        if activated is None:  # systemd's socket is systemd's to remove
            with contextlib.suppress(FileNotFoundError):
                args.socket.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
