"""The human report: top functions, then the hottest source files annotated per line.

Like ``perf annotate``, but for source lines: each sampled line shows its
self and total share of all samples, with a few lines of context around it.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from lineprobe.costs.model import CPU_SAMPLES, StackProfile
from lineprobe.costs.slices import threads_of, timeline

CONTEXT_LINES = 2
MAX_FILES = 3
MAX_FUNCTIONS = 15
MAX_THREADS = 12
TIMELINE_WIDTH = 60
SPARKS = " ▁▂▃▄▅▆▇█"


def _heat_style(percent: float) -> str:
    if percent >= 20:
        return "bold red"
    if percent >= 5:
        return "yellow"
    if percent > 0:
        return "green"
    return "dim"


def render_profile(profile: StackProfile, console: Console) -> None:
    h = profile.header
    cost = profile.cost
    rate = f" at {profile.rate_hz} Hz" if profile.rate_hz else ""
    what = cost.format(profile.total) + (f" of {escape(cost.event)}" if cost != CPU_SAMPLES else "")
    target = f"[bold]{escape(h.comm)}[/] (pid {h.pid}, {escape(h.exe)})" if h.pid else "[bold]every task[/]"
    console.print(f"{target}: {what} in {h.duration_s:.2f} s{rate}, {profile.lost} lost")
    if profile.selection:
        console.print(f"  [bold]showing[/] {escape(profile.selection)}", highlight=False)
    if len(profile.columns) > 1:  # the other columns' totals: off-CPU time's reasons, a leak's blocks
        beside = ", ".join(
            f"{escape(column.event)} {column.format(total)} ({profile.share(total):.1f}%)"
            if column.unit is cost.unit
            else f"{escape(column.event)} {column.format(total)}"
            for column, total in zip(profile.columns[1:], profile.totals[1:], strict=True)
        )
        console.print(f"  {beside}", highlight=False)
    for warning in profile.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    if profile.total == 0:
        if cost == CPU_SAMPLES:
            console.print("No samples: the process did not run on a CPU while it was sampled.")
        else:
            console.print(f"No hits: {escape(cost.event)} did not fire for the target while it was traced.")
        return

    table = Table(title="Top functions", title_justify="left", show_edge=False)
    table.add_column("self %", justify="right")
    table.add_column("total %", justify="right")
    table.add_column("function")
    table.add_column("where")
    for stat in profile.functions[:MAX_FUNCTIONS]:
        self_pct = profile.share(stat.self_cost)
        where = f"{stat.path}:{stat.line}" if stat.path else stat.binary
        name = stat.function + (" [inlined]" if stat.inlined else "")
        table.add_row(
            Text(f"{self_pct:.1f}", style=_heat_style(self_pct)),
            f"{profile.share(stat.total_cost):.1f}",
            Text(name),
            Text(where),
        )
    console.print(table)
    _render_threads(profile, console)

    for path in profile.source_paths()[:MAX_FILES]:
        _render_file(profile, path, console)
    for limit in profile.limits:
        console.print(f"[dim]not measured: {escape(limit)}[/]", highlight=False)


def _render_threads(profile: StackProfile, console: Console) -> None:
    """Threads and their share, each with a line of its samples over time (when more than one
    thread ran, or time was kept): which thread was busy, and when."""
    threads = threads_of(profile)
    rows = {row.tid: row.costs for row in timeline(profile)}
    if len(threads) < 2 and not rows:
        return
    table = Table(title="Threads", title_justify="left", show_edge=False)
    table.add_column("%", justify="right")
    table.add_column("tid", justify="right")
    table.add_column("name")
    if rows:
        width_s = profile.time_bucket_ns / 1e9
        span = max(len(costs) for costs in rows.values()) * width_s
        table.add_column(f"over time (0 to {span:.1f} s)")
    for thread in threads[:MAX_THREADS]:
        share = profile.share(thread.cost)
        cells: list[Text | str] = [
            Text(f"{share:.1f}", style=_heat_style(share)),
            str(thread.tid),
            Text(thread.name),
        ]
        if rows:
            cells.append(Text(_sparkline(rows.get(thread.tid, []), TIMELINE_WIDTH), style="cyan"))
        table.add_row(*cells)
    console.print()
    console.print(table)
    if len(threads) > MAX_THREADS:
        console.print(f"[dim]... and {len(threads) - MAX_THREADS} more threads (--json lists every one)[/]")


def _sparkline(costs: list[int], width: int) -> str:
    """``costs`` in ``width`` characters at most (buckets summed in groups), as bar heights."""
    if not costs:
        return ""
    group = max(1, -(-len(costs) // width))
    sums = [sum(costs[i : i + group]) for i in range(0, len(costs), group)]
    top = max(sums) or 1
    return "".join(SPARKS[0 if v == 0 else max(1, round(v * (len(SPARKS) - 1) / top))] for v in sums)


def _render_file(profile: StackProfile, path: str, console: Console) -> None:
    stats = {s.line: s for s in profile.lines_in(path)}
    console.print()
    console.rule(f"[bold]{escape(path)}", align="left")
    try:
        source = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        console.print(f"[yellow]source not readable ({escape(str(exc.strerror))}); per-line counts:[/]")
        for line, line_stat in sorted(stats.items()):
            console.print(f"  line {line}: self {profile.share(line_stat.self_cost):.1f}%")
        return
    shown: set[int] = set()
    for line in stats:
        shown.update(range(max(1, line - CONTEXT_LINES), min(len(source), line + CONTEXT_LINES) + 1))
    previous = 0
    console.print(Text(f"{'self %':>7} {'total %':>7} {'line':>5}  source", style="bold"))
    for number in sorted(shown):
        if previous and number != previous + 1:
            console.print(Text(f"{'':>7} {'':>7} {'...':>5}", style="dim"))
        previous = number
        text = source[number - 1] if number - 1 < len(source) else ""
        sampled = stats.get(number)
        if sampled is None:
            console.print(Text(f"{'':>7} {'':>7} {number:>5}  {text}", style="dim"))
            continue
        self_pct = profile.share(sampled.self_cost)
        total_pct = profile.share(sampled.total_cost)
        row = Text()
        row.append(f"{self_pct:>7.1f} ", style=_heat_style(self_pct))
        row.append(f"{total_pct:>7.1f} ")
        row.append(f"{number:>5}  ")
        row.append(text, style=_heat_style(self_pct))
        console.print(row)
