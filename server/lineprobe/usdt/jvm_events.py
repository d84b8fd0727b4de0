"""HotSpot's garbage collections and class loads in one JVM, as the domain sees them: each GC
pause with its start, length and kind, each loaded class by name, every event not kept counted.

The JVM fires these probes whatever its flags (``gc__begin``, ``gc__end``, ``class__loaded``);
the pauses are the collections' own (gc__begin to gc__end on the VM thread), which is what a
user sees as a stall.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from lineprobe.model.capture import CaptureHeader, Timings


@dataclass(frozen=True)
class GcPauseRecord:
    at_s: float
    """Seconds since the probes were armed."""
    duration_s: float
    full: bool
    tid: int


@dataclass(frozen=True)
class ClassLoadRecord:
    at_s: float
    name: str
    """As HotSpot names it (``java/lang/String``)."""

    @property
    def java_name(self) -> str:
        """As Java names it (``java.lang.String``; a hidden class ``Name/0x7f69...``, whose
        suffix HotSpot writes with a ``+`` inside)."""
        dotted = self.name.replace("/", ".")
        base, hidden, address = dotted.rpartition("+0x")
        return f"{base}/0x{address}" if hidden else dotted


@dataclass
class JvmEvents:
    header: CaptureHeader
    gcs: tuple[GcPauseRecord, ...]
    classes: tuple[ClassLoadRecord, ...]
    gc_count: int
    """Pauses that began and ended while tracing (``gcs`` holds those kept)."""
    classes_loaded: int
    unmatched_gc_ends: int
    truncated: int
    ring_full: int
    dropped: int
    warnings: list[str] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)

    @property
    def pause_s(self) -> float:
        """The kept pauses' total."""
        return sum(gc.duration_s for gc in self.gcs)

    @property
    def longest(self) -> GcPauseRecord | None:
        return max(self.gcs, key=lambda gc: gc.duration_s, default=None)


@dataclass(frozen=True)
class JvmLiveReport:
    """What a running JVM-events trace has seen so far."""

    elapsed_s: float
    gc_count: int
    classes_loaded: int
    new_gcs: tuple[GcPauseRecord, ...]
    """Pauses since the last report."""
    new_classes: tuple[ClassLoadRecord, ...]
    """Classes since the last report (at most as many as the agent sends)."""


def resolve_jvm_events(raw: JvmEvents, launched: bool = False) -> JvmEvents:
    """Nothing to symbolize: the warnings the counts call for, and the timings."""
    started = time.monotonic()
    warnings: list[str] = []
    if raw.unmatched_gc_ends:
        warnings.append(f"{raw.unmatched_gc_ends} GC pause(s) under way when tracing began were left out")
    if raw.ring_full:
        warnings.append(f"{raw.ring_full:,} events found the perf ring full (counted, not kept)")
    if raw.dropped:
        warnings.append(f"{raw.dropped:,} events came after the most a trace keeps (--max-events)")
    if raw.truncated:
        warnings.append(f"{raw.truncated:,} class names longer than 127 bytes were cut")
    warnings.extend(raw.header.warnings("trace", launched))
    return replace(raw, warnings=warnings, timings=raw.header.timings.resolved_since(started))
