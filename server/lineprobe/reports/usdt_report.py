"""``lineprobe usdt list``: probes as ``tplist`` lists them, or with ``-v`` every site, its
arguments and its source line; ``--json`` for scripts (README.md)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from lineprobe.usdt.listing import ProbeListing


def listing_to_json(listing: ProbeListing) -> dict[str, Any]:
    return {
        "binaries": listing.binaries,
        "probes": [
            {
                "binary": probe.binary,
                "provider": probe.provider,
                "name": probe.name,
                "semaphore": probe.semaphore,
                "arguments": [
                    {"size": a.size, "signed": a.signed, "location": a.location, "type": a.type_name}
                    for a in probe.arguments
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
            console.print(f"    arg{number}: {escape(argument.describe())}", highlight=False)
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
