"""Reports of a system-call trace: the ``--json`` object and the terminal view."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lineprobe.symbolization.frame import FrameKind, SourceFrame
from lineprobe.syscalls.model import Distribution, SiteCount, SyscallTrace

BAR_WIDTH = 40


def _frame(frame: SourceFrame) -> dict[str, Any]:
    return {
        "function": frame.function,
        "path": frame.path,
        "line": frame.line,
        "binary": frame.binary,
        "inlined": frame.kind is FrameKind.INLINED,
    }


def _site(sites: list[SiteCount]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    if not sites:
        return None, []
    best = sites[0]
    site = (
        {"path": best.site.path, "line": best.site.line, "function": best.site.function}
        if best.site
        else None
    )
    return site, [_frame(f) for f in best.stack]


def _other_sites(sites: list[SiteCount]) -> list[dict[str, Any]]:
    return [
        {
            "site": {"path": s.site.path, "line": s.site.line, "function": s.site.function}
            if s.site
            else None,
            "exemplars": s.exemplars,
        }
        for s in sites
    ]


def distribution_json(distribution: Distribution) -> dict[str, Any]:
    return {
        "name": distribution.name,
        "unit": distribution.unit,
        "count": distribution.count,
        "buckets": [{"low": b.low, "high": b.high, "count": b.count} for b in distribution.buckets],
    }


def trace_to_json(trace: SyscallTrace) -> dict[str, Any]:
    failures = []
    for f in trace.failures:
        site, stack = _site(f.sites)
        failures.append(
            {
                "syscall": f.syscall,
                "path": f.path,
                "errno": f.errno,
                "count": f.count,
                "site": site,
                "stack": stack,
                "sites": _other_sites(f.sites),
            }
        )
    slow = []
    for io in trace.io:
        site, stack = _site(io.sites)
        slow.append(
            {
                "syscall": io.syscall,
                "file": io.file,
                "fd": io.fd,
                "count": io.count,
                "bytes": io.bytes,
                "p50_us": round(io.p50_us, 1),
                "p99_us": round(io.p99_us, 1),
                "max_us": round(io.max_us, 1),
                "latency": distribution_json(io.latency),
                "site": site,
                "stack": stack,
                "sites": _other_sites(io.sites),
            }
        )
    return {
        "target": {"pid": trace.header.pid, "exe": trace.header.exe},
        "duration_s": trace.header.duration_s,
        "target_exited": trace.header.target_exited,
        "syscalls": [{"name": t.name, "count": t.count, "errors": t.errors} for t in trace.totals],
        "failures": failures,
        "slow": slow,
        "histograms": [distribution_json(d) for d in trace.sleeps],
        "block": {
            "latency": distribution_json(trace.block_latency),
            "requests": [
                {
                    "dev": r.dev,
                    "sector": r.sector,
                    "bytes": r.bytes,
                    "rwbs": r.rwbs,
                    "queue_us": round(r.queue_us, 1),
                    "service_us": round(r.service_us, 1),
                    "tid": r.tid,
                    "at_s": round(r.at_s, 4),
                }
                for r in trace.block_requests
            ],
            "records_dropped": trace.block_records_dropped,
        },
        "cpu": [
            {"at_s": c.at_s, "interval_s": c.interval_s, "user_s": c.user_s, "system_s": c.system_s}
            for c in trace.cpu
        ],
        "lost": trace.lost,
        "warnings": trace.warnings,
        "timings": {
            "agent_start_s": trace.timings.agent_start_s,
            "compile_s": trace.timings.compile_s,
            "sampling_s": trace.timings.sampling_s,
            "resolution_s": round(trace.timings.resolution_s, 4),
        },
    }


def histogram_lines(distribution: Distribution) -> list[str]:
    """Text bars, as bcc's tools print them."""
    if not distribution.buckets:
        return []
    peak = max(b.count for b in distribution.buckets)
    lines = [f"{distribution.unit:>24} : count     distribution"]
    for b in distribution.buckets:
        bar = "*" * max(1, round(BAR_WIDTH * b.count / peak))
        lines.append(f"{_num(b.low):>10} -> {_num(b.high):<10} : {b.count:<9} |{bar:<{BAR_WIDTH}}|")
    return lines


def _num(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.3g}"


def _where(sites: list[SiteCount]) -> str:
    if not sites or sites[0].site is None:
        return "(no user frame)"
    s = sites[0].site
    more = f" (+{len(sites) - 1} more)" if len(sites) > 1 else ""
    return f"{s.location} in {s.function}{more}"


def render_trace(trace: SyscallTrace, console: Console) -> None:
    console.print(
        f"[bold]{escape(trace.header.comm)}[/] (pid {trace.header.pid}, {escape(trace.header.exe)}): "
        "system calls over "
        f"{trace.header.duration_s:.2f} s, {trace.lost} lost"
    )
    for warning in trace.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    totals = Table(title="System calls", title_justify="left", show_edge=False)
    for column in ("syscall", "count", "errors"):
        totals.add_column(column, justify="right" if column == "count" else "left")
    for t in trace.totals[:15]:
        errors = ", ".join(f"{name} {n:,}" for name, n in sorted(t.errors.items(), key=lambda e: -e[1]))
        totals.add_row(t.name, f"{t.count:,}", errors)
    console.print(totals)
    if trace.failures:
        table = Table(title="Failed calls", title_justify="left", show_edge=False)
        for column in ("count", "call", "errno", "site"):
            table.add_column(column)
        for f in trace.failures[:15]:
            table.add_row(f"{f.count:,}", f"{f.syscall}({f.path or ''})", f.errno, escape(_where(f.sites)))
        console.print(table)
    if trace.io:
        table = Table(title="File I/O, slowest first", title_justify="left", show_edge=False)
        for column in ("call", "file", "calls", "bytes/call", "p50", "p99", "max", "site"):
            table.add_column(column)
        for io in trace.io[:15]:
            table.add_row(
                io.syscall,
                escape(io.file or f"fd {io.fd}"),
                f"{io.count:,}",
                f"{io.bytes_per_call:,.0f}",
                _duration(io.p50_us),
                _duration(io.p99_us),
                _duration(io.max_us),
                escape(_where(io.sites)),
            )
        console.print(table)
    for distribution in trace.sleeps:
        console.print(f"\n[bold]{escape(distribution.name)}[/]")
        for line in histogram_lines(distribution):
            console.print(escape(line), highlight=False)
    if trace.block_latency.count:
        console.print(f"\n[bold]block I/O latency ({trace.block_latency.count} requests)[/]")
        for line in histogram_lines(trace.block_latency):
            console.print(escape(line), highlight=False)
    if trace.cpu:
        user = sum(c.user_s for c in trace.cpu)
        system = sum(c.system_s for c in trace.cpu)
        span = sum(c.interval_s for c in trace.cpu) or 1.0
        console.print(f"\nCPU: {100 * user / span:.1f}% user, {100 * system / span:.1f}% system")


def _duration(us: float) -> str:
    if us >= 1000:
        return f"{us / 1000:.1f} ms"
    return f"{us:.0f} us"
