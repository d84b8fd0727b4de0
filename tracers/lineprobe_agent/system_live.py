"""Running totals of the system views (disk, files, page cache, interrupts) while they trace,
for the editor's live charts: read from the programs' maps about once a second."""

from __future__ import annotations

import time
from collections.abc import Iterable

from lineprobe_agent.protocol import SystemLive, SystemTotal

LIVE_INTERVAL_S = 1.0
LIVE_SERIES = 8
"""Totals sent per report: the largest (a chart of more lines is unreadable)."""


class LiveTotals:
    """When the next report is due, and the report itself."""

    def __init__(self, unit: str) -> None:
        self.unit = unit
        self._last = 0.0

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last < LIVE_INTERVAL_S:
            return False
        self._last = now
        return True

    def report(self, totals: Iterable[tuple[str, int]]) -> SystemLive:
        """The largest totals, summing entries of the same name."""
        summed: dict[str, int] = {}
        for name, value in totals:
            summed[name] = summed.get(name, 0) + value
        largest = sorted(summed.items(), key=lambda item: -item[1])[:LIVE_SERIES]
        return SystemLive(self.unit, [SystemTotal(name, value) for name, value in largest])

    def reset(self) -> None:
        self._last = 0.0
