"""``lineprobe disk``: block I/O per process (biotop's table) and per device latency histograms
(biolatency -D's), or one JSON object (README.md)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lineprobe.system.disk import DiskActivity

HISTOGRAM_BAR = 40


def disk_to_json(activity: DiskActivity) -> dict[str, Any]:
    h = activity.header
    return {
        "target": {"pid": h.pid, "exe": h.exe} if h.pid else "every task",
        "duration_s": h.duration_s,
        "issued": activity.issued,
        "completed": activity.completed,
        "processes": [
            {
                "pid": p.pid,
                "comm": p.comm,
                "device": p.device,
                "op": p.op,
                "ios": p.ios,
                "bytes": p.bytes,
                "average_ms": round(p.average_ms, 3),
            }
            for p in activity.processes
        ],
        "devices": [
            {
                "device": d.device,
                "requests": d.requests,
                "latency_us": [{"low": low, "high": high, "count": n} for low, high, n in d.rows()],
            }
            for d in activity.devices
        ],
        "warnings": activity.warnings,
        "cannot_measure": list(activity.limits),
    }


def render_disk(activity: DiskActivity, console: Console, top: int = 20) -> None:
    h = activity.header
    where = f"{escape(h.comm)} (pid {h.pid})" if h.pid else "every task"
    console.print(
        f"[bold]block I/O[/] of {where} over {h.duration_s:.2f} s: {activity.completed:,} requests completed "
        f"of {activity.issued:,} issued",
        highlight=False,
    )
    for warning in activity.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    table = Table(show_edge=False, title="by process (biotop)")
    for column in ("pid", "comm", "disk", "op", "I/O", "KiB", "avg ms"):
        table.add_column(column, justify="left" if column in ("comm", "disk", "op") else "right")
    for p in activity.processes[:top]:
        table.add_row(
            str(p.pid),
            escape(p.comm),
            p.device,
            p.op,
            f"{p.ios:,}",
            f"{p.bytes / 1024:,.0f}",
            f"{p.average_ms:.2f}",
        )
    console.print(table)
    for device in activity.devices:
        console.print(
            f"[bold]{escape(device.device)}[/]: {device.requests:,} requests, latency (us):", highlight=False
        )
        rows = device.rows()
        most = max((n for _, _, n in rows), default=0)
        for low, high, n in rows:
            bar = "*" * (round(HISTOGRAM_BAR * n / most) if most else 0)
            console.print(f"{low:>10,} -> {high:<10,} {n:>8,} |{bar}", highlight=False)
    for limit in activity.limits:
        console.print(f"[dim]not measured: {escape(limit)}[/]", highlight=False)
