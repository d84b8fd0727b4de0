"""A finished leak trace seen from the editor: outstanding allocations at their allocating lines."""

from __future__ import annotations

from dataclasses import dataclass, field

from lsprotocol import types

from lineprobe.leaks.model import LeakSite, LeakTrace
from lineprobe.lsp.findings import Finding
from lineprobe.lsp.settings import Settings
from lineprobe.lsp.source_locator import SourceLocator, uri_of
from lineprobe.reports.leaks_report import size_text
from lineprobe.symbolization.frame import FrameKind

BAR_WIDTH = 30
MAX_STACK_LINES = 12


@dataclass
class LeakView:
    trace: LeakTrace
    documents: dict[str, list[Finding]] = field(default_factory=dict)


def _history_lines(site: LeakSite) -> list[str]:
    """Outstanding bytes over time, as text bars."""
    if not site.history:
        return []
    peak = max((b for _, b in site.history), default=0.0) or 1.0
    return [
        f"{at:7.1f} s {size_text(b):>10} |{'*' * round(BAR_WIDTH * b / peak):<{BAR_WIDTH}}|"
        for at, b in site.history
    ]


def _finding(trace: LeakTrace, site: LeakSite) -> Finding:
    assert site.site is not None
    estimated = " (estimated)" if trace.estimated else ""
    oldest = f", oldest {site.oldest_age_s:.0f} s" if site.oldest_age_s is not None else ""
    if site.suspect:
        message = (
            f"{size_text(site.outstanding_bytes)} in {site.outstanding_count:,.0f} allocations "
            f"still outstanding, growing {size_text(site.growth_bytes_per_s)}/s{oldest}{estimated}"
        )
    else:  # not growing: a cache, a buffer, a singleton; shown, never as a warning
        message = (
            f"allocated once, still held: {size_text(site.outstanding_bytes)} in "
            f"{site.outstanding_count:,.0f} allocations, not growing{oldest}{estimated}"
        )
    share = trace.sampling.get("tracked_share", 1.0)
    hover = [
        f"**lineprobe: outstanding allocations** (pid {trace.header.pid} `{trace.header.comm}`)",
        "",
        message,
        "",
        f"{site.allocations:,.0f} allocations here during the trace; allocations were tracked "
        f"{100 * share:.1f}% of the time"
        + (", figures scaled up from that sample" if trace.estimated else ""),
        "",
        "Outstanding bytes over time:",
        "```",
        *_history_lines(site),
        "```",
        "",
        "Stack:",
    ]
    for frame in site.stack[:MAX_STACK_LINES]:
        where = f"{frame.path}:{frame.line}" if frame.path and frame.line else frame.binary
        hover.append(
            f"- `{frame.function or '??'}`{' (inlined)' if frame.kind is FrameKind.INLINED else ''} {where}"
        )
    callers = site.stack[site.stack.index(site.site) + 1 :] if site.site in site.stack else []
    related = [
        (f.path, f.line, f"allocated through {f.function or '??'}")
        for f in callers
        if f.path and f.line and f.path.startswith("/")
    ][:5]
    return Finding(
        line=site.site.line or 1,
        code="leak-suspect" if site.suspect else "held-allocations",
        severity=types.DiagnosticSeverity.Warning if site.suspect else None,
        message=message,
        hint=f"{size_text(site.outstanding_bytes)} outstanding, +{size_text(site.growth_bytes_per_s)}/s",
        hover="\n".join(hover),
        related=related,
        data={
            "outstanding_bytes": round(site.outstanding_bytes),
            "growth_bytes_per_s": round(site.growth_bytes_per_s, 1),
            "estimated": trace.estimated,
        },
    )


def build_leak_view(trace: LeakTrace, settings: Settings, workspace_roots: list[str]) -> LeakView:
    view = LeakView(trace)
    locator = SourceLocator(settings, workspace_roots)
    for site in trace.sites:
        if site.site is None or (site.outstanding_count <= 0 and not site.suspect):
            continue
        path = locator.local(site.site.path)
        if path is not None:
            finding = _finding(trace, site)
            finding.related = [(settings.map_path(p), line, text) for p, line, text in finding.related]
            view.documents.setdefault(uri_of(path), []).append(finding)
    return view
