"""Opening a file named by a process, a debuglink or /tmp: only a regular file, never a wait.

A path may name a FIFO (an open for reading waits for a writer forever), a
device such as ``/dev/zero`` (it never ends) or a symlink loop. Each reader
of such paths opens them here, non-blocking, and gets an error for anything
that is not a regular file.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO


class NotRegularFile(OSError):
    """The path names a FIFO, a device, a socket or a directory."""


def open_regular(path: str | os.PathLike[str], follow_symlinks: bool = True) -> tuple[int, os.stat_result]:
    """A blocking, close-on-exec descriptor of a regular file, and its status.

    Raises ``NotRegularFile`` for anything else, and ``OSError`` when it cannot be
    opened (with ``follow_symlinks=False``, a symlink is such an error: ELOOP).
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_symlinks else os.O_NOFOLLOW)
    fd = os.open(path, flags)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise NotRegularFile(f"not a regular file (mode 0o{info.st_mode:o})")
    os.set_blocking(fd, True)
    return fd, info


def open_runtime_file(path: str, owner_uid: int, unused: str) -> tuple[BinaryIO | None, str | None]:
    """A file a runtime wrote for profilers (a perf map, a jitdump), opened as perf trusts it: a
    regular file, not a symlink (anyone can plant one in /tmp), owned by the target's user or root.

    Returns the open file, or None and why it is not used (``unused`` says what that costs);
    (None, None) when there is no such file.
    """
    try:
        fd, info = open_regular(path, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        return None, None
    except NotRegularFile:
        return None, f"{path}: not a regular file; {unused}"
    except OSError as exc:
        return None, f"{path}: not read ({exc.strerror or exc}); {unused}"
    if info.st_uid not in (owner_uid, 0):
        os.close(fd)
        return None, (
            f"{path}: owned by uid {info.st_uid}, not by the target's user (uid {owner_uid}) or root: "
            "ignored, as perf does"
        )
    return os.fdopen(fd, "rb"), None


def read_runtime_file(
    path: str, owner_uid: int, unused: str, limit: int, beyond: str
) -> tuple[bytes | None, list[str]] | None:
    """At most ``limit`` bytes of a file a runtime wrote, opened as ``open_runtime_file`` opens it,
    and its problems: why it is not used (the bytes None), or that it was read only so far
    (``beyond`` says what that costs). None: there is no such file."""
    opened, problem = open_runtime_file(path, owner_uid, unused)
    if opened is None:
        return None if problem is None else (None, [problem])
    with opened:
        data = opened.read(limit)
    cut = [f"{path}: only the first {limit >> 20} MB read; {beyond}"] if len(data) == limit else []
    return data, cut
