"""The installed lineprobe service, started and spoken to as its callers do: one helper for the
service tests, the kill-cycle and the PID-reuse benchmarks.

A caller is whoever made the connection (``SO_PEERCRED`` records it at ``connect``), so
``connect_as`` connects from a child that has dropped to the caller's uid, gid and groups and
hands the connected socket back over a socket pair: the rest of the conversation can run in
this (root) process, and the service still sees the unprivileged caller.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from lineprobe_agent import protocol

INSTALLED_PYTHON = Path("/usr/local/lib/lineprobe-agent/venv/bin/python")


def start_service(
    socket_path: Path, group: str | None = None, log: IO[bytes] | None = None
) -> subprocess.Popen[bytes]:
    """The installed service listening on ``socket_path`` (for ``group``, or root alone), once
    its socket is there (a stale socket at the path: once it has been replaced); its output to
    ``log`` (else discarded)."""
    argv = [str(INSTALLED_PYTHON), "-I", "-m", "lineprobe_agent.service", "--socket", str(socket_path)]
    if group is not None:
        argv += ["--group", group]
    output = log if log is not None else subprocess.DEVNULL
    stale = _inode(socket_path)
    service = subprocess.Popen(argv, stdout=output, stderr=output, cwd="/")
    deadline = time.monotonic() + 20
    while _inode(socket_path) in (None, stale):
        if service.poll() is not None or time.monotonic() > deadline:
            stop_service(service)
            raise AssertionError(f"the service did not start on {socket_path} (exit {service.returncode})")
        time.sleep(0.025)
    return service


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


def stop_service(service: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as the set-up's unit does; SIGKILL after 30 s."""
    if service.poll() is None:
        service.send_signal(signal.SIGTERM)
    try:
        service.wait(30)
    except subprocess.TimeoutExpired:
        service.kill()
        service.wait()


@dataclass
class ServiceConnection:
    """One connection to the service: one agent, which said hello."""

    channel: socket.socket
    replies: BinaryIO
    hello: protocol.Hello

    def send(self, request: protocol.Request) -> None:
        self.channel.sendall(protocol.encode(request))

    def next_message(self) -> protocol.AgentMessage:
        line = self.replies.readline()
        if not line:
            raise EOFError("the agent closed the connection")
        return protocol.decode_message(line)

    def close(self) -> None:
        self.replies.close()  # the file holds the socket open too
        self.channel.close()


def connect_as(
    socket_path: Path, uid: int = 0, gid: int = 0, groups: tuple[int, ...] = ()
) -> ServiceConnection:
    """Connect to the service as ``uid``/``gid`` (with supplementary ``groups``); read its hello."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    child = os.fork()
    if child == 0:  # the caller: drops privileges, connects, hands the connection over, exits
        code = 1
        try:
            ours.close()
            os.setgroups(list(groups))
            os.setgid(gid)
            os.setuid(uid)
            channel = socket.socket(socket.AF_UNIX)
            channel.connect(str(socket_path))
            socket.send_fds(theirs, [b"c"], [channel.fileno()])
            code = 0
        finally:
            os._exit(code)
    theirs.close()
    try:
        _, fds, _, _ = socket.recv_fds(ours, 1, 1)
    finally:
        ours.close()
        _, status = os.waitpid(child, 0)
    if not fds or os.waitstatus_to_exitcode(status) != 0:
        raise ConnectionRefusedError(f"uid {uid} could not connect to {socket_path}")
    channel = socket.socket(fileno=fds[0])
    channel.settimeout(60)
    replies = channel.makefile("rb")
    hello = protocol.decode_message(replies.readline())
    if not isinstance(hello, protocol.Hello):
        with contextlib.suppress(OSError):
            channel.close()
        raise ConnectionRefusedError(f"the service answered {hello}")
    return ServiceConnection(channel, replies, hello)
