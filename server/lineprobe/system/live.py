"""A system view's running totals while it traces (disk bytes by process, time in file calls by
file, page-cache pages, interrupt time by vector): what the editor's live charts plot."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SystemLiveReport:
    elapsed_s: float
    unit: str
    """bytes, ns or pages."""
    totals: tuple[tuple[str, int], ...]
    """(name, total since the window opened), the largest first."""
