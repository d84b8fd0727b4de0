"""A tracepoint's records decoded with its tracefs format: integers by size and sign, fixed
``char`` arrays and ``__data_loc`` strings as text, other arrays as lists of numbers.

The agent sends each record's raw bytes and the format it read (tracefs is root's alone); every
field is read within the bytes the record has, and one that does not fit is left out rather
than read past them.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace

from lineprobe.model.capture import CaptureHeader, Timings

ARRAY = re.compile(r"\[(\d*)\]\s*$")


TRACEPOINT_TRACE_LIMITS = (
    "a record's dynamic data (__data_loc strings) past its first 512 bytes is cut",
    "in one process's trace, hits fired in other tasks on its behalf (the kernel's worker threads,"
    " interrupts) are not its own and are not seen",
    "the ftrace function and function_graph tracers are refused under this kernel's lockdown"
    " (lineprobe tracepoints functions says why and what replaces them)",
)
"""What a tracepoint trace cannot show on this kernel, and why."""


@dataclass(frozen=True)
class TracepointField:
    name: str
    declaration: str
    offset: int
    size: int
    signed: bool

    @property
    def common(self) -> bool:
        """``common_type``, ``common_pid``...: every record's header."""
        return self.name.startswith("common_")

    def value(self, data: bytes) -> int | str | list[int] | None:
        """This field of one record; None where the record is too short to hold it."""
        if self.offset + self.size > len(data):
            return None
        raw = data[self.offset : self.offset + self.size]
        if self.declaration.startswith("__data_loc") or self.declaration.startswith("__rel_loc"):
            where = int.from_bytes(raw[:4], "little")
            start, length = where & 0xFFFF, where >> 16
            if self.declaration.startswith("__rel_loc"):
                start += self.offset + self.size
            if start + length > len(data):
                return None
            return _text(data[start : start + length])
        array = ARRAY.search(self.declaration)  # "char prev_comm[16]", "unsigned long args[6]"
        if array is not None:
            base = self.declaration[: self.declaration.rfind(" ")].strip()
            if base in ("char", "const char"):
                return _text(raw)
            count = int(array.group(1)) if array.group(1) else 0
            width = self.size // count if count and self.size % count == 0 else 1
            return [_integer(raw[i : i + width], self.signed) for i in range(0, self.size, width)]
        if self.size in (1, 2, 4, 8):
            return _integer(raw, self.signed)
        return raw.hex()


def _integer(raw: bytes, signed: bool) -> int:
    return int.from_bytes(raw, "little", signed=signed)


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


@dataclass(frozen=True)
class TracepointLayout:
    name: str
    """``category:name``."""
    id: int
    fields: tuple[TracepointField, ...]

    @property
    def own_fields(self) -> tuple[TracepointField, ...]:
        """The tracepoint's fields, without the common header."""
        return tuple(f for f in self.fields if not f.common)

    def decode(self, data: bytes) -> dict[str, int | str | list[int] | None]:
        return {f.name: f.value(data) for f in self.own_fields}


@dataclass(frozen=True)
class TracepointEvent:
    at_s: float
    """Seconds since the tracepoint was attached."""
    tid: int
    cpu: int
    fields: dict[str, int | str | list[int] | None]


@dataclass
class TracepointTrace:
    header: CaptureHeader
    layout: TracepointLayout
    events: tuple[TracepointEvent, ...]
    hits: int
    """Every hit in the window: ``len(events) + rate_limited + ring_full + unreadable + dropped``."""
    rate_limited: int
    ring_full: int
    unreadable: int
    dropped: int
    warnings: list[str] = field(default_factory=list)
    limits: tuple[str, ...] = TRACEPOINT_TRACE_LIMITS
    timings: Timings = field(default_factory=Timings)


@dataclass(frozen=True)
class TracepointLiveReport:
    """What a running tracepoint trace has seen so far."""

    elapsed_s: float
    layout: TracepointLayout
    hits: int
    new_events: tuple[TracepointEvent, ...]
    not_shown: int


def resolve_tracepoint_trace(raw: TracepointTrace, launched: bool = False) -> TracepointTrace:
    """Nothing to symbolize: the warnings the counts call for, and the timings."""
    started = time.monotonic()
    warnings: list[str] = []
    if raw.rate_limited:
        warnings.append(f"{raw.rate_limited:,} hits over the rate limit were counted, not recorded")
    if raw.ring_full:
        warnings.append(f"{raw.ring_full:,} hits found the perf ring full (lineprobe read too slowly)")
    if raw.dropped:
        warnings.append(f"{raw.dropped:,} hits came after the most a trace keeps (--max-events)")
    if raw.unreadable:
        warnings.append(f"{raw.unreadable:,} records could not be copied")
    warnings.extend(raw.header.warnings("trace", launched))
    return replace(raw, warnings=warnings, timings=raw.header.timings.resolved_since(started))
