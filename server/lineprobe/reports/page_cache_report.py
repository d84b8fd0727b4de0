"""``lineprobe pagecache``: pages added to, removed from, dirtied in and written back from the
page cache, by process and file; or JSON."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lineprobe.system.page_cache import PageCacheActivity

COLUMNS = ("added", "removed", "dirtied", "written")


def page_cache_to_json(activity: PageCacheActivity) -> dict[str, Any]:
    h = activity.header
    return {
        "target": {"pid": h.pid, "exe": h.exe} if h.pid else "every task",
        "duration_s": h.duration_s,
        "totals": {column: activity.total(column) for column in COLUMNS},
        "files": [
            {
                "pid": f.pid,
                "comm": f.comm,
                "file": f.file,
                "path": f.path,
                "device": f.device,
                "inode": f.inode,
                "added": f.added,
                "removed": f.removed,
                "dirtied": f.dirtied,
                "written": f.written,
            }
            for f in activity.files
        ],
        "warnings": activity.warnings,
        "cannot_measure": list(activity.limits),
    }


def render_page_cache(activity: PageCacheActivity, console: Console, top: int = 20) -> None:
    h = activity.header
    where = f"{escape(h.comm)} (pid {h.pid}) and its files" if h.pid else "every task"
    totals = ", ".join(f"{activity.total(column):,} {column}" for column in COLUMNS)
    console.print(f"[bold]page cache[/] of {where} over {h.duration_s:.2f} s: {totals}", highlight=False)
    for warning in activity.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    table = Table(show_edge=False, title="by process and file (pages; dirtied: folios)")
    for column in ("pid", "comm", "file", *COLUMNS):
        table.add_column(column, justify="left" if column in ("comm", "file") else "right")
    for f in activity.files[:top]:
        table.add_row(
            str(f.pid),
            escape(f.comm),
            escape(f.file),
            *(f"{int(getattr(f, column)):,}" for column in COLUMNS),
        )
    console.print(table)
    for limit in activity.limits:
        console.print(f"[dim]not measured: {escape(limit)}[/]", highlight=False)
