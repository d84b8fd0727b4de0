"""``lineprobe files``: file I/O by process and file (filetop's table), by thread, latency
histograms by file and call, and the slow calls one by one (fileslower's lines); or JSON."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lineprobe.system.files import FileActivity, FileLatency, FileTotals

HISTOGRAM_BAR = 40
SHOWN_KINDS = frozenset({"file", "device"})
"""What the tables show without ``--all-files``: files, as filetop does (not sockets, pipes)."""


def _shown(activity: FileActivity, all_files: bool) -> list[FileTotals]:
    return [f for f in activity.files if all_files or f.kind in SHOWN_KINDS]


def _latency_json(histogram: FileLatency) -> dict[str, Any]:
    return {
        "pid": histogram.pid,
        "process": histogram.process,
        "file": histogram.file,
        "call": histogram.call,
        "calls": histogram.calls,
        "latency_us": [{"low": low, "high": high, "count": n} for low, high, n in histogram.rows()],
    }


def files_to_json(activity: FileActivity, all_files: bool = True) -> dict[str, Any]:
    h = activity.header
    return {
        "target": {"pid": h.pid, "exe": h.exe} if h.pid else "every task",
        "duration_s": h.duration_s,
        "calls": activity.calls,
        "files": [
            {
                "pid": f.pid,
                "process": f.process,
                "file": f.file,
                "kind": f.kind,
                "reads": f.reads,
                "read_bytes": f.read_bytes,
                "writes": f.writes,
                "write_bytes": f.write_bytes,
                "syncs": f.syncs,
                "errors": f.errors,
                "time_us": f.total_ns // 1000,
                "max_us": f.max_ns // 1000,
                "threads": f.threads,
            }
            for f in _shown(activity, all_files)
        ],
        "threads": [
            {
                "pid": t.pid,
                "tid": t.tid,
                "thread": t.thread,
                "file": t.file,
                "call": t.call,
                "calls": t.calls,
                "bytes": t.bytes,
                "errors": t.errors,
                "time_us": t.total_ns // 1000,
                "max_us": t.max_ns // 1000,
            }
            for t in sorted(activity.threads, key=lambda t: -t.total_ns)
        ],
        "latency": [_latency_json(h) for h in activity.latency],
        "slow_ms": activity.slow_ms,
        "slow": [
            {
                "offset_s": s.offset_s,
                "pid": s.pid,
                "tid": s.tid,
                "comm": s.comm,
                "file": s.file,
                "call": s.call,
                "latency_ms": round(s.latency_ns / 1e6, 3),
                "result": s.result,
            }
            for s in activity.slow
        ],
        "slow_calls": activity.slow_calls,
        "warnings": activity.warnings,
        "cannot_measure": list(activity.limits),
    }


def render_files(activity: FileActivity, console: Console, all_files: bool = False, top: int = 20) -> None:
    h = activity.header
    where = f"{escape(h.comm)} (pid {h.pid})" if h.pid else "every task"
    console.print(
        f"[bold]file I/O[/] of {where} over {h.duration_s:.2f} s:"
        f" {activity.calls:,} read, write and sync calls",
        highlight=False,
    )
    for warning in activity.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    shown = _shown(activity, all_files)
    table = Table(show_edge=False, title="by file (filetop), most time first")
    for column in (
        "pid",
        "process",
        "file",
        "reads",
        "read KiB",
        "writes",
        "write KiB",
        "syncs",
        "ms",
        "max ms",
    ):
        table.add_column(column, justify="left" if column in ("process", "file") else "right")
    for f in shown[:top]:
        table.add_row(
            str(f.pid),
            escape(f.process),
            escape(f.file),
            f"{f.reads:,}",
            f"{f.read_bytes / 1024:,.0f}",
            f"{f.writes:,}",
            f"{f.write_bytes / 1024:,.0f}",
            f"{f.syncs:,}",
            f"{f.total_ns / 1e6:,.1f}",
            f"{f.max_ns / 1e6:,.2f}",
        )
    console.print(table)
    if len(shown) > top:
        console.print(f"  ... {len(shown) - top} more files (--json has them all)")
    shown_files = {(f.pid, f.file) for f in shown}
    threads = [
        t for t in sorted(activity.threads, key=lambda t: -t.total_ns) if (t.pid, t.file) in shown_files
    ]
    if threads:
        by_thread = Table(show_edge=False, title="by thread (filetop's TID), most time first")
        for column in ("pid", "tid", "thread", "file", "call", "calls", "KiB", "ms"):
            by_thread.add_column(column, justify="left" if column in ("thread", "file", "call") else "right")
        for t in threads[:top]:
            by_thread.add_row(
                str(t.pid),
                str(t.tid),
                escape(t.thread),
                escape(t.file),
                t.call,
                f"{t.calls:,}",
                f"{t.bytes / 1024:,.0f}",
                f"{t.total_ns / 1e6:,.1f}",
            )
        console.print(by_thread)
    busiest = {(f.pid, f.file) for f in shown[:3]}
    for histogram in activity.latency:
        if (histogram.pid, histogram.file) not in busiest:
            continue
        console.print(
            f"[bold]{escape(histogram.file)}[/] {histogram.call}"
            f" ({escape(histogram.process)} {histogram.pid}): {histogram.calls:,} calls, latency (us):",
            highlight=False,
        )
        rows = histogram.rows()
        most = max((n for _, _, n in rows), default=0)
        for low, high, n in rows:
            bar = "*" * (round(HISTOGRAM_BAR * n / most) if most else 0)
            console.print(f"{low:>10,} -> {high:<10,} {n:>8,} |{bar}", highlight=False)
    if activity.slow:
        slow = Table(show_edge=False, title=f"calls slower than {activity.slow_ms:g} ms (fileslower)")
        for column in ("time s", "process", "pid", "tid", "call", "bytes", "ms", "file"):
            slow.add_column(column, justify="left" if column in ("process", "call", "file") else "right")
        for s in activity.slow[:top]:
            slow.add_row(
                f"{s.offset_s:.3f}",
                escape(s.comm),
                str(s.pid),
                str(s.tid),
                s.call,
                str(s.result),
                f"{s.latency_ns / 1e6:.2f}",
                escape(s.file),
            )
        console.print(slow)
    for limit in activity.limits:
        console.print(f"[dim]not measured: {escape(limit)}[/]", highlight=False)
