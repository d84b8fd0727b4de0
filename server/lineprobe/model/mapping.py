"""One executable mapping of a traced process, and the executable files of a process's map."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MappedFile:
    """One executable mapping of a process (a line of /proc/PID/maps)."""

    start: int
    end: int
    offset: int
    path: str
    build_id: str | None = None


def executable_files(maps_text: str) -> list[str]:
    """The files a ``/proc/PID/maps`` text maps executable, in address order, each once (a file
    deleted since keeps the kernel's " (deleted)" after its path)."""
    files: list[str] = []
    for line in maps_text.splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and "x" in parts[1] and parts[5].startswith("/") and parts[5] not in files:
            files.append(parts[5])
    return files
