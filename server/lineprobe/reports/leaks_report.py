"""Reports of a leak trace: the ``--json`` object and the terminal view."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lineprobe.leaks.model import LeakTrace
from lineprobe.symbolization.frame import FrameKind


def size_text(value: float) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.0f} B"


def leaks_to_json(trace: LeakTrace) -> dict[str, Any]:
    return {
        "target": {"pid": trace.header.pid, "exe": trace.header.exe},
        "duration_s": trace.header.duration_s,
        "target_exited": trace.header.target_exited,
        "sites": [
            {
                "site": (
                    {"path": s.site.path, "line": s.site.line, "function": s.site.function}
                    if s.site
                    else None
                ),
                "outstanding_bytes": round(s.outstanding_bytes),
                "outstanding_count": round(s.outstanding_count),
                "allocations": round(s.allocations),
                "oldest_age_s": s.oldest_age_s,
                "growth_bytes_per_s": round(s.growth_bytes_per_s, 1),
                "suspect": s.suspect,
                "verdict": s.verdict,
                "history": [{"at_s": at, "bytes": round(b)} for at, b in s.history],
                "stack": [
                    {
                        "function": f.function,
                        "path": f.path,
                        "line": f.line,
                        "binary": f.binary,
                        "inlined": f.kind is FrameKind.INLINED,
                    }
                    for f in s.stack
                ],
            }
            for s in trace.sites
        ],
        "sampling": {**trace.sampling, "estimated": trace.estimated},
        "lost": trace.lost,
        "warnings": trace.warnings,
        "timings": {
            "agent_start_s": trace.timings.agent_start_s,
            "compile_s": trace.timings.compile_s,
            "attach_s": trace.timings.attach_s,
            "sampling_s": trace.timings.sampling_s,
            "resolution_s": round(trace.timings.resolution_s, 4),
        },
    }


def render_leaks(trace: LeakTrace, console: Console) -> None:
    share = trace.sampling.get("tracked_share", 1.0)
    console.print(
        f"[bold]{escape(trace.header.comm)}[/] (pid {trace.header.pid}, {escape(trace.header.exe)}): "
        "heap allocations over "
        f"{trace.header.duration_s:.2f} s, tracked {100 * share:.0f}% of the time"
        + (" (figures estimated)" if trace.estimated else "")
    )
    for warning in trace.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    table = Table(title="Outstanding allocations by site", title_justify="left", show_edge=False)
    for column in ("", "outstanding", "blocks", "growth/s", "oldest", "site"):
        table.add_column(column)
    for s in trace.sites[:20]:
        if s.outstanding_count <= 0 and not s.suspect:
            continue
        where = f"{s.site.location} in {s.site.function}" if s.site else "(no user frame)"
        table.add_row(
            {"suspect": "[red]suspect[/]", "held": "held"}.get(s.verdict, ""),
            size_text(s.outstanding_bytes),
            f"{s.outstanding_count:,.0f}",
            size_text(s.growth_bytes_per_s),
            f"{s.oldest_age_s:.1f} s" if s.oldest_age_s is not None else "",
            escape(where),
        )
    console.print(table)
