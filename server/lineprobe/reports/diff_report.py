"""``lineprobe diff``: two CPU captures compared, as the biggest movers for people and one JSON
object for scripts (README.md).

The terminal report leads with what each capture was and how its CPU time changed, then the
lines and the functions that got colder and hotter, each with its cost before → after and the
change, biggest first. A change within twice its sampling error is shown dim: the sampler's
luck could have made it (``costs.diff``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from lineprobe.costs.diff import (
    CaptureSide,
    CostChange,
    CostSide,
    FunctionChange,
    LineChange,
    Normalisation,
    ProfileDiff,
)

MOVERS = 10
"""Lines and functions per table when no ``--limit`` is given."""
SOURCE_WIDTH = 60


def diff_to_json(diff: ProfileDiff, limit: int | None = None) -> dict[str, Any]:
    """The ``--json`` shape: every line and function that moved (the first ``limit`` of each,
    biggest change of self cost first), costs in ``unit`` (CPU seconds, or CPU seconds per
    second of capture), samples and shares beside them."""
    return {
        "normalisation": diff.normalisation.value,
        "unit": diff.normalisation.unit,
        "before": _capture_json(diff.before),
        "after": _capture_json(diff.after),
        "total": {
            "before": _round(diff.before.cost),
            "after": _round(diff.after.cost),
            "delta": _round(diff.total_delta),
        },
        "rebuilt_sources": list(diff.rebuilt_sources),
        "moved_sources": list(diff.moved_sources),
        "warnings": list(diff.warnings),
        "lines": [
            {
                "path": change.path,
                "line": change.line,
                "function": change.function,
                "inlined": change.inlined,
                **_change_json(change),
            }
            for change in diff.lines[:limit]
        ],
        "functions": [
            {
                "function": change.function,
                "path": change.path,
                "line": change.line,
                "binary": change.binary,
                "inlined": change.inlined,
                **_change_json(change),
            }
            for change in diff.functions[:limit]
        ],
    }


def _round(value: float) -> float:
    return round(value, 6)


def _capture_json(side: CaptureSide) -> dict[str, Any]:
    return {
        "target": {"pid": side.pid, "exe": side.exe, "comm": side.comm},
        "samples": side.samples,
        "lost": side.lost,
        "frequency": side.rate_hz,
        "duration_s": side.duration_s,
        "target_exited": side.ran_to_exit,
        "cpu_s": _round(side.cpu_s),
        "cost": _round(side.cost),
        "build_ids": side.build_ids,
    }


def _side_json(side: CostSide) -> dict[str, Any]:
    return {
        "self_samples": side.self_samples,
        "total_samples": side.total_samples,
        "self": _round(side.self_cost),
        "total": _round(side.total_cost),
        "self_percent": round(side.self_share, 2),
        "total_percent": round(side.total_share, 2),
    }


def _change_json(change: CostChange) -> dict[str, Any]:
    return {
        "before": _side_json(change.before),
        "after": _side_json(change.after),
        "delta": {
            "self": _round(change.self_delta),
            "total": _round(change.total_delta),
            "self_percent": round(change.self_share_delta, 2),
            "total_percent": round(change.total_share_delta, 2),
        },
        "sampling_error": _round(change.sampling_error),
        "within_noise": change.within_noise,
        "build": change.build.value,
        "source_moved": change.source_moved,
    }


def render_diff(diff: ProfileDiff, console: Console, limit: int | None = None) -> None:
    """The biggest movers, colder then hotter, lines then functions (``limit`` of each)."""
    shown = limit or MOVERS
    unit = diff.normalisation
    for name, side in (("before", diff.before), ("after", diff.after)):
        console.print(f"[bold]{name:<6}[/] {_describe(side, unit)}", highlight=False)
    change = _percent_change(diff.before.cost, diff.after.cost)
    what = "CPU time" if unit is Normalisation.CPU_TIME else "CPU time per second of capture"
    console.print(
        f"{what}: {unit.format_cost(diff.before.cost)} → {unit.format_cost(diff.after.cost)}: "
        f"[bold]{unit.format_cost(diff.total_delta, signed=True)}[/]{change}",
        highlight=False,
    )
    for path in diff.rebuilt_sources:
        console.print(
            f"[dim]rebuilt: {escape(path)} ran from binaries with other build ids: its lines ran other "
            "machine code[/]",
            highlight=False,
        )
    for warning in diff.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    tables: tuple[tuple[str, list[LineChange]], ...] = (
        ("Colder lines", diff.colder_lines()),
        ("Hotter lines", diff.hotter_lines()),
    )
    for title, lines in tables:
        if lines:
            console.print()
            console.print(_line_table(title, lines[:shown], unit))
    function_tables: tuple[tuple[str, list[FunctionChange]], ...] = (
        ("Colder functions", diff.colder_functions()),
        ("Hotter functions", diff.hotter_functions()),
    )
    for title, functions in function_tables:
        if functions:
            console.print()
            console.print(_function_table(title, functions[:shown], unit))
    if not diff.lines and not diff.functions:
        console.print("No samples in either capture: nothing to compare.")
    console.print(
        "[dim]dim: a change within twice its sampling error; moved?: the source changed after a "
        "build, the line may name other code in the other capture[/]",
        highlight=False,
    )


def _describe(side: CaptureSide, unit: Normalisation) -> str:
    ended = "to its exit" if side.ran_to_exit else "a window of a running process"
    cost = f"{Normalisation.CPU_TIME.format_cost(side.cpu_s)} of CPU"
    if unit is Normalisation.PER_SECOND:
        cost += f" ({unit.format_cost(side.cost)})"
    return (
        f"[bold]{escape(side.comm)}[/] (pid {side.pid}, {escape(side.exe)}): {cost}, "
        f"{side.samples:,} samples at {side.rate_hz} Hz in {side.duration_s:.2f} s, {ended}"
    )


def _percent_change(before: float, after: float) -> str:
    return f" ({100 * (after - before) / before:+.1f}%)" if before else ""


def _number(value: float, signed: bool = False) -> str:
    """A cost in a table, whose header gives the unit: three decimals (milliseconds of CPU)."""
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _table(title: str, unit: Normalisation, totals: bool) -> Table:
    symbol = f"CPU {unit.unit}"
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    table.add_column(f"Δ self {symbol}", justify="right")
    table.add_column("self: before → after", justify="right")
    if totals:
        table.add_column("total: before → after", justify="right")
    table.add_column("self %", justify="right")
    return table


def _cells(change: CostChange, totals: bool) -> list[Text]:
    style = "dim" if change.within_noise else ("green" if change.self_delta < 0 else "red")
    cells = [
        Text(_number(change.self_delta, signed=True), style=style),
        Text(f"{_number(change.before.self_cost)} → {_number(change.after.self_cost)}"),
    ]
    if totals:
        cells.append(Text(f"{_number(change.before.total_cost)} → {_number(change.after.total_cost)}"))
    cells.append(Text(f"{change.before.self_share:.1f} → {change.after.self_share:.1f}"))
    return cells


def _line_table(title: str, changes: list[LineChange], unit: Normalisation) -> Table:
    """Lines by their self cost alone: a line's total is its callees' too, which have their own rows."""
    table = _table(title, unit, totals=False)
    table.add_column("line")
    table.add_column("source", no_wrap=True, max_width=SOURCE_WIDTH)
    for change in changes:
        where = f"{os.path.basename(change.path)}:{change.line}" + (" moved?" if change.source_moved else "")
        where += f" {change.function}" if change.function else ""
        table.add_row(*_cells(change, totals=False), Text(where), Text(_source(change)))
    return table


def _function_table(title: str, changes: list[FunctionChange], unit: Normalisation) -> Table:
    table = _table(title, unit, totals=True)
    table.add_column("function")
    for change in changes:
        name = change.function + (" [inlined]" if change.inlined else "")
        where = (
            f"{os.path.basename(change.path)}:{change.line}"
            if change.path
            else os.path.basename(change.binary)
        )
        table.add_row(*_cells(change, totals=True), Text(f"{name} ({where})"))
    return table


def _source(change: LineChange) -> str:
    """The line's text as the file on disk has it now (which may not be either build's, when the
    source moved), shortened to fit a table."""
    try:
        with Path(change.path).open(encoding="utf-8", errors="replace") as source:
            for number, text in enumerate(source, start=1):
                if number == change.line:
                    code = text.strip()
                    return code if len(code) <= SOURCE_WIDTH else code[: SOURCE_WIDTH - 1] + "…"
    except OSError:
        pass
    return ""
