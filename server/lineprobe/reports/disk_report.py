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
                "interval": d.interval,
                "requests": d.requests,
                "latency_us": [{"low": low, "high": high, "count": n} for low, high, n in d.rows()],
            }
            for d in activity.devices
        ],
        "interval_s": activity.interval_s,
        "requests": [
            {
                "offset_s": r.offset_s,
                "pid": r.pid,
                "comm": r.comm,
                "device": r.device,
                "op": r.op,
                "sector": r.sector,
                "bytes": r.bytes,
                "latency_ms": round(r.latency_ns / 1e6, 3),
            }
            for r in activity.requests
        ],
        "warnings": activity.warnings,
        "cannot_measure": list(activity.limits),
    }


def render_disk(activity: DiskActivity, console: Console, top: int = 20, requests: int = 0) -> None:
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
    if requests:
        render_requests(activity, console, requests)
    for device in activity.devices:
        when = (
            f" {device.interval * activity.interval_s:g}-{(device.interval + 1) * activity.interval_s:g} s"
            if activity.interval_s
            else ""
        )
        console.print(
            f"[bold]{escape(device.device)}[/]{when}: {device.requests:,} requests, latency (us):",
            highlight=False,
        )
        rows = device.rows()
        most = max((n for _, _, n in rows), default=0)
        for low, high, n in rows:
            bar = "*" * (round(HISTOGRAM_BAR * n / most) if most else 0)
            console.print(f"{low:>10,} -> {high:<10,} {n:>8,} |{bar}", highlight=False)
    for limit in activity.limits:
        console.print(f"[dim]not measured: {escape(limit)}[/]", highlight=False)


def render_requests(activity: DiskActivity, console: Console, shown: int) -> None:
    """The last ``shown`` completed requests one by one, as biosnoop prints them."""
    table = Table(show_edge=False, title=f"requests one by one (biosnoop), the last {shown}")
    for column in ("time s", "comm", "pid", "disk", "op", "sector", "bytes", "lat ms"):
        table.add_column(column, justify="left" if column in ("comm", "disk", "op") else "right")
    for r in activity.requests[-shown:]:
        table.add_row(
            f"{r.offset_s:.6f}",
            escape(r.comm),
            str(r.pid),
            r.device,
            r.op,
            str(r.sector),
            str(r.bytes),
            f"{r.latency_ns / 1e6:.3f}",
        )
    console.print(table)
