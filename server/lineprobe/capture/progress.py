"""What a capture reports while it runs, and what the agent can do: the capture layer's own types,
so that front ends never hold wire messages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from lineprobe.system.live import SystemLiveReport
from lineprobe.tracepoints.records import TracepointLiveReport
from lineprobe.usdt.jvm_events import JvmLiveReport
from lineprobe.usdt.sites import LiveProbe

LiveReport = LiveProbe | JvmLiveReport | TracepointLiveReport | SystemLiveReport
"""What a running trace has seen so far (the kinds that show it live)."""


@dataclass(frozen=True)
class Progress:
    phase: Literal["compiling", "sampling", "collecting"]
    elapsed_s: float
    duration_s: float
    events: int
    """Events recorded so far (samples, calls, allocations)."""
    live: LiveReport | None = None
    """USDT counts and traces, JVM events: what was seen so far, about once a second."""


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class Capability:
    name: str
    available: bool
    detail: str


@dataclass(frozen=True)
class CapabilityReport:
    kernel_release: str
    capabilities: tuple[Capability, ...]
    works: tuple[str, ...]
    """What lineprobe can do with what is available, in words for the user."""
    missing: tuple[str, ...]
    """What it cannot do, and why."""

    def to_json(self) -> dict[str, object]:
        return {
            "kernel_release": self.kernel_release,
            "capabilities": [
                {"name": c.name, "available": c.available, "detail": c.detail} for c in self.capabilities
            ],
            "works": list(self.works),
            "missing": list(self.missing),
        }
