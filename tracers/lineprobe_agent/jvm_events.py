"""HotSpot's garbage collections and class loads in one JVM (``bpf/jvm_events.bpf.c``), from the
standard probes of libjvm.so: gc__begin/gc__end give each pause's start, length and kind,
class__loaded each class's name. No -XX flag is needed (unlike the method probes).

Compiled for each request, as the probe counters are: bcc writes the argument readers from the
notes of the libjvm.so the JVM maps (its USDT context).
"""

from __future__ import annotations

from typing import Any

from lineprobe_agent.bpf_source import constant, program_text
from lineprobe_agent.bpf_tables import c_text, stat
from lineprobe_agent.exemplar_buffer import ExemplarBuffer
from lineprobe_agent.protocol import ClassLoad, GcPause, JvmEventCounters, JvmLive, Mapping
from lineprobe_agent.usdt_program import UsdtProgram, usdt_context

GCS = constant("JE_STAT_GCS")
CLASSES = constant("JE_STAT_CLASSES")
UNMATCHED = constant("JE_STAT_UNMATCHED")
TRUNCATED = constant("JE_STAT_TRUNCATED")
RING_FULL = constant("JE_STAT_RING_FULL")
KIND_GC = constant("JE_KIND_GC")
EVENT_BUFFER_PAGES = 256
"""Perf ring per CPU (1 MiB): a JVM's start loads a few thousand classes in a second."""
LIVE_EVENTS = 50
"""Pauses, and classes, per live report."""
PROBES = (
    ("hotspot:gc__begin", "on_gc_begin"),
    ("hotspot:gc__end", "on_gc_end"),
    ("hotspot:class__loaded", "on_class_loaded"),
)
"""The probes and the program's function for each."""

Event = GcPause | ClassLoad


class JvmEventTracer(UsdtProgram):
    """One JVM, one window: compiled for it, attached, collected, closed."""

    def __init__(self, pid: int, max_events: int) -> None:
        super().__init__(program_text("jvm_events", {}), {}, usdt_context(pid, None, list(PROBES)))
        self._events: ExemplarBuffer[Event] = ExemplarBuffer(
            self._bpf, self._event_of, EVENT_BUFFER_PAGES, table="events", keep=max_events
        )
        self._exemplars = self._events

    def _event_of(self, event: Any) -> Event:
        if int(event.kind) == KIND_GC:
            return GcPause(int(event.time_ns), int(event.duration_ns), bool(event.full), int(event.tid))
        name = c_text(event.name)
        return ClassLoad(int(event.time_ns), name)

    def events_so_far(self) -> int:
        return stat(self._bpf, GCS) + stat(self._bpf, CLASSES)

    def live(self, mappings: list[Mapping]) -> JvmLive | None:
        """What was seen so far, at most once a second (None between)."""
        if not self.live_due():
            return None
        fresh, _ = self._events.unreported(len(self._events.records))
        gcs = [e for e in fresh if isinstance(e, GcPause)][:LIVE_EVENTS]
        classes = [e for e in fresh if isinstance(e, ClassLoad)][:LIVE_EVENTS]
        return JvmLive(self.started_ns, stat(self._bpf, GCS), stat(self._bpf, CLASSES), gcs, classes)

    def collect(self) -> tuple[list[GcPause], list[ClassLoad], JvmEventCounters]:
        self.poll(0)  # what is still in the ring
        records = list(self._events.records)
        counters = JvmEventCounters(
            gcs=stat(self._bpf, GCS),
            classes_loaded=stat(self._bpf, CLASSES),
            unmatched_gc_ends=stat(self._bpf, UNMATCHED),
            truncated=stat(self._bpf, TRUNCATED),
            ring_full=stat(self._bpf, RING_FULL),
            dropped=self._events.dropped,
        )
        self._reset()
        gcs = [e for e in records if isinstance(e, GcPause)]
        classes = [e for e in records if isinstance(e, ClassLoad)]
        return gcs, classes, counters
