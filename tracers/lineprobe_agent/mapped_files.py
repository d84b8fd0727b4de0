"""The files a traced process maps, opened by root on a caller's behalf, never by a path the
caller has since redirected.

The agent reads the ELF files a target maps (build IDs; the C library's allocators) and bcc's
USDT reader opens them too, as root, by the path ``/proc/PID/maps`` shows under
``/proc/PID/root``. The caller owns that process and, often, the folder of the files it maps:
after mapping a file it may put a FIFO at its path (an open as root then waits forever for a
writer) or a symlink to a file only root can read. So:

- the agent's own reads go through ``/proc/PID/map_files/START-END``, the mapped file itself
  whatever its path says now (``open_mapped``);
- before bcc opens them by path, every mapped path must still be a regular file, and either
  the very file mapped or one the caller could read anyway (``replaced_mapping``).
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from lineprobe_agent.proc_maps import read_maps

_KINDS = {stat.S_IFIFO: "FIFO", stat.S_IFSOCK: "socket", stat.S_IFCHR: "device", stat.S_IFBLK: "device"}


def _map_file(pid: int, start: int, end: int) -> str:
    """The kernel's link to the file mapped at ``start``-``end`` (``/proc/PID/map_files``)."""
    return f"/proc/{pid}/map_files/{start:x}-{end:x}"


def open_mapped(pid: int, start: int, end: int) -> BinaryIO:
    """The file mapped at ``start``-``end`` in process ``pid``, opened through the kernel's own
    link to it (never blocking, never anything but a regular file). Raises OSError."""
    fd = os.open(_map_file(pid, start, end), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"the mapping at {start:#x} of process {pid} is not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def replaced_mapping(pid: int, caller_uid: int) -> str | None:
    """Why the files process ``pid`` maps must not be opened by path as root for the caller
    (a FIFO, socket or device now at a mapped path, or another file the caller cannot read),
    or None. Root callers may read anything: nothing to check."""
    if caller_uid == 0:
        return None
    try:
        entries = read_maps(pid)
    except OSError:
        return None  # exited: the request fails on its own
    for entry in entries:
        path = entry.path
        if not entry.inode or not path.startswith("/") or path.endswith(" (deleted)"):
            continue  # not a file, or one without a name to open it by
        try:
            by_path = os.stat(f"/proc/{pid}/root{path}")
        except OSError:
            continue  # nothing there now: nothing to open
        if not stat.S_ISREG(by_path.st_mode):
            kind = _KINDS.get(stat.S_IFMT(by_path.st_mode), "directory")
            return (
                f"{path}, which process {pid} maps, is now a {kind}, not the file it mapped: "
                "lineprobe will not open it (restore the file, or restart the process)"
            )
        try:
            mapped = os.stat(_map_file(pid, entry.start, entry.end))
        except OSError:
            continue
        readable_anyway = by_path.st_uid == caller_uid or by_path.st_mode & stat.S_IROTH
        if not os.path.samestat(mapped, by_path) and not readable_anyway:
            return (
                f"{path}, which process {pid} maps, was replaced by a file the caller cannot read: "
                "lineprobe will not open it for them (restore the file, or restart the process)"
            )
    return None
