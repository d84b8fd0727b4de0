"""``lineprobe tracepoints``: the kernel's tracepoints with their fields (what tplist and tracefs'
``format`` files show), and one tracepoint's records with their fields decoded, as a table for
people and JSON lines for scripts (README.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape

from lineprobe.tracepoints.counts import TracepointCounts
from lineprobe.tracepoints.records import TracepointEvent, TracepointField, TracepointLayout, TracepointTrace


def layouts_to_json(layouts: Sequence[TracepointLayout]) -> dict[str, Any]:
    return {
        "tracepoints": [
            {
                "name": layout.name,
                "id": layout.id,
                "fields": [
                    {
                        "name": f.name,
                        "declaration": f.declaration,
                        "offset": f.offset,
                        "size": f.size,
                        "signed": f.signed,
                    }
                    for f in layout.own_fields
                ],
            }
            for layout in layouts
        ]
    }


def _field_json(f: TracepointField) -> dict[str, Any]:
    return {
        "name": f.name,
        "declaration": f.declaration,
        "offset": f.offset,
        "size": f.size,
        "signed": f.signed,
    }


def render_layouts(layouts: Sequence[TracepointLayout], console: Console, verbose: bool) -> None:
    for layout in layouts:
        console.print(escape(layout.name), highlight=False)
        if verbose:
            for f in layout.own_fields:
                console.print(
                    f"    {escape(f.declaration)};  (offset {f.offset}, size {f.size})", highlight=False
                )
    console.print(f"{len(layouts)} tracepoint(s)", highlight=False)


def event_text(event: TracepointEvent) -> str:
    """``prev_comm=worker prev_pid=42 ...``, as tracefs' trace file words a record's fields."""
    return " ".join(f"{name}={_value(value)}" for name, value in event.fields.items())


def _value(value: object) -> str:
    if value is None:
        return "?"
    if isinstance(value, list):
        return "{" + ",".join(str(v) for v in value) + "}"
    return str(value)


def trace_to_json_lines(trace: TracepointTrace) -> list[dict[str, Any]]:
    """One object per record (``t``, ``tid``, ``cpu``, ``fields``), then a ``summary`` object."""
    lines: list[dict[str, Any]] = [
        {"t": round(e.at_s, 9), "tid": e.tid, "cpu": e.cpu, "fields": e.fields} for e in trace.events
    ]
    h = trace.header
    lines.append(
        {
            "summary": {
                "tracepoint": trace.layout.name,
                "target": {"pid": h.pid, "exe": h.exe} if h.pid else "every task",
                "duration_s": h.duration_s,
                "hits": trace.hits,
                "recorded": len(trace.events),
                "rate_limited": trace.rate_limited,
                "ring_full": trace.ring_full,
                "unreadable": trace.unreadable,
                "dropped": trace.dropped,
                "warnings": trace.warnings,
                "cannot_measure": list(trace.limits),
            }
        }
    )
    return lines


def render_trace(trace: TracepointTrace, console: Console, shown: int = 40) -> None:
    for event in trace.events[:shown]:
        console.print(
            f"{event.at_s:12.6f}  tid {event.tid:<7} cpu {event.cpu:<3} {escape(event_text(event))}",
            highlight=False,
        )
    if len(trace.events) > shown:
        console.print(f"... {len(trace.events) - shown:,} more recorded (--json prints every one)")
    h = trace.header
    where = f"{escape(h.comm)} (pid {h.pid})" if h.pid else "every task"
    console.print(
        f"[bold]{escape(trace.layout.name)}[/] in {where}: {trace.hits:,} hits in {h.duration_s:.2f} s, "
        f"{len(trace.events):,} recorded, {trace.rate_limited:,} over the rate limit, "
        f"{trace.ring_full:,} lost to a full ring, {trace.dropped:,} past --max-events",
        highlight=False,
    )
    for warning in trace.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    for limit in trace.limits:
        console.print(f"[dim]not measured: {escape(limit)}[/]", highlight=False)


HISTOGRAM_BAR = 40


def counts_to_json(counts: TracepointCounts) -> dict[str, Any]:
    h = counts.header
    return {
        "tracepoint": counts.tracepoint,
        "field": counts.by,
        "target": {"pid": h.pid, "exe": h.exe} if h.pid else "every task",
        "duration_s": h.duration_s,
        "events": counts.events,
        "lost": counts.lost,
        "unreadable": counts.unreadable,
        "groups": [
            {"count": g.count, "per_s": round(counts.rate(g.count), 1), "value": g.value}
            for g in counts.groups
        ],
        "histogram": [{"low": low, "high": high, "count": n} for low, high, n in counts.buckets()]
        if counts.histogram
        else None,
        "warnings": counts.warnings,
    }


def render_counts(counts: TracepointCounts, console: Console, top: int = 25) -> None:
    h = counts.header
    where = f"{escape(h.comm)} (pid {h.pid})" if h.pid else "every task"
    console.print(
        f"[bold]{escape(counts.tracepoint)}[/] in {where}: {counts.events:,} hits in {h.duration_s:.2f} s, "
        f"by {escape(counts.by)}",
        highlight=False,
    )
    for warning in counts.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    if counts.histogram:
        rows = counts.buckets()
        most = max((n for _, _, n in rows), default=0)
        for low, high, n in rows:
            bar = "#" * (round(HISTOGRAM_BAR * n / most) if most else 0)
            console.print(f"{low:>20,} .. {high:<20,} {n:>10,} |{bar}", highlight=False)
        return
    for group in counts.groups[:top]:
        console.print(f"{group.count:>12,}  {counts.rate(group.count):>10,.0f}/s  {escape(str(group.value))}")
    if len(counts.groups) > top:
        console.print(f"... and {len(counts.groups) - top} more values (--json lists them all)")
