"""Which file a descriptor named when the target used it, not whenever lineprobe looked.

Descriptor numbers are reused: a launched program's loader reads libc on fd 3,
closes it, and the program's data file is opened on fd 3 next. A
``readlink /proc/PID/fd/3`` taken later names whatever fd 3 holds *then*, so
the BPF program keeps a *generation* per descriptor number: every open, dup,
socket, accept and close of a number gives it a new generation (from one
serial counter), the I/O aggregates are keyed by (call, fd, generation), and
each change is reported with what is known of the new file. This table turns
(fd, generation) into a name:

- generation 0: the descriptor as it was when tracing began, read from
  ``/proc/PID/fd`` at that moment ("unknown (opened before tracing, since
  closed)" if it was not there);
- an open: the path the target passed, made absolute against its working
  directory (or the directory descriptor's own name);
- a dup: the name of the descriptor it copies, at its generation then;
- a socket, an accepted connection, a pipe or another descriptor a call made
  (eventfd, epoll, memfd...): ``/proc/PID/fd`` while that generation is still
  the descriptor's latest (``socket:[inode]``, ``pipe:[inode]``), else what
  made it ("socket", "pipe2", "eventfd2");
- a generation no event named (a call lineprobe does not follow, such as
  passing descriptors over a unix socket): ``/proc/PID/fd`` while it is the
  latest, else unknown.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from lineprobe_agent.bpf_source import constant

AT_FDCWD = constant("AT_FDCWD")

# What the syscall tracer's fd_events records say happened (enum lp_fd_change in bpf/lineprobe.h).
FD_OPENED = constant("FD_OPENED")
FD_DUPED = constant("FD_DUPED")
FD_SOCKET = constant("FD_SOCKET")
FD_ACCEPTED = constant("FD_ACCEPTED")
FD_CLOSED = constant("FD_CLOSED")
FD_CREATED = constant("FD_CREATED")

UNKNOWN_BEFORE = "unknown (opened before tracing, since closed)"
UNKNOWN_UNFOLLOWED = "unknown (opened by a call lineprobe does not follow, since closed)"


@dataclass
class DescriptorTable:
    pid: int = 0
    _names: dict[tuple[int, int], str] = field(default_factory=dict)
    _latest: dict[int, int] = field(default_factory=dict)
    """The highest generation seen for each descriptor number."""
    _open_at_start: set[int] = field(default_factory=set)

    def begin(self, pid: int) -> None:
        """Forget the last trace; name the descriptors ``pid`` holds now (generation 0)."""
        self.pid = pid
        self._names = {}
        self._latest = {}
        self._open_at_start = set()
        try:
            numbers = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            return
        for entry in numbers:
            if entry.isdigit():
                self._open_at_start.add(int(entry))
                name = self._readlink(int(entry))
                if name is not None:
                    self._names[(int(entry), 0)] = name

    def _readlink(self, fd: int) -> str | None:
        try:
            return os.readlink(f"/proc/{self.pid}/fd/{fd}")
        except OSError:
            return None

    def _current(self, fd: int, generation: int) -> bool:
        return self._latest.get(fd, 0) <= generation

    def on_change(
        self, kind: int, fd: int, generation: int, path: str, dirfd: int, source: tuple[int, int]
    ) -> None:
        """One change reported by the program: descriptor ``fd`` has ``generation`` now. ``path`` is
        an open's path, else the name of the call that made the descriptor."""
        if fd < 0:
            return
        self._latest[fd] = max(self._latest.get(fd, 0), generation)
        if kind == FD_OPENED and path:
            self._names[(fd, generation)] = self._absolute(path, dirfd)
        elif kind == FD_DUPED:
            self._names[(fd, generation)] = self.name(*source)
        elif kind in (FD_SOCKET, FD_ACCEPTED, FD_CREATED):
            now = self._readlink(fd) if self._current(fd, generation) else None
            fallback = "socket" if kind != FD_CREATED else path or "unknown"
            self._names[(fd, generation)] = now if now and not now.startswith("/") else fallback

    def _absolute(self, path: str, dirfd: int) -> str:
        if path.startswith("/"):
            return os.path.normpath(path)
        if dirfd == AT_FDCWD:
            base = os.readlink(f"/proc/{self.pid}/cwd") if os.path.exists(f"/proc/{self.pid}") else ""
        else:
            base = self.name(dirfd, self._latest.get(dirfd, 0))
        return os.path.normpath(os.path.join(base, path)) if base.startswith("/") else path

    def remember(self, fd: int, generation: int) -> None:
        """Name a generation no event named (an unfollowed call), while it is still the latest;
        generation 0 of a number that was not open when tracing began is such a one too."""
        if fd >= 0 and (fd, generation) not in self._names and self._current(fd, generation):
            name = self._readlink(fd)
            if name is not None:
                self._names[(fd, generation)] = name

    def name(self, fd: int, generation: int) -> str:
        known = self._names.get((fd, generation))
        if known is not None:
            return known
        if generation == 0 and fd in self._open_at_start:
            return UNKNOWN_BEFORE
        return UNKNOWN_UNFOLLOWED
