"""A USDT count or trace while it runs, as the editor shows it: ``lineprobe/probeLive``
notifications about once a second, with each site's line and hit rate (the gutter marks) and
the newest hits or the largest groups (the output channel); and a JVM's GC pauses and class
loads as they come (``lineprobe/jvmLive``: the status bar and the output channel); a kernel
tracepoint's records with their fields (``lineprobe/tracepointLive``: the output channel).

The notification's sites come with a URI only where the site's line is a file of the workspace
(after the ``pathMappings`` setting); the extension marks those lines, and lists the others by
file and offset.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lineprobe.capture.progress import LiveReport
from lineprobe.lsp.source_locator import SourceLocator, uri_of
from lineprobe.reports.tracepoints_report import event_text
from lineprobe.reports.usdt_report import site_hits_to_json
from lineprobe.symbolization.resolver import ImageCache
from lineprobe.tracepoints.records import TracepointLiveReport
from lineprobe.usdt.counts import SiteHits
from lineprobe.usdt.jvm_events import JvmLiveReport
from lineprobe.usdt.sites import LiveProbe, resolve_sites

PROBE_LIVE = "lineprobe/probeLive"
JVM_LIVE = "lineprobe/jvmLive"
TRACEPOINT_LIVE = "lineprobe/tracepointLive"


def sites_json(
    sites: tuple[SiteHits, ...], duration_s: float, locator: SourceLocator
) -> list[dict[str, Any]]:
    """``site_hits_to_json`` with each site's ``uri`` where its source file is in the workspace."""
    found = site_hits_to_json(sites, duration_s)
    for site in found:
        local = locator.local(site["path"])
        site["uri"] = uri_of(local) if local else None
    return found


def live_notification(
    probe: str, pid: int, mode: str, live: LiveProbe, cache: ImageCache, locator: SourceLocator
) -> dict[str, Any]:
    """The ``lineprobe/probeLive`` parameters for one report: ``mode`` is "count" or "trace"."""
    sites = resolve_sites(live.site_hits, cache, pid)
    return {
        "probe": probe,
        "pid": pid,
        "mode": mode,
        "elapsedS": round(live.elapsed_s, 3),
        "events": live.events,
        "perS": round(live.rate(live.events), 1),
        "sites": sites_json(sites, live.elapsed_s, locator),
        "groups": [
            {"count": g.count, "perS": round(live.rate(g.count), 1), "values": list(g.values)}
            for g in live.groups
        ],
        "hits": [{"t": round(h.at_s, 9), "tid": h.tid, "values": list(h.values)} for h in live.hits],
        "hitsNotShown": live.hits_not_shown,
    }


def probe_live(
    probe: str, pid: int, mode: str, cache: ImageCache, locator: SourceLocator
) -> Callable[[LiveReport], tuple[str, dict[str, Any]] | None]:
    """The notification of each live report of this probe's count or trace."""

    def notification(live: LiveReport) -> tuple[str, dict[str, Any]] | None:
        if not isinstance(live, LiveProbe):
            return None
        return PROBE_LIVE, live_notification(probe, pid, mode, live, cache, locator)

    return notification


def jvm_live(pid: int) -> Callable[[LiveReport], tuple[str, dict[str, Any]] | None]:
    """The notification of each live report of a JVM's GC pauses and class loads."""

    def notification(live: LiveReport) -> tuple[str, dict[str, Any]] | None:
        if not isinstance(live, JvmLiveReport):
            return None
        return JVM_LIVE, {
            "pid": pid,
            "elapsedS": round(live.elapsed_s, 3),
            "gcCount": live.gc_count,
            "classesLoaded": live.classes_loaded,
            "newGcs": [
                {"t": round(gc.at_s, 6), "durationMs": round(gc.duration_s * 1000, 3), "full": gc.full}
                for gc in live.new_gcs
            ],
            "newClasses": [loaded.java_name for loaded in live.new_classes],
        }

    return notification


def tracepoint_live(tracepoint: str, pid: int) -> Callable[[LiveReport], tuple[str, dict[str, Any]] | None]:
    """The notification of each live report of a tracepoint's records."""

    def notification(live: LiveReport) -> tuple[str, dict[str, Any]] | None:
        if not isinstance(live, TracepointLiveReport):
            return None
        return TRACEPOINT_LIVE, {
            "tracepoint": tracepoint,
            "pid": pid,
            "elapsedS": round(live.elapsed_s, 3),
            "events": live.hits,
            "perS": round(live.hits / live.elapsed_s, 1) if live.elapsed_s > 0 else 0.0,
            "records": [
                {"t": round(e.at_s, 9), "tid": e.tid, "cpu": e.cpu, "text": event_text(e)}
                for e in live.new_events
            ],
            "notShown": live.not_shown,
        }

    return notification
