"""The ``--json`` shape of a stack profile: CPU samples, stack counts, leak bytes (README.md)."""

from __future__ import annotations

from typing import Any

from lineprobe.costs.model import StackProfile
from lineprobe.costs.slices import threads_of, timeline
from lineprobe.symbolization.frame import SourceFrame


def _percent(profile: StackProfile, count: int) -> float:
    return round(profile.share(count), 2)


def _other_columns(profile: StackProfile, self_costs: list[int], total_costs: list[int]) -> dict[str, Any]:
    """Values of the columns after the primary one: keyed by their unit ("self_bytes", ...) where
    no other column has that unit, and always as ``column_self`` and ``column_total``, one value
    per entry of the report's ``columns`` (off-CPU time's reasons are all nanoseconds)."""
    extra: dict[str, Any] = {}
    units = [column.unit.value for column in profile.columns[1:]]
    for column, self_value, total_value in zip(
        profile.columns[1:], self_costs[1:], total_costs[1:], strict=True
    ):
        if units.count(column.unit.value) == 1:
            extra[f"self_{column.unit.value}"] = self_value
            extra[f"total_{column.unit.value}"] = total_value
    if len(profile.columns) > 1:
        extra["column_self"] = list(self_costs)
        extra["column_total"] = list(total_costs)
    return extra


def profile_to_json(profile: StackProfile) -> dict[str, Any]:
    h = profile.header
    return {
        "target": {"pid": h.pid, "exe": h.exe},
        "duration_s": h.duration_s,
        "samples": profile.total,
        "lost": profile.lost,
        "frequency": profile.rate_hz,
        "event": profile.cost.event,
        "unit": profile.cost.unit.value,
        "columns": [
            {"event": column.event, "unit": column.unit.value, "total": total}
            for column, total in zip(profile.columns, profile.totals, strict=True)
        ],
        "target_exited": h.target_exited,
        "exited_after_s": h.exited_after_s,
        "counters": profile.counters,
        "unwinding": {"exemplars": profile.exemplars, "stop_reasons": profile.unwinding},
        "warnings": profile.warnings,
        "cannot_measure": list(profile.limits),
        "timings": {
            "agent_start_s": profile.timings.agent_start_s,
            "compile_s": profile.timings.compile_s,
            "attach_s": profile.timings.attach_s,
            "sampling_s": profile.timings.sampling_s,
            "collect_s": profile.timings.collect_s,
            "resolution_s": round(profile.timings.resolution_s, 4),
        },
        "selection": profile.selection or None,
        "threads": [
            {"tid": t.tid, "name": t.name, "self": t.cost, "percent": _percent(profile, t.cost)}
            for t in threads_of(profile)
        ],
        "timeline": {
            "bucket_ms": profile.time_bucket_ns / 1e6,
            "threads": [{"tid": row.tid, "name": row.name, "counts": row.costs} for row in timeline(profile)],
        }
        if profile.time_bucket_ns
        else None,
        "lines": [
            {
                "path": stat.path,
                "line": stat.line,
                "function": stat.function,
                "self": stat.self_cost,
                "total": stat.total_cost,
                "self_percent": _percent(profile, stat.self_cost),
                "total_percent": _percent(profile, stat.total_cost),
                "inlined": stat.inlined,
                **_other_columns(profile, stat.self_costs, stat.total_costs),
            }
            for stat in profile.lines
        ],
        "functions": [
            {
                "function": stat.function,
                "path": stat.path,
                "line": stat.line,
                "binary": stat.binary,
                "self": stat.self_cost,
                "total": stat.total_cost,
                "self_percent": _percent(profile, stat.self_cost),
                "total_percent": _percent(profile, stat.total_cost),
                "inlined": stat.inlined,
                **_other_columns(profile, stat.self_costs, stat.total_costs),
            }
            for stat in profile.functions
        ],
        **_stacks(profile),
    }


def _stacks(profile: StackProfile) -> dict[str, Any]:
    """Every distinct stack with its costs, its thread and its time, over a table of frames each
    stack refers to by index (innermost first), so that a frame many stacks share is written
    once: what the flame graph, folded stacks and pprof are made of, for scripts."""
    frames: list[dict[str, Any]] = []
    index: dict[SourceFrame, int] = {}
    stacks = []
    bucket_s = profile.time_bucket_ns / 1e9
    for stack in profile.stacks:
        refs = []
        for frame in stack.frames:
            found = index.get(frame)
            if found is None:
                found = index[frame] = len(frames)
                frames.append(
                    {
                        "function": frame.function,
                        "path": frame.path,
                        "line": frame.line,
                        "binary": frame.binary,
                        "kind": frame.kind.value,
                    }
                )
            refs.append(found)
        stacks.append(
            {
                "count": stack.count,
                **({"costs": list(stack.costs)} if len(stack.costs) > 1 else {}),
                "tid": stack.thread,
                "start_s": round(stack.time_bucket * bucket_s, 6)
                if stack.time_bucket is not None and bucket_s
                else None,
                "frames": refs,
            }
        )
    return {"frames": frames, "stacks": stacks}
