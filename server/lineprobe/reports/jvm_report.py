"""``lineprobe usdt jvm``: a JVM's GC pauses and class loads, as a table for people and one JSON
object for scripts (README.md)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lineprobe.usdt.jvm_events import GcPauseRecord, JvmEvents


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def pause_summary(gcs: tuple[GcPauseRecord, ...]) -> dict[str, float]:
    """The kept pauses in milliseconds: total, median, 99th percentile, longest."""
    lengths = sorted(gc.duration_s * 1000 for gc in gcs)
    return {
        "total_ms": round(sum(lengths), 3),
        "p50_ms": round(_percentile(lengths, 0.5), 3),
        "p99_ms": round(_percentile(lengths, 0.99), 3),
        "max_ms": round(lengths[-1], 3) if lengths else 0.0,
    }


def jvm_events_to_json(events: JvmEvents) -> dict[str, Any]:
    h = events.header
    return {
        "target": {"pid": h.pid, "exe": h.exe},
        "duration_s": h.duration_s,
        "gc_count": events.gc_count,
        "classes_loaded": events.classes_loaded,
        "pauses": pause_summary(events.gcs),
        "gcs": [
            {
                "t": round(gc.at_s, 6),
                "duration_ms": round(gc.duration_s * 1000, 3),
                "full": gc.full,
                "tid": gc.tid,
            }
            for gc in events.gcs
        ],
        "classes": [{"t": round(c.at_s, 6), "name": c.java_name} for c in events.classes],
        "unmatched_gc_ends": events.unmatched_gc_ends,
        "truncated": events.truncated,
        "ring_full": events.ring_full,
        "dropped": events.dropped,
        "target_exited": h.target_exited,
        "warnings": events.warnings,
    }


def render_jvm_events(events: JvmEvents, console: Console, shown: int = 20) -> None:
    h = events.header
    pauses = pause_summary(events.gcs)
    console.print(
        f"[bold]{escape(h.comm)}[/] (pid {h.pid}) over {h.duration_s:.2f} s: {events.gc_count:,} GC pauses, "
        f"{pauses['total_ms']:,.1f} ms in all (median {pauses['p50_ms']:.2f} ms, longest "
        f"{pauses['max_ms']:.2f} ms); {events.classes_loaded:,} classes loaded",
        highlight=False,
    )
    for warning in events.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    if events.gcs:
        table = Table(show_edge=False, title="longest GC pauses")
        table.add_column("at (s)", justify="right")
        table.add_column("pause (ms)", justify="right")
        table.add_column("kind")
        table.add_column("tid", justify="right")
        for gc in sorted(events.gcs, key=lambda g: -g.duration_s)[:shown]:
            kind = "full" if gc.full else "young/mixed"
            table.add_row(f"{gc.at_s:.3f}", f"{gc.duration_s * 1000:.3f}", kind, str(gc.tid))
        console.print(table)
    if events.classes:
        console.print(f"[bold]classes loaded[/] (first {min(shown, len(events.classes))}):")
        for loaded in events.classes[:shown]:
            console.print(f"  {loaded.at_s:9.3f}  {escape(loaded.java_name)}", highlight=False)
