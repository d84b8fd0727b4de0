"""A USDT probe's hits by the site that fired, and what a count or trace has seen while it runs.

A probe in the user's own code (``sys/sdt.h``) has a site per place the
compiler put it (one per inlined copy); the editor marks each site's line
with its hits and their rate, updated about once a second while the probe is
counted or traced. The agent names a site by its file and file offset; the
line comes from the file's DWARF, as the listing finds it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import TypeVar

from lineprobe.symbolization.elf_image import PARSE_ERRORS
from lineprobe.symbolization.resolver import ImageCache
from lineprobe.usdt.counts import ProbeCounts, ProbeGroup, SiteHits
from lineprobe.usdt.hits import ProbeHitRecord, ProbeTrace

ProbeCountsOrTrace = TypeVar("ProbeCountsOrTrace", ProbeCounts, ProbeTrace)


@dataclass(frozen=True)
class LiveProbe:
    """What a running count or trace has seen so far."""

    elapsed_s: float
    events: int
    """Hits so far."""
    site_hits: tuple[SiteHits, ...]
    groups: tuple[ProbeGroup, ...]
    """Counting: the largest groups so far."""
    hits: tuple[ProbeHitRecord, ...]
    """Tracing: hits received since the last report."""
    hits_not_shown: int
    """Tracing: hits since the last report that are not in ``hits`` (the result keeps them, up
    to its limit)."""

    def rate(self, hits: int) -> float:
        return hits / self.elapsed_s if self.elapsed_s > 0 else 0.0


def resolve_sites(sites: tuple[SiteHits, ...], cache: ImageCache, pid: int) -> tuple[SiteHits, ...]:
    """Each site with its source line, where its file has DWARF for it. The file is read through
    the process's root when it is still there (a container's files), else by its path."""
    resolved: list[SiteHits] = []
    for site in sites:
        root = f"/proc/{pid}/root"
        if not (pid and os.path.exists(root + site.binary)):
            root = ""
        try:
            image = cache.image(site.binary, None, root)
            address = image.file_offset_to_vaddr(site.offset)
            dwarf = image.dwarf if address is not None else None
            chains = dwarf.frames_many([address], site.binary) if dwarf is not None and address else []
        except OSError:
            chains = []
        except PARSE_ERRORS:
            chains = []
        chain = chains[0] if chains else None
        source = chain[0] if chain and chain[0].path and chain[0].line else None
        resolved.append(replace(site, source=source))
    return tuple(resolved)


def with_site_lines(raw: ProbeCountsOrTrace, cache: ImageCache) -> ProbeCountsOrTrace:
    """A count or a trace with its sites' lines."""
    return replace(raw, site_hits=resolve_sites(raw.site_hits, cache, raw.header.pid))
