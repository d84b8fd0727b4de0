"""User and system CPU time of a process over time, from /proc/PID/stat (what pidstat shows)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from lineprobe_agent.protocol import CpuSplit


def _read_times(pid: int) -> tuple[float, float] | None:
    """(user, system) CPU seconds of every thread of the process so far."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: fields start after the last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks  # utime, stime (fields 14, 15 of stat)


@dataclass
class CpuTimeSampler:
    pid: int
    splits: list[CpuSplit] = field(default_factory=list)
    _started: float = field(default_factory=time.monotonic)
    _last: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        times = _read_times(self.pid)
        if times is not None:
            self._last = (time.monotonic(), *times)

    def sample(self) -> None:
        times = _read_times(self.pid)
        now = time.monotonic()
        if times is None or self._last is None:
            return
        last_at, last_user, last_system = self._last
        if now - last_at < 0.05:
            return
        self.splits.append(
            CpuSplit(
                at_s=round(now - self._started, 3),
                interval_s=round(now - last_at, 3),
                user_s=round(times[0] - last_user, 3),
                system_s=round(times[1] - last_system, 3),
            )
        )
        self._last = (now, *times)
