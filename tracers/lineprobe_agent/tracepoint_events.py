"""Kernel tracepoints as the workshop's lab 1 used them: listed with their formats, and one of
them traced with each hit's record (``bpf/tracepoint_events.bpf.c``), in one process or, for
root callers, in every task.

tracefs is root's alone (mode 0700), so the agent reads the formats and sends them; the server
decodes each record's fields with them. The records are taken by a BPF program attached for the
request, not by enabling the event in tracefs: nothing is left enabled when the trace ends, or
when the agent dies, since the kernel drops a program's attachment with its descriptors.
"""

from __future__ import annotations

import fnmatch
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lineprobe_agent.bpf_source import BPF_DIR, constant, program_text
from lineprobe_agent.bpf_tables import c_text, stat
from lineprobe_agent.bpf_tracer import BpfTracer
from lineprobe_agent.exemplar_buffer import ExemplarBuffer
from lineprobe_agent.protocol import (
    Mapping,
    TracepointField,
    TracepointFormat,
    TracepointGroup,
    TracepointLive,
    TracepointRecord,
    TracepointTraceCounters,
)
from lineprobe_agent.stack_counter import TRACEFS_EVENTS, UnknownTracepoint, tracepoint_format
from lineprobe_agent.target_gate import TargetGate

EVENTS = constant("TP_STAT_EVENTS")
LIMITED = constant("TP_STAT_LIMITED")
RING_FULL = constant("TP_STAT_RING_FULL")
UNREADABLE = constant("TP_STAT_UNREADABLE")
LOST = constant("TP_STAT_LOST")
KEY_TEXT = constant("TP_KEY_TEXT")
RECORD_BYTES = constant("TP_RECORD_BYTES")
RECORD_PAGES = 256
"""Perf ring per CPU (1 MiB): about 1,800 records of 576 bytes."""
LIVE_INTERVAL_S = 1.0
LIVE_RECORDS = 200
FIELD = re.compile(
    r"field:(?P<declaration>[^;]+);\s*offset:(?P<offset>\d+);\s*size:(?P<size>\d+);\s*signed:(?P<signed>\d)"
)
GATE_TRACEPOINTS = frozenset({"sched:sched_process_exec"})
"""What the target gate attaches in a process's trace: traced for the whole system only."""


def parse_format(name: str, text: str) -> TracepointFormat:
    """A tracefs ``format`` file: the tracepoint's id and its fields, common ones included."""
    identifier = re.search(r"^ID:\s*(\d+)", text, re.MULTILINE)
    fields = []
    for found in FIELD.finditer(text):
        declaration = found["declaration"].strip()
        # The name is the declaration's last word, after any array bound: "char prev_comm[16]",
        # "__data_loc char[] filename", "const char *name".
        field_name = re.sub(r"\[\d*\]\s*$", "", declaration).split()[-1].lstrip("*")
        fields.append(
            TracepointField(
                name=field_name,
                declaration=declaration,
                offset=int(found["offset"]),
                size=int(found["size"]),
                signed=found["signed"] == "1",
            )
        )
    return TracepointFormat(name, int(identifier.group(1)) if identifier else 0, fields)


def read_format(tracepoint: str) -> TracepointFormat:
    """``category:name``'s format; raises UnknownTracepoint when the kernel has no such one."""
    directory = tracepoint_format(tracepoint)
    try:
        return parse_format(tracepoint, (directory / "format").read_text(errors="replace"))
    except OSError as exc:
        raise UnknownTracepoint(f"cannot read the format of {tracepoint}: {exc.strerror}") from None


def list_tracepoints(pattern: str, roots: tuple[Path, ...] = TRACEFS_EVENTS) -> list[TracepointFormat]:
    """Every tracepoint whose ``category:name`` matches the glob ``pattern``, with its format."""
    root = next((r for r in roots if r.is_dir()), None)
    if root is None:
        raise UnknownTracepoint(f"tracefs is not mounted (none of {', '.join(str(r) for r in roots)})")
    found = []
    for category in sorted(p for p in root.iterdir() if p.is_dir()):
        for event in sorted(p for p in category.iterdir() if p.is_dir()):
            name = f"{category.name}:{event.name}"
            if not fnmatch.fnmatchcase(name, pattern):
                continue
            try:
                found.append(parse_format(name, (event / "format").read_text(errors="replace")))
            except OSError:
                continue  # an event folder without a readable format is no tracepoint to offer
    return found


@dataclass(frozen=True)
class CountedField:
    """The field hits are counted by, checked against the format."""

    field: TracepointField
    text: bool
    histogram: bool

    @classmethod
    def of(cls, layout: TracepointFormat, name: str, histogram: bool) -> CountedField:
        """Raises UnknownTracepoint, in words, for a field the format lacks or one that cannot be
        counted (a dynamic string, an array of numbers, a text when a histogram is asked)."""
        found = next((f for f in layout.fields if f.name == name), None)
        if found is None:
            names = ", ".join(f.name for f in layout.fields if not f.name.startswith("common_"))
            raise UnknownTracepoint(f"{layout.name} has no field {name!r} (its fields: {names})")
        declaration = found.declaration
        text = bool(re.match(r"(const )?char \S+\[\d+\]$", declaration)) and found.size <= KEY_TEXT
        integer = "[" not in declaration and found.size in (1, 2, 4, 8)
        if not (text or integer):
            raise UnknownTracepoint(
                f"{layout.name}'s field {declaration!r} cannot be counted: count an integer field, "
                f"or a char array of up to {KEY_TEXT} bytes"
            )
        if histogram and not integer:
            raise UnknownTracepoint(f"a histogram is of an integer field: {declaration!r} is text")
        return cls(found, text, histogram)

    def settings(self) -> dict[str, int]:
        return {
            "COUNT": 1,
            "FIELD_OFFSET": self.field.offset,
            "FIELD_SIZE": self.field.size,
            "FIELD_TEXT": 1 if self.text else 0,
            "FIELD_SIGNED": 1 if self.field.signed else 0,
            "HISTOGRAM": 1 if self.histogram else 0,
        }


class TracepointTracer(BpfTracer):
    """One tracepoint, one window: compiled for it, attached, collected, closed."""

    TABLES = ("counts",)

    def __init__(
        self,
        tracepoint: str,
        layout: TracepointFormat,
        system_wide: bool,
        rate_limit: int,
        keep: int,
        counted: CountedField | None = None,
    ) -> None:
        """With ``counted``, hits are counted by that field in the kernel and no record is sent."""
        from bcc import BPF

        fixed = max((f.offset + f.size for f in layout.fields), default=8)
        settings = {
            "SYSTEM_WIDE": 1 if system_wide else 0,
            "FIXED_BYTES": min(max(fixed, 1), RECORD_BYTES),
            "RATE_LIMIT": rate_limit,
            "COUNT": 0,
            "FIELD_OFFSET": 0,
            "FIELD_SIZE": 8,
            "FIELD_TEXT": 0,
            "FIELD_SIGNED": 0,
            "HISTOGRAM": 0,
        }
        if counted is not None:
            settings |= counted.settings()
        self.counted = counted
        cflags = [f"-I{BPF_DIR}", *(f"-D{name}={value}" for name, value in settings.items())]
        self._bpf: Any = BPF(text=program_text("tracepoint_events", {}).encode(), cflags=cflags)
        self._records: ExemplarBuffer[TracepointRecord] = ExemplarBuffer(
            self._bpf, self._record_of, RECORD_PAGES, table="records", keep=keep
        )
        self._exemplars = self._records
        self.gate = TargetGate(self._bpf)
        self.tracepoint = tracepoint
        self.layout = layout
        dynamic = any(f.declaration.startswith(("__data_loc", "__rel_loc")) for f in layout.fields)
        # Without dynamic strings a record is its fixed part: only that much is sent.
        self._kept_bytes = RECORD_BYTES if dynamic else settings["FIXED_BYTES"]
        self.system_wide = system_wide
        self.started_ns = 0
        self._attached = False
        self._live_at = 0.0

    def _record_of(self, event: Any) -> TracepointRecord:
        size = min(int(event.size), self._kept_bytes)
        return TracepointRecord(int(event.time_ns), int(event.tid), int(event.cpu), bytes(event.data)[:size])

    def start(self, pid: int | None) -> None:
        self.started_ns = time.monotonic_ns()
        if pid is None:
            self.gate.close()
        else:
            self.gate.attach()
            self.gate.open(pid)
        self._bpf.attach_tracepoint(tp=self.tracepoint.encode(), fn_name=b"on_event")
        self._attached = True

    def poll(self, timeout_s: float) -> None:
        self._bpf.perf_buffer_poll(timeout=max(int(timeout_s * 1000), 0))

    def tick(self) -> None:
        """Nothing between polls: records come through the ring."""

    def events_so_far(self) -> int:
        return stat(self._bpf, EVENTS)

    def live(self, mappings: list[Mapping]) -> TracepointLive | None:
        now = time.monotonic()
        if now - self._live_at < LIVE_INTERVAL_S:
            return None
        self._live_at = now
        shown, not_shown = self._records.unreported(LIVE_RECORDS)
        return TracepointLive(self.started_ns, self.layout, self.events_so_far(), shown, not_shown)

    def stop(self) -> None:
        if self._attached:
            self._attached = False
            self._bpf.detach_tracepoint(tp=self.tracepoint.encode())
        if not self.system_wide:
            self.gate.close()
            self.gate.detach()

    def collect_counts(self) -> tuple[list[TracepointGroup], int, int, int]:
        """The groups (most hits first), every hit, those not counted by value, and those whose
        field could not be read."""
        assert self.counted is not None
        text = self.counted.text
        groups = [
            TracepointGroup(
                int(count.value),
                c_text(key.text) if text else self._number(key.number),
            )
            for key, count in self._bpf["counts"].items()
        ]
        groups.sort(key=lambda g: -g.count)
        totals = stat(self._bpf, EVENTS), stat(self._bpf, LOST), stat(self._bpf, UNREADABLE)
        self._reset()
        return groups, *totals

    def _number(self, raw: int) -> int:
        """A key's integer as the field holds it: signed fields were sign-extended into 64 bits."""
        value = int(raw)
        assert self.counted is not None
        if self.counted.field.signed and not self.counted.histogram and value >= 1 << 63:
            value -= 1 << 64
        return value

    def collect(self) -> tuple[list[TracepointRecord], TracepointTraceCounters]:
        self.poll(0)  # what is still in the ring
        counters = TracepointTraceCounters(
            events=stat(self._bpf, EVENTS),
            rate_limited=stat(self._bpf, LIMITED),
            ring_full=stat(self._bpf, RING_FULL),
            unreadable=stat(self._bpf, UNREADABLE),
            dropped=self._records.dropped,
        )
        # Each CPU has its ring and they are read one after another: a process that moved between
        # CPUs has its records interleaved out of order (by a millisecond on a 2-CPU VM).
        records = sorted(self._records.records, key=lambda record: record.time_ns)
        self._reset()
        return records, counters
