"""The ``--json`` shape of a CPU profile (documented in README.md)."""

from __future__ import annotations

from typing import Any

from lineprobe.profiling.model import CpuProfile


def _percent(profile: CpuProfile, count: int) -> float:
    return round(profile.share(count), 2)


def profile_to_json(profile: CpuProfile) -> dict[str, Any]:
    raw = profile.raw
    return {
        "target": {"pid": raw.header.pid, "exe": raw.header.exe},
        "duration_s": raw.header.duration_s,
        "samples": profile.samples,
        "lost": raw.counters.lost,
        "frequency": raw.frequency,
        "event": raw.cost.event,
        "unit": raw.cost.unit,
        "target_exited": raw.header.target_exited,
        "exited_after_s": raw.header.exited_after_s,
        "counters": {
            "samples": raw.counters.samples,
            "lost": raw.counters.lost,
            "user_stack_missing": raw.counters.user_stack_missing,
            "kernel_stack_missing": raw.counters.kernel_stack_missing,
            "stack_collisions": raw.counters.stack_collisions,
            "exemplars_lost": raw.counters.exemplars_lost,
        },
        "unwinding": {"exemplars": len(raw.snapshots), "stop_reasons": profile.unwinding},
        "warnings": profile.warnings,
        "timings": {
            "agent_start_s": profile.timings.agent_start_s,
            "compile_s": profile.timings.compile_s,
            "attach_s": profile.timings.attach_s,
            "sampling_s": profile.timings.sampling_s,
            "collect_s": profile.timings.collect_s,
            "resolution_s": round(profile.timings.resolution_s, 4),
        },
        "lines": [
            {
                "path": stat.path,
                "line": stat.line,
                "function": stat.function,
                "self": stat.self_samples,
                "total": stat.total_samples,
                "self_percent": _percent(profile, stat.self_samples),
                "total_percent": _percent(profile, stat.total_samples),
                "inlined": stat.inlined,
            }
            for stat in profile.lines
        ],
        "functions": [
            {
                "function": stat.function,
                "path": stat.path,
                "line": stat.line,
                "binary": stat.binary,
                "self": stat.self_samples,
                "total": stat.total_samples,
                "self_percent": _percent(profile, stat.self_samples),
                "total_percent": _percent(profile, stat.total_samples),
                "inlined": stat.inlined,
            }
            for stat in profile.functions
        ],
    }
