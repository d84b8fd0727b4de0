"""``/proc/PID/maps``: the one parser of a process's memory map in the agent."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple


class MapsEntry(NamedTuple):
    """One line of ``/proc/PID/maps``."""

    start: int
    end: int
    perms: str
    offset: int
    inode: int
    path: str
    """The mapped file as the process sees it (from its root), a ``[name]``, or empty."""

    @property
    def executable(self) -> bool:
        return "x" in self.perms


def parse_maps_line(line: str) -> MapsEntry | None:
    """One line (``start-end perms offset dev inode [path]``), or None when it is not one."""
    parts = line.split(maxsplit=5)
    if len(parts) < 5:
        return None
    start, _, end = parts[0].partition("-")
    try:
        return MapsEntry(
            int(start, 16),
            int(end, 16),
            parts[1],
            int(parts[2], 16),
            int(parts[4]),
            parts[5].strip() if len(parts) == 6 else "",
        )
    except ValueError:
        return None


def parse_maps(text: str) -> list[MapsEntry]:
    return [entry for entry in map(parse_maps_line, text.splitlines()) if entry is not None]


def read_maps(pid: int) -> list[MapsEntry]:
    """The process's mappings now; OSError (FileNotFoundError, ProcessLookupError) when it is gone."""
    return parse_maps(Path(f"/proc/{pid}/maps").read_text())


def libc_path(entries: list[MapsEntry]) -> str | None:
    """Path of the C library among the mappings (as seen from the process's root)."""
    for entry in entries:
        name = entry.path.rsplit("/", 1)[-1]
        if name.startswith("libc.so") or name.startswith("libc-"):
            return entry.path
    return None


def code_range(entries: list[MapsEntry], exe: str) -> tuple[int, int]:
    """[start, end) spanning the executable mappings of ``exe``; (0, 0) when it maps none."""
    spans = [(e.start, e.end) for e in entries if e.executable and e.path == exe]
    if not spans:
        return 0, 0
    return min(s for s, _ in spans), max(e for _, e in spans)
