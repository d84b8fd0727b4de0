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


UNIT_RATES = {"bytes": (1 / 1024, "KiB/s"), "ns": (1e-6, "ms/s"), "pages": (1.0, "pages/s")}
"""How a rate of each unit is read: KiB a second, milliseconds of calls a second, pages a second."""


def live_rates(
    previous: SystemLiveReport | None, current: SystemLiveReport, top: int = 3
) -> list[tuple[str, float, str]]:
    """The largest rates between two reports (from zero at the window's start when there is no
    previous one): (name, value, unit), as filetop and biotop refresh their top lines."""
    since = previous.elapsed_s if previous is not None else 0.0
    interval = current.elapsed_s - since
    if interval <= 0:
        return []
    before = dict(previous.totals) if previous is not None else {}
    scale, unit = UNIT_RATES.get(current.unit, (1.0, f"{current.unit}/s"))
    rates = [
        (name, max(0, value - before.get(name, 0)) / interval * scale, unit) for name, value in current.totals
    ]
    rates.sort(key=lambda rate: -rate[1])
    return rates[:top]
