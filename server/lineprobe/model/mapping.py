"""One executable mapping of a traced process."""

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
