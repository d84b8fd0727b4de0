"""``lineprobe irqs``: hard and soft interrupt time (hardirqs', softirqs' tables), or JSON."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lineprobe.system.irqs import Interrupts, InterruptTime


def _rows(entries: tuple[InterruptTime, ...]) -> list[dict[str, Any]]:
    return [
        {"name": e.name, "number": e.number, "count": e.count, "time_us": e.time_ns // 1000} for e in entries
    ]


def irqs_to_json(irqs: Interrupts) -> dict[str, Any]:
    return {
        "duration_s": irqs.header.duration_s,
        "hard": _rows(irqs.hard),
        "soft": _rows(irqs.soft),
        "warnings": irqs.warnings,
        "cannot_measure": list(irqs.limits),
    }


def render_irqs(irqs: Interrupts, console: Console) -> None:
    console.print(f"[bold]interrupts[/] over {irqs.header.duration_s:.2f} s, every CPU", highlight=False)
    for title, entries in (("hard IRQs (hardirqs)", irqs.hard), ("softirqs (softirqs)", irqs.soft)):
        table = Table(show_edge=False, title=title)
        for column in ("name", "count", "total us", "avg us"):
            table.add_column(column, justify="left" if column == "name" else "right")
        for e in entries:
            average = e.time_ns / e.count / 1000 if e.count else 0.0
            table.add_row(escape(e.name), f"{e.count:,}", f"{e.time_ns // 1000:,}", f"{average:.1f}")
        console.print(table)
    for limit in irqs.limits:
        console.print(f"[dim]not measured: {escape(limit)}[/]", highlight=False)
