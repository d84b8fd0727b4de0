"""Running processes, and which of them run code built from a workspace.

A process runs workspace code when its executable lives in the workspace, or
when the executable's DWARF names source files in the workspace (a binary
installed elsewhere but built from here). Reading DWARF is cached per
(path, modification time) in the caller-owned ``BinarySourceCache``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from lineprobe.symbolization.elf_image import PARSE_ERRORS, ElfImage
from lineprobe.symbolization.runtime_hints import argv_with_flags, attach_hint, is_node, node_script


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    exe: str
    command_line: list[str]
    uid: int
    in_workspace: bool = False
    runtime_hint: str | None = None
    """What attaching would miss (a node without --perf-prof), and what would help."""
    restart_command: list[str] | None = None
    """The command line again with the flags that would give its JIT code lines."""
    cwd: str | None = None
    """Where it runs, for a restart (given with ``restart_command`` only)."""
    start_time: int | None = None
    """When it started, in clock ticks since boot (/proc/PID/stat's starttime; given with
    ``restart_command``): whoever ends it for a restart checks first that the PID is still it."""


@dataclass
class BinarySourceCache:
    """Source files and functions of executables, by (path, mtime)."""

    sources: dict[tuple[str, float], set[str]] = field(default_factory=dict)
    functions: dict[tuple[str, float], dict[str, list[tuple[str, int]]]] = field(default_factory=dict)

    def _key(self, exe: str) -> tuple[str, float] | None:
        try:
            return exe, os.stat(exe).st_mtime
        except OSError:
            return None

    def source_files(self, exe: str) -> set[str]:
        key = self._key(exe)
        if key is None:
            return set()
        if key not in self.sources:
            self.sources[key] = set()
            image = ElfImage(exe)
            try:
                dwarf = image.dwarf
                if dwarf is not None:
                    self.sources[key] = dwarf.source_files()
            except PARSE_ERRORS:
                pass
            finally:
                image.close()
        return self.sources[key]

    def functions_by_file(self, exe: str) -> dict[str, list[tuple[str, int]]]:
        key = self._key(exe)
        if key is None:
            return {}
        if key not in self.functions:
            self.functions[key] = {}
            image = ElfImage(exe)
            try:
                dwarf = image.dwarf
                if dwarf is not None:
                    self.functions[key] = dwarf.functions_by_file()
            except PARSE_ERRORS:
                pass
            finally:
                image.close()
        return self.functions[key]


def _inside(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def _runs_workspace_script(entry: Path, exe: str, argv: list[str], roots: list[str]) -> bool:
    """A node running a script of the workspace (its path taken from the process's directory)."""
    script = node_script(argv) if is_node(exe) else None
    if script is None:
        return False
    try:
        path = os.path.normpath(os.path.join(os.readlink(entry / "cwd"), script))
    except OSError:
        return False
    return _inside(path, roots)


def list_processes(
    workspace_roots: list[str] | None = None,
    cache: BinarySourceCache | None = None,
) -> list[ProcessInfo]:
    """Processes whose executable we can read, workspace ones first, then by PID."""
    roots = [str(Path(r).resolve()) for r in workspace_roots or []]
    own = os.getpid()
    result: list[ProcessInfo] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == own:
            continue
        pid = int(entry.name)
        try:
            exe = os.readlink(entry / "exe")
            raw = (entry / "cmdline").read_bytes()
            uid = entry.stat().st_uid
        except OSError:
            continue  # kernel threads, other users' processes, or gone
        # NUL ends every argument: the last split is empty, and an empty argument is an argument.
        argv = [part.decode("utf-8", errors="replace") for part in raw.split(b"\0")[:-1]]
        exe = exe.removesuffix(" (deleted)")
        in_workspace = False
        if roots:
            in_workspace = _inside(exe, roots) or _runs_workspace_script(entry, exe, argv, roots)
            if not in_workspace and cache is not None and not exe.startswith(("/usr/", "/bin/", "/sbin/")):
                in_workspace = any(_inside(src, roots) for src in cache.source_files(exe))
        restart = argv_with_flags(argv)
        cwd = _cwd(entry) if restart is not None else None
        started = start_time(pid) if restart is not None else None
        result.append(
            ProcessInfo(pid, exe, argv, uid, in_workspace, attach_hint(exe, argv), restart, cwd, started)
        )
    result.sort(key=lambda p: (not p.in_workspace, p.pid))
    return result


def start_time(pid: int) -> int | None:
    """/proc/PID/stat's starttime (field 22, after the command name, which may hold spaces)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _cwd(entry: Path) -> str | None:
    try:
        return os.readlink(entry / "cwd")
    except OSError:
        return None


def processes_running(exe_paths: set[str]) -> dict[str, list[int]]:
    """PIDs running each of the given executables right now."""
    running: dict[str, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            exe = os.readlink(entry / "exe").removesuffix(" (deleted)")
        except OSError:
            continue
        if exe in exe_paths:
            running.setdefault(exe, []).append(int(entry.name))
    return running
