"""From weighted stacks to per-line and per-function self and total costs.

*Self* counts a stack's costs once for its innermost frame (the line or
function that was executing). *Total* counts them once for every line or
function anywhere in the stack, however often recursion repeats it, so a
total share never exceeds 100%. Every cost column is added up the same way;
callers, callees and kernel entry points are weighed by the primary column.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lineprobe.costs.model import CostColumn, FunctionStat, LineStat, StackProfile, WeightedStack
from lineprobe.model.capture import CaptureHeader, Timings
from lineprobe.symbolization.frame import FrameKind, SourceFrame

LineKey = tuple[str, int]
Neighbour = tuple[str | None, str | None, int | None]


def _neighbour_key(frame: SourceFrame) -> Neighbour:
    return frame.function, frame.path, frame.line


def _add(into: list[int], costs: Sequence[int]) -> None:
    if len(costs) == 1:  # the common case (CPU samples, hits), on every frame of every stack
        into[0] += costs[0]
        return
    for column, value in enumerate(costs):
        into[column] += value


def _count(stat: LineStat | FunctionStat, costs: Sequence[int], is_leaf: bool, first_in_stack: bool) -> None:
    if is_leaf:
        _add(stat.self_costs, costs)
    if first_in_stack:
        _add(stat.total_costs, costs)


def stack_profile(
    header: CaptureHeader,
    columns: tuple[CostColumn, ...],
    stacks: list[WeightedStack],
    warnings: list[str],
    timings: Timings,
    **details: Any,
) -> StackProfile:
    """A profile of resolved weighted stacks: totals, lines and functions tallied; ``details`` are
    the kind's own ``StackProfile`` fields (rate, losses, counters, unwinding)."""
    lines, functions = tally(columns, stacks)
    return StackProfile(
        header=header,
        columns=columns,
        totals=column_totals(columns, stacks),
        stacks=stacks,
        lines=lines,
        functions=functions,
        warnings=warnings,
        timings=timings,
        **details,
    )


def column_totals(columns: Sequence[CostColumn], stacks: Sequence[WeightedStack]) -> tuple[int, ...]:
    totals = [0] * len(columns)
    for stack in stacks:
        _add(totals, stack.costs)
    return tuple(totals)


def _names_a_source(frame: SourceFrame) -> bool:
    path = frame.path or ""
    return path.startswith("/") or (frame.binary == "[jit]" and path.endswith(".java"))


def tally(
    columns: Sequence[CostColumn], stacks: Sequence[WeightedStack]
) -> tuple[list[LineStat], list[FunctionStat]]:
    """Per-line and per-function costs, hottest (primary self, then total) first."""
    width = len(columns)
    lines: dict[LineKey, LineStat] = {}
    functions: dict[tuple[str, str], FunctionStat] = {}
    for stack in stacks:
        if len(stack.costs) != width:
            raise ValueError(f"a stack has {len(stack.costs)} costs for {width} columns")
        count = stack.count
        seen_lines: set[LineKey] = set()
        seen_functions: set[tuple[str, str]] = set()
        for depth, frame in enumerate(stack.frames):
            is_leaf = depth == 0
            # Lines are kept only where the path is absolute: a relative DWARF path
            # (a distribution's libc built elsewhere) names no file a user can open. JIT code's
            # relative path is its runtime's name for a source under some source root (Java's
            # package path, slowy/App.java), which the editor finds in the workspace.
            if frame.path is not None and frame.line and _names_a_source(frame):
                key = (frame.path, frame.line)
                stat = lines.get(key)
                if stat is None:
                    stat = lines[key] = LineStat(
                        frame.path,
                        frame.line,
                        frame.function,
                        [0] * width,
                        [0] * width,
                        inlined=frame.kind is FrameKind.INLINED,
                    )
                first_in_stack = key not in seen_lines
                _count(stat, stack.costs, is_leaf, first_in_stack)
                if first_in_stack:
                    seen_lines.add(key)
                    if depth + 1 < len(stack.frames):
                        caller = _neighbour_key(stack.frames[depth + 1])
                        stat.callers[caller] = stat.callers.get(caller, 0) + count
                    below = stack.frames[depth - 1] if depth > 0 else None
                    if below is not None and below.kind is FrameKind.KERNEL:
                        name = below.function or "[kernel]"
                        stat.kernel_callees[name] = stat.kernel_callees.get(name, 0) + count
                    elif below is not None:
                        callee = _neighbour_key(below)
                        stat.callees[callee] = stat.callees.get(callee, 0) + count
            name = frame.name
            fkey = (name, frame.binary)
            fstat = functions.get(fkey)
            if fstat is None:
                fstat = functions[fkey] = FunctionStat(
                    name,
                    frame.function_path or frame.path,
                    frame.function_line or frame.line,
                    frame.binary,
                    [0] * width,
                    [0] * width,
                    inlined=frame.kind is FrameKind.INLINED,
                )
            _count(fstat, stack.costs, is_leaf, fkey not in seen_functions)
            seen_functions.add(fkey)
    return (
        sorted(lines.values(), key=lambda s: (-s.self_cost, -s.total_cost, s.path, s.line)),
        sorted(functions.values(), key=lambda f: (-f.self_cost, -f.total_cost, f.function)),
    )
