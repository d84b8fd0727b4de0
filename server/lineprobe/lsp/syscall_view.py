"""A finished system-call trace seen from the editor: findings at their calling lines.

Each finding carries everything the features need (diagnostic message, hover
text, inlay label, code actions), computed once when the trace arrives.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from lsprotocol import types

from lineprobe.lsp.findings import Finding
from lineprobe.lsp.settings import Settings
from lineprobe.lsp.source_locator import SourceLocator, uri_of
from lineprobe.reports.syscalls_report import histogram_lines
from lineprobe.symbolization.frame import FrameKind, SourceFrame
from lineprobe.syscalls.model import Failure, FileIoStat, SiteCount, SyscallTrace

MAX_STACK_LINES = 12


@dataclass
class SyscallView:
    trace: SyscallTrace
    documents: dict[str, list[Finding]] = field(default_factory=dict)


def _size(value: float) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.0f} B"


def _duration(us: float) -> str:
    if us >= 1000:
        return f"{us / 1000:.3g} ms"
    return f"{us:.3g} us"


def _stack_lines(frames: list[SourceFrame]) -> list[str]:
    lines = []
    for frame in frames[:MAX_STACK_LINES]:
        where = f"{frame.path}:{frame.line}" if frame.path and frame.line else frame.binary
        inlined = " (inlined)" if frame.kind is FrameKind.INLINED else ""
        lines.append(f"- `{frame.function or '??'}`{inlined} {where}")
    if len(frames) > MAX_STACK_LINES:
        lines.append(f"- ... {len(frames) - MAX_STACK_LINES} more frames")
    return lines


def _related(frames: list[SourceFrame], site: SourceFrame) -> list[tuple[str, int, str]]:
    callers = frames[frames.index(site) + 1 :] if site in frames else []
    return [
        (f.path, f.line, f"called from {f.function or '??'}")
        for f in callers
        if f.path and f.line and f.path.startswith("/")
    ][:5]


def _failure_finding(trace: SyscallTrace, failure: Failure, site: SiteCount) -> Finding:
    assert site.site is not None
    target = f'"{failure.path}"' if failure.path is not None else ""
    message = (
        f"{failure.syscall}({target}) failed with {failure.errno} {failure.count:,} times "
        f"in {trace.header.duration_s:.1f} s"
    )
    totals = next((t for t in trace.totals if t.name == failure.syscall), None)
    lines = [
        f"**lineprobe: {failure.syscall} failures** (pid {trace.header.pid} `{trace.header.comm}`)",
        "",
        message,
        "",
    ]
    if totals is not None:
        lines.append(f"All {failure.syscall} calls: {totals.count:,}")
        lines += [f"- {name}: {n:,}" for name, n in sorted(totals.errors.items(), key=lambda e: -e[1])]
        ok = totals.count - sum(totals.errors.values())
        lines.append(f"- succeeded: {ok:,}")
    if len(failure.sites) > 1:
        lines += ["", f"Seen from {len(failure.sites)} call sites (exemplars per site):"]
        lines += [
            f"- {s.site.function if s.site else '??'} line {s.site.line if s.site else '?'}: {s.exemplars}"
            for s in failure.sites
        ]
    lines += ["", "Stack:", *_stack_lines(site.stack)]
    create = (
        failure.path if failure.errno == "ENOENT" and failure.path and failure.path.startswith("/") else None
    )
    return Finding(
        line=site.site.line or 1,
        code="syscall-failure",
        severity=types.DiagnosticSeverity.Warning,
        message=message,
        hint=f"{failure.syscall} {failure.errno} x{failure.count:,}",
        hover="\n".join(lines),
        related=_related(site.stack, site.site),
        create_file=create,
        data={
            "syscall": failure.syscall,
            "errno": failure.errno,
            "path": failure.path,
            "count": failure.count,
        },
    )


def _io_finding(trace: SyscallTrace, io: FileIoStat, site: SiteCount, slow_ms: float) -> Finding:
    assert site.site is not None
    name = os.path.basename(io.file) if io.file else f"fd {io.fd}"
    direction = "from" if "read" in io.syscall else "to" if "write" in io.syscall else "on"
    amount = f" for {_size(io.bytes_per_call)}" if io.bytes else ""
    message = f"{io.syscall} {direction} {name}: p99 {_duration(io.p99_us)}{amount}, {io.count:,} calls"
    slow = io.p99_us >= slow_ms * 1000
    lines = [
        f"**lineprobe: {io.syscall} {direction} {io.file or name}** "
        f"(pid {trace.header.pid} `{trace.header.comm}`)",
        "",
        f"{io.count:,} calls, {_size(io.bytes)} in all; p50 {_duration(io.p50_us)}, "
        f"p99 {_duration(io.p99_us)}, max {_duration(io.max_us)}",
        "",
        "```",
        *histogram_lines(io.latency),
        "```",
        "",
        "Stack:",
        *_stack_lines(site.stack),
    ]
    opener = io.file if io.file and os.path.isfile(io.file) else None
    return Finding(
        line=site.site.line or 1,
        code="slow-io" if slow else "file-io",
        severity=types.DiagnosticSeverity.Warning if slow else None,
        message=message,
        hint=f"{io.syscall} p99 {_duration(io.p99_us)} x{io.count:,}",
        hover="\n".join(lines),
        related=_related(site.stack, site.site),
        open_file=opener,
        data={"syscall": io.syscall, "file": io.file, "p99_us": round(io.p99_us, 1), "count": io.count},
    )


def build_syscall_view(trace: SyscallTrace, settings: Settings, workspace_roots: list[str]) -> SyscallView:
    view = SyscallView(trace)
    locator = SourceLocator(settings, workspace_roots)

    def add(site: SiteCount, finding_of: Any) -> None:
        if site.site is None:
            return
        path = locator.local(site.site.path)
        if path is None:
            return
        finding = finding_of(site)
        finding.related = [(settings.map_path(p), line, text) for p, line, text in finding.related]
        view.documents.setdefault(uri_of(path), []).append(finding)

    for failure in trace.failures:
        for site in failure.sites[:3]:
            add(site, lambda s, f=failure: _failure_finding(trace, f, s))
    for io in trace.io:
        if io.sites:
            add(io.sites[0], lambda s, i=io: _io_finding(trace, i, s, settings.slow_io_threshold_ms))
    return view
