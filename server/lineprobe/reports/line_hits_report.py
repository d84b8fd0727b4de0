"""Each counted line's hits, from the stacks its uprobes counted: the terminal table and the
``line_hits`` entries of ``--json`` (README.md, "Line hits")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lineprobe.costs.model import StackProfile
from lineprobe.symbolization.line_sites import ChainKey, LineSites, chain_key

HIT_COST_US = 10.5
"""What one hit cost the counted thread on the machine kind lineprobe is tested on (a KVM guest,
where a trap into the kernel is dear): ``make bench-line-hits``, 10.3-10.5 us a hit, perf
probe's 9.6 us beside it. Used to say what a busy line's counting costs, not to correct any
figure."""
BUSY_SHARE = 0.05
"""Counting that cost the process this share of a CPU or more is worth a warning."""


@dataclass(frozen=True)
class LineHits:
    spec: str
    hits: int
    per_second: float
    sites: int | None
    """None for a replayed capture (the sites were found on the machine that counted)."""
    sources: tuple[str, ...]
    """The line tables' paths of the file that matched the name given."""
    by_site: tuple[tuple[str, int], ...] = ()
    """The hits of each site that fired, most first: where it is ("is_divisible in is_prime":
    an inlined copy, innermost function first), and its hits."""


def _where(key: ChainKey) -> str:
    """A site by its functions: the innermost, then each it was inlined into."""
    return " in ".join(function or "??" for function, _, _, _ in key) or "??"


def _line_of(stack_key: ChainKey, found: list[LineSites]) -> int | None:
    """Which line's site a stack hit (its innermost address named as a site of it is named), or
    None. A line named only (a replayed capture keeps no sites) is found on the stack's frames."""
    named = [index for index, sites in enumerate(found) if stack_key in sites.named]
    if not named:
        named = [index for index, sites in enumerate(found) if not sites.named]
    # Of two lines whose sites are named alike, the one the frames name.
    for index in named:
        spec = found[index].spec
        if any(line == spec.line and spec.matches(path) for _, path, line, _ in stack_key):
            return index
    return named[0] if named and found[named[0]].named else None


def line_hits(profile: StackProfile, found: list[LineSites]) -> list[LineHits]:
    """Hits of each line: the counts of the stacks whose innermost address is one of its sites."""
    totals = [0] * len(found)
    by_site: list[dict[str, int]] = [{} for _ in found]
    for stack in profile.stacks:
        key = chain_key(stack.frames)
        index = _line_of(key, found)
        if index is not None:
            totals[index] += stack.costs[0]
            where = _where(key)
            by_site[index][where] = by_site[index].get(where, 0) + stack.costs[0]
    duration = profile.header.duration_s
    return [
        LineHits(
            str(sites.spec),
            total,
            total / duration if duration > 0 else 0.0,
            sites.count if sites.addresses else None,
            tuple(sorted(sites.sources)),
            tuple(sorted(sites_hit.items(), key=lambda item: (-item[1], item[0]))),
        )
        for sites, total, sites_hit in zip(found, totals, by_site, strict=True)
    ]


def line_hits_json(hits: list[LineHits]) -> list[dict[str, Any]]:
    return [
        {
            "line": entry.spec,
            "hits": entry.hits,
            "per_second": round(entry.per_second, 1),
            "sites": entry.sites,
            "sources": list(entry.sources),
            "by_site": [{"where": where, "hits": count} for where, count in entry.by_site],
        }
        for entry in hits
    ]


def render_line_hits(hits: list[LineHits], console: Console) -> None:
    table = Table(title="Line hits", title_justify="left", show_edge=False)
    table.add_column("hits", justify="right")
    table.add_column("per second", justify="right")
    table.add_column("sites", justify="right")
    table.add_column("line")
    for entry in hits:
        where = (
            ", ".join(f"{source}:{entry.spec.rsplit(':', 1)[1]}" for source in entry.sources) or entry.spec
        )
        sites = "-" if entry.sites is None else str(entry.sites)
        table.add_row(f"{entry.hits:,}", f"{entry.per_second:,.1f}", sites, escape(where))
        if len(entry.by_site) > 1:  # which copies of the line ran: at -O2, one per inlined call
            for site, count in entry.by_site:
                table.add_row(f"{count:,}", "", "", escape(f"  in {site}"))
    console.print(table)


def cost_warnings(hits: list[LineHits]) -> list[str]:
    """What counting a busy line cost the process: each hit is a trap into the kernel."""
    warnings: list[str] = []
    for entry in hits:
        share = entry.per_second * HIT_COST_US / 1e6
        if share >= BUSY_SHARE:
            warnings.append(
                f"{entry.spec} ran {entry.per_second:,.0f} times a second: each hit traps into the kernel "
                f"(about {HIT_COST_US:g} us on a virtual machine), so counting it took about {share:.0%} "
                "of a CPU from the process; count a line that runs less often, or for less time"
            )
    return warnings
