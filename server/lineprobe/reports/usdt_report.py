"""``lineprobe usdt list``: probes as ``tplist`` lists them, or with ``-v`` every site, its
arguments and its source line; ``--json`` for scripts (README.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lineprobe.symbolization.frame import SourceFrame
from lineprobe.usdt.counts import ProbeCounts, SiteHits
from lineprobe.usdt.hits import ProbeTrace
from lineprobe.usdt.hotspot import argument_meaning, known
from lineprobe.usdt.listing import ProbeListing

HitWriter = Callable[[tuple[int | str, ...]], str]
"""A hit's values -> the text a format makes of them (``usdt.hit_format.HitFormat``)."""


def _groupings(provider: str, name: str) -> list[str]:
    """The named ways to group a known runtime's probe (``usdt count --by``)."""
    entry = known(f"{provider}:{name}")
    return [grouping for grouping, _ in entry.groupings] if entry is not None else []


def listing_to_json(listing: ProbeListing) -> dict[str, Any]:
    return {
        "binaries": listing.binaries,
        "probes": [
            {
                "binary": probe.binary,
                "provider": probe.provider,
                "name": probe.name,
                "semaphore": probe.semaphore,
                "groupings": _groupings(probe.provider, probe.name),
                "arguments": [
                    {
                        "size": a.size,
                        "signed": a.signed,
                        "location": a.location,
                        "type": a.type_name,
                        "meaning": argument_meaning(probe.provider, probe.name, number),
                    }
                    for number, a in enumerate(probe.arguments, 1)
                ],
                "sites": [
                    {
                        "address": site.address,
                        "semaphore": site.semaphore,
                        "path": site.source.path if site.source else None,
                        "line": site.source.line if site.source else None,
                        "function": site.source.function if site.source else None,
                    }
                    for site in probe.sites
                ],
            }
            for probe in listing.probes
        ],
        "problems": listing.problems,
    }


def render_listing(listing: ProbeListing, console: Console, verbose: bool) -> None:
    for probe in listing.probes:
        console.print(
            f"{escape(probe.binary)} [bold]{escape(probe.probe)}[/]", highlight=False, soft_wrap=True
        )
        if not verbose:
            continue
        semaphore = f"semaphore 0x{probe.semaphore:x}" if probe.semaphore else "no semaphore"
        console.print(f"  {len(probe.sites)} site(s), {len(probe.arguments)} argument(s), {semaphore}")
        for number, argument in enumerate(probe.arguments, 1):
            meaning = argument_meaning(probe.provider, probe.name, number)
            said = f"{meaning}: {argument.describe()}" if meaning else argument.describe()
            console.print(f"    arg{number}: {escape(said)}", highlight=False)
        for site in probe.sites:
            where = ""
            if site.source is not None:
                where = f" {escape(str(site.source.path))}:{site.source.line}"
                where += f" in {escape(site.source.function)}" if site.source.function else ""
            console.print(f"    at 0x{site.address:x}{where}", highlight=False)
    if not listing.probes:
        files = ", ".join(listing.binaries) or "nothing"
        console.print(f"No USDT probes in {escape(files)} (no {'.note.stapsdt'} section).")
    for problem in listing.problems:
        console.print(f"[yellow]warning:[/] {escape(problem)}")


def site_hits_to_json(sites: tuple[SiteHits, ...], duration_s: float) -> list[dict[str, Any]]:
    """Each site that fired: its file and offset, its line where known, its hits and their rate."""
    return [
        {
            "binary": site.binary,
            "offset": site.offset,
            "path": site.source.path if site.source else None,
            "line": site.source.line if site.source else None,
            "function": site.source.function if site.source else None,
            "hits": site.hits,
            "per_s": round(site.hits / duration_s, 1) if duration_s > 0 else 0.0,
        }
        for site in sites
    ]


def _render_sites(sites: tuple[SiteHits, ...], duration_s: float, console: Console) -> None:
    """The sites that fired, by line where the file has DWARF for them (the user's own probes)."""
    for site in sites:
        where = (
            f"{site.source.path}:{site.source.line} ({site.source.function})"
            if site.source
            else f"{site.binary} +0x{site.offset:x}"
        )
        rate = site.hits / duration_s if duration_s > 0 else 0.0
        console.print(f"  at {escape(where)}: {site.hits:,} hits ({rate:,.0f}/s)", highlight=False)


def counts_to_json(counts: ProbeCounts) -> dict[str, Any]:
    h = counts.header
    return {
        "target": {"pid": h.pid, "exe": h.exe},
        "probe": counts.probe,
        "duration_s": h.duration_s,
        "sites": counts.sites,
        "site_hits": site_hits_to_json(counts.site_hits, h.duration_s),
        "group_by": [a.describe() for a in counts.group_by],
        "events": counts.events,
        "lost": counts.lost,
        "truncated": counts.truncated,
        "unreadable": counts.unreadable,
        "groups": [
            {"count": g.count, "per_s": round(counts.rate(g.count), 1), "values": list(g.values)}
            for g in counts.groups
        ],
        "histogram": [{"low": low, "high": high, "count": n} for low, high, n in counts.buckets()]
        if counts.histogram
        else None,
        "target_exited": h.target_exited,
        "warnings": counts.warnings,
    }


def render_counts(counts: ProbeCounts, console: Console, top: int = 25) -> None:
    h = counts.header
    console.print(
        f"[bold]{escape(counts.probe)}[/] in {escape(h.comm)} (pid {h.pid}): {counts.events:,} hits "
        f"in {h.duration_s:.2f} s ({counts.rate(counts.events):,.0f}/s) at {counts.sites} site(s)",
        highlight=False,
    )
    _render_sites(counts.site_hits, h.duration_s, console)
    for warning in counts.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    if not counts.group_by or not counts.groups:
        return
    if counts.histogram:
        _render_histogram(counts, console)
        return
    table = Table(show_edge=False)
    table.add_column("count", justify="right")
    table.add_column("per s", justify="right")
    for argument in counts.group_by:
        table.add_column(argument.describe())
    for group in counts.groups[:top]:
        table.add_row(f"{group.count:,}", f"{counts.rate(group.count):,.0f}", *(str(v) for v in group.values))
    console.print(table)
    if len(counts.groups) > top:
        console.print(f"... and {len(counts.groups) - top} more groups (--json lists them all)")


def trace_to_json_lines(trace: ProbeTrace, write: HitWriter | None = None) -> list[dict[str, Any]]:
    """One object per hit (``t``: seconds since the probe was armed, ``tid``, ``values``, and with
    a format ``message``), then one ``summary`` object with every count: what a script reads line
    by line."""
    h = trace.header
    lines: list[dict[str, Any]] = []
    described: dict[int, list[str]] = {}  # each stack written once, however many hits share it
    for hit in trace.hits:
        line: dict[str, Any] = {"t": round(hit.at_s, 9), "tid": hit.tid, "values": list(hit.values)}
        if write is not None:
            line["message"] = write(hit.values)
        if trace.raw_stacks:
            if hit.stack_id not in described:
                described[hit.stack_id] = [_frame_text(f) for f in trace.stack_of(hit)]
            line["stack"] = described[hit.stack_id]
        lines.append(line)
    lines.append(
        {
            "summary": {
                "target": {"pid": h.pid, "exe": h.exe},
                "probe": trace.probe,
                "arguments": [a.describe() for a in trace.arguments],
                "duration_s": h.duration_s,
                "sites": trace.sites,
                "site_hits": site_hits_to_json(trace.site_hits, h.duration_s),
                "events": trace.events,
                "recorded": len(trace.hits),
                "rate_limited": trace.rate_limited,
                "ring_full": trace.ring_full,
                "dropped": trace.dropped,
                "truncated": trace.truncated,
                "unreadable": trace.unreadable,
                "target_exited": h.target_exited,
                "warnings": trace.warnings,
            }
        }
    )
    return lines


def _frame_text(frame: SourceFrame) -> str:
    where = f" {frame.path}:{frame.line}" if frame.path and frame.line else ""
    return f"{frame.label}{where}"


def render_trace(
    trace: ProbeTrace, console: Console, shown: int = 40, write: HitWriter | None = None
) -> None:
    h = trace.header
    described = ["message"] if write is not None else [a.describe() for a in trace.arguments]
    header = "  ".join(["time (s)", "tid", *described])
    console.print(f"[bold]{escape(header)}[/]", highlight=False)
    for hit in trace.hits[:shown]:
        values = [write(hit.values)] if write is not None else [str(v) for v in hit.values]
        console.print(
            "  ".join([f"{hit.at_s:.6f}", str(hit.tid), *(escape(v) for v in values)]), highlight=False
        )
        for frame in trace.stack_of(hit):
            console.print(f"        {escape(_frame_text(frame))}", highlight=False)
    if len(trace.hits) > shown:
        console.print(f"... {len(trace.hits) - shown:,} more recorded (--json prints every one)")
    console.print(
        f"[bold]{escape(trace.probe)}[/] in {escape(h.comm)} (pid {h.pid}): {trace.events:,} hits in "
        f"{h.duration_s:.2f} s, {len(trace.hits):,} recorded, {trace.rate_limited:,} over the rate limit, "
        f"{trace.ring_full:,} lost to a full ring, {trace.dropped:,} past --max-hits",
        highlight=False,
    )
    _render_sites(trace.site_hits, h.duration_s, console)
    for warning in trace.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")


HISTOGRAM_BAR = 40


def _render_histogram(counts: ProbeCounts, console: Console) -> None:
    """Powers of two with a bar each, as argdist -H and bcc's log2 histograms print them."""
    rows = counts.buckets()
    widest = max(n for _, _, n in rows) or 1
    console.print(f"{'value':>25} : {'count':<10} distribution of {escape(counts.group_by[0].describe())}")
    for low, high, n in rows:
        bar = "*" * round(HISTOGRAM_BAR * n / widest)
        console.print(f"{low:>11,} -> {high:<11,}: {n:<10,} |{bar:<{HISTOGRAM_BAR}}|", highlight=False)
