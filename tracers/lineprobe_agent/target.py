"""The traced process: whether the caller may trace it, its memory map, and whether it still lives.

The agent holds privileges that read any memory, so it refuses what the
caller could not do with ptrace, as the kernel decides it (``AccessCheck``).
The target is pinned with a pidfd before it is authorised: a process that
exits (and whose PID may then be reused) is seen exited through the pidfd,
never mistaken for the process that took its number.
"""

from __future__ import annotations

import os
import select
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.segments import NoteSegment

from lineprobe_agent.access import AccessCheck
from lineprobe_agent.mapped_files import open_mapped
from lineprobe_agent.proc_maps import read_maps
from lineprobe_agent.protocol import Mapping


class NoSuchProcess(LookupError):
    pass


class NotPermitted(Exception):
    pass


def read_build_id(path: str) -> str | None:
    """The GNU build-id note of an ELF file, as hex, or None (not ELF, no note, unreadable)."""
    try:
        with open(path, "rb") as stream:
            return build_id_of(stream)
    except OSError:
        return None


def build_id_of(stream: BinaryIO) -> str | None:
    """The GNU build-id note of the ELF file open as ``stream`` (None: not ELF, no note)."""
    try:
        for segment in ELFFile(stream).iter_segments(type="PT_NOTE"):
            if not isinstance(segment, NoteSegment):
                continue
            for note in segment.iter_notes():
                if note["n_type"] == "NT_GNU_BUILD_ID":
                    return str(note["n_desc"])
    except (OSError, ELFError, ValueError, KeyError):
        return None
    return None


@dataclass
class Target:
    pid: int
    pidfd: int
    exe: str
    comm: str
    _build_ids: dict[tuple[str, int], str | None] = field(default_factory=dict)
    _maps: dict[tuple[int, int, str], Mapping] = field(default_factory=dict)

    @classmethod
    def open(cls, pid: int, access: AccessCheck) -> Target:
        if pid <= 0:
            raise NoSuchProcess(f"invalid PID {pid}")
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            raise NoSuchProcess(f"no process with PID {pid}") from None
        try:
            # Asked after the pidfd pins the process: the answer is about this process.
            denial = access.denial(pid)
            if denial is not None:
                if select.select([pidfd], [], [], 0)[0]:
                    raise NoSuchProcess(f"process {pid} exited before it could be traced")
                raise NotPermitted(denial)
            exe = os.readlink(f"/proc/{pid}/exe")
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except FileNotFoundError:
            os.close(pidfd)
            raise NoSuchProcess(f"process {pid} exited before it could be traced") from None
        except PermissionError:
            os.close(pidfd)
            raise NotPermitted(f"not allowed to read /proc/{pid}: the agent lacks the privileges") from None
        except BaseException:
            os.close(pidfd)
            raise
        return cls(pid=pid, pidfd=pidfd, exe=exe, comm=comm)

    def close(self) -> None:
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1

    def wait_exit(self, timeout_s: float) -> bool:
        """Sleep up to ``timeout_s``; True as soon as the process has exited."""
        readable, _, _ = select.select([self.pidfd], [], [], max(timeout_s, 0.0))
        return bool(readable)

    def alive(self) -> bool:
        return not self.wait_exit(0)

    def snapshot_maps(self) -> None:
        """Add the current executable mappings to what was seen so far.

        Called repeatedly while sampling, so that libraries loaded (or a
        binary exec'd) during the run are known even if the process exits
        before the end. Build-ids are read once per (path, inode).
        """
        try:
            entries = read_maps(self.pid)
            # The process may have exec'd since it was opened (a launcher's shell
            # becoming the program): keep the name of what runs now.
            self.exe = os.readlink(f"/proc/{self.pid}/exe")
            self.comm = Path(f"/proc/{self.pid}/comm").read_text().strip()
        except (FileNotFoundError, ProcessLookupError):
            return
        for start, end, perms, offset, inode, path in entries:
            if "x" not in perms:
                continue
            key = (start, end, path)
            if key in self._maps:
                continue
            build_id = None
            if path.startswith("/") and inode:
                cache_key = (path, inode)
                if cache_key not in self._build_ids:
                    self._build_ids[cache_key] = self._mapped_build_id(start, end)
                build_id = self._build_ids[cache_key]
            # A mapping that overlaps an older one replaced it (exec, dlclose+dlopen):
            # the newer one is what samples from now on hit.
            for old in [k for k in self._maps if k[0] < end and start < k[1]]:
                del self._maps[old]
            self._maps[key] = Mapping(start, end, offset, perms, path, inode, build_id)

    def _mapped_build_id(self, start: int, end: int) -> str | None:
        """Read through the kernel's link to the mapped file, not its path, which the process's
        owner may have pointed elsewhere since (lineprobe_agent.mapped_files)."""
        try:
            with open_mapped(self.pid, start, end) as stream:
                return build_id_of(stream)
        except OSError:
            return None

    def mappings(self) -> list[Mapping]:
        return sorted(self._maps.values(), key=lambda m: m.start)
