"""Interrupt time by hard IRQ and by softirq vector, as libbpf-tools' hardirqs and softirqs
report it: how often each ran and how long, machine-wide."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from lineprobe.model.capture import CaptureHeader, Timings

IRQ_LIMITS = (
    "time runs between the irq tracepoints around each handler: the kernel's entry and exit code"
    " around them, and NMIs, are not included",
)
"""What this view cannot measure on this kernel, and why."""


@dataclass(frozen=True)
class InterruptTime:
    name: str
    number: int
    count: int
    time_ns: int


@dataclass
class Interrupts:
    header: CaptureHeader
    hard: tuple[InterruptTime, ...]
    """Most time first."""
    soft: tuple[InterruptTime, ...]
    warnings: list[str] = field(default_factory=list)
    limits: tuple[str, ...] = IRQ_LIMITS
    timings: Timings = field(default_factory=Timings)


def resolve_interrupts(raw: Interrupts, launched: bool = False) -> Interrupts:
    started = time.monotonic()
    return replace(
        raw,
        warnings=raw.header.warnings("trace", launched),
        timings=raw.header.timings.resolved_since(started),
    )
