"""The tracing window: how long a tracer runs and what wakes it up."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from lineprobe_agent import protocol


class WindowTracer(Protocol):
    """What a tracer offers the agent's loop while it runs."""

    def poll(self, timeout_s: float) -> None:
        """Deliver pending perf-buffer events, waiting up to ``timeout_s``."""

    def tick(self) -> None:
        """Periodic user-space work (naming file descriptors, CPU splits)."""

    def events_so_far(self) -> int: ...

    def live(self, mappings: list[protocol.Mapping]) -> protocol.LiveReport | None:
        """What the trace has seen so far, for the caller to show while it runs (None: nothing
        to show now, or a kind that shows only its result)."""

    def stop(self) -> None: ...


def sampling_loop(
    duration_s: float,
    wait: Callable[[float], bool],
    tick: Callable[[float], None],
    interval_s: float = 0.25,
) -> tuple[float, bool]:
    """Run until the duration ends or ``wait`` reports an end (exit or stop).

    ``tick`` runs every ``interval_s``. Returns (seconds elapsed, ended early).
    """
    started = time.monotonic()
    next_tick = started + interval_s
    while True:
        now = time.monotonic()
        remaining = duration_s - (now - started)
        if remaining <= 0:
            return now - started, False
        if wait(max(min(next_tick - now, remaining), 0.0)):
            return time.monotonic() - started, True
        now = time.monotonic()
        if now >= next_tick:
            next_tick = now + interval_s
            tick(now - started)
