"""A USDT probe's hits by argument values, counted in the kernel or sent one by one
(``bpf/probe_args.bpf.c``).

Unlike the agent's other programs this one is compiled for each request: bcc
reads the probe's argument locations from the file's notes (its USDT context)
and writes the argument readers into the program, and the loader says which
arguments to group by with ``-D`` settings made of numbers and of the C types
the notes give (checked against a closed list). The caller's request names a
probe and argument numbers only; the C is the agent's own file.

Text arguments are read with the length the probe passes beside them where
there is one (HotSpot's class and method names are not terminated), so a name
never carries the bytes that follow it in memory.
"""

from __future__ import annotations

import ctypes
from typing import Any

from lineprobe_agent.bpf_source import constant, program_text
from lineprobe_agent.bpf_tables import stat
from lineprobe_agent.bpf_tracer import Exemplars, NoExemplars
from lineprobe_agent.exemplar_buffer import ExemplarBuffer
from lineprobe_agent.protocol import (
    Mapping,
    ProbeArgCounters,
    ProbeArgGroup,
    ProbeArgument,
    ProbeHit,
    ProbeLive,
    ProbeSiteHits,
    ProbeTraceCounters,
)
from lineprobe_agent.stack_counter import UnknownTracepoint, UsdtSite, parse_usdt_event
from lineprobe_agent.usdt_program import UsdtProgram, usdt_context

EVENTS = constant("PA_STAT_EVENTS")
LOST = constant("PA_STAT_LOST")
TRUNCATED = constant("PA_STAT_TRUNCATED")
UNREADABLE = constant("PA_STAT_UNREADABLE")
LIMITED = constant("PA_STAT_LIMITED")
RING_FULL = constant("PA_STAT_RING_FULL")
HIT_BUFFER_PAGES = 1024
"""Perf ring per CPU (4 MiB): about 18,000 hits, so that the default limit's whole second fits in
one CPU's ring even when it comes at once."""
LIVE_GROUPS = 20
LIVE_HITS = 200
"""Hits per live report: enough for a reader of the output, far fewer than a trace keeps."""
C_TYPES = frozenset(f"{sign}int{bits}_t" for sign in ("", "u") for bits in (8, 16, 32, 64))
"""The argument types bcc's USDT reader reports for x86-64 probes."""


class ProbeProgram(UsdtProgram):
    """One probe, one target, one window: compiled for it, attached, collected, closed."""

    def __init__(
        self,
        pid: int,
        probe: str,
        sites: list[UsdtSite],
        arguments: list[ProbeArgument],
        mode: dict[str, int] | None = None,
    ) -> None:
        """``sites``: the probe's, as ``usdt_sites`` found them (which refuses, in words, a probe
        the process lacks); ``mode``: the program's TRACE, RATE_LIMIT, HISTOGRAM and TRACE_STACKS
        settings (0 when not given)."""
        self.arguments = arguments
        path, provider, name = parse_usdt_event(f"usdt:{probe}")
        self.sites = len(sites)
        qualified = f"{provider}:{name}"
        context = usdt_context(pid, path, [(qualified, "on_probe")])
        settings = _slot_settings(context, qualified, arguments)
        settings |= {"TRACE": "0", "RATE_LIMIT": "0", "HISTOGRAM": "0", "TRACE_STACKS": "0"}
        settings |= {name: str(value) for name, value in (mode or {}).items()}
        numbers = {name: int(value) for name, value in settings.items() if name.endswith(("_ARG", "_LENGTH"))}
        super().__init__(program_text("probe_args", numbers), settings, context)
        self._exemplars: Exemplars = NoExemplars()

    def events_so_far(self) -> int:
        return stat(self._bpf, EVENTS)

    def live(self, mappings: list[Mapping]) -> ProbeLive | None:
        """What was seen so far, at most once a second (None between)."""
        return self._live(self.site_hits(mappings)) if self.live_due() else None

    def _live(self, site_hits: list[ProbeSiteHits]) -> ProbeLive:
        raise NotImplementedError

    def site_hits(self, mappings: list[Mapping]) -> list[ProbeSiteHits]:
        """The hits at each site so far, its address in the target turned into a file offset
        through the target's memory map (a site in no mapping is left out: its file was
        unmapped, and its line cannot be named)."""
        found: list[ProbeSiteHits] = []
        for address, hits in self._bpf["site_hits"].items():
            mapping = _mapping_of(mappings, int(address.value))
            if mapping is not None:
                offset = int(address.value) - mapping.start + mapping.offset
                found.append(ProbeSiteHits(mapping.path, offset, int(hits.value)))
        found.sort(key=lambda site: -site.hits)
        return found

    def _values(self, group: Any) -> list[int | str]:
        """The values of a ``group_t`` (a map key, or a hit's), one per argument asked for."""
        values: list[int | str] = []
        for slot, argument in enumerate(self.arguments):
            if argument.text:
                text = bytes(getattr(group, f"text{slot}"))
                values.append(text.split(b"\0", 1)[0].decode("utf-8", "replace"))
            else:
                values.append(ctypes.c_int64(int(getattr(group, f"number{slot}"))).value)
        return values


class ProbeArgCounter(ProbeProgram):
    """Hits counted in the kernel by argument values (argdist -C), or by the power of two of one
    integer argument (argdist -H)."""

    TABLES = ("groups", "site_hits")

    def __init__(
        self,
        pid: int,
        probe: str,
        sites: list[UsdtSite],
        arguments: list[ProbeArgument],
        histogram: bool = False,
    ) -> None:
        if histogram and (not arguments or arguments[0].text):
            raise UnknownTracepoint("a histogram is of an integer argument: give its number first")
        super().__init__(pid, probe, sites, arguments, {"HISTOGRAM": 1 if histogram else 0})

    def _groups(self) -> list[ProbeArgGroup]:
        groups = [
            ProbeArgGroup(int(count.value), self._values(key)) for key, count in self._bpf["groups"].items()
        ]
        groups.sort(key=lambda g: -g.count)
        return groups

    def _live(self, site_hits: list[ProbeSiteHits]) -> ProbeLive:
        groups = self._groups()[:LIVE_GROUPS]
        # The hits counted last: no site or group then holds more than the total says.
        return ProbeLive(self.events_so_far(), self.started_ns, site_hits, groups, [], 0)

    def collect(self) -> tuple[list[ProbeArgGroup], ProbeArgCounters]:
        groups = self._groups()
        counters = ProbeArgCounters(
            events=stat(self._bpf, EVENTS),
            lost=stat(self._bpf, LOST),
            truncated=stat(self._bpf, TRUNCATED),
            unreadable=stat(self._bpf, UNREADABLE),
        )
        return groups, counters


class ProbeHitTracer(ProbeProgram):
    """Every hit sent with its values and time (bcc's trace), at most ``rate_limit`` a second and
    ``max_hits`` kept; the rest counted by why."""

    TABLES = ("site_hits",)

    def __init__(
        self,
        pid: int,
        probe: str,
        sites: list[UsdtSite],
        arguments: list[ProbeArgument],
        rate_limit: int,
        max_hits: int,
        stacks: bool = False,
    ) -> None:
        mode = {"TRACE": 1, "RATE_LIMIT": rate_limit, "TRACE_STACKS": 1 if stacks else 0}
        super().__init__(pid, probe, sites, arguments, mode)
        self._hits: ExemplarBuffer[ProbeHit] = ExemplarBuffer(
            self._bpf, self._hit_of, HIT_BUFFER_PAGES, table="hits", keep=max_hits
        )
        self._exemplars = self._hits

    def _live(self, site_hits: list[ProbeSiteHits]) -> ProbeLive:
        shown, not_shown = self._hits.unreported(LIVE_HITS)
        return ProbeLive(self.events_so_far(), self.started_ns, site_hits, [], shown, not_shown)

    def _hit_of(self, event: Any) -> ProbeHit:
        return ProbeHit(int(event.time_ns), int(event.tid), self._values(event), int(event.user_stack_id))

    def collect(self) -> tuple[list[ProbeHit], ProbeTraceCounters, dict[int, list[int]]]:
        self.poll(0)  # what is still in the ring
        counters = ProbeTraceCounters(
            events=stat(self._bpf, EVENTS),
            rate_limited=stat(self._bpf, LIMITED),
            ring_full=stat(self._bpf, RING_FULL),
            dropped=self._hits.dropped,
            truncated=stat(self._bpf, TRUNCATED),
            unreadable=stat(self._bpf, UNREADABLE),
        )
        hits = list(self._hits.records)
        table = self._bpf["stack_traces"]
        stacks = {
            stack: [int(address) for address in table.walk(stack)]
            for stack in {hit.stack for hit in hits if hit.stack >= 0}
        }
        self._reset()
        return hits, counters, stacks


def _mapping_of(mappings: list[Mapping], address: int) -> Mapping | None:
    for mapping in mappings:
        if mapping.start <= address < mapping.end:
            return mapping
    return None


def _slot_settings(context: Any, probe: str, group_by: list[ProbeArgument]) -> dict[str, str]:
    """The settings of both slots (``-D`` macros): numbers, and C types from the notes' closed
    list."""

    def ctype(number: int) -> str:
        text = context.get_probe_arg_ctype(probe, number - 1)
        if text not in C_TYPES:
            raise UnknownTracepoint(f"{probe} has no argument {number} (or one of an unknown type {text!r})")
        return str(text)

    settings: dict[str, str] = {}
    for slot in range(2):
        argument = group_by[slot] if slot < len(group_by) else None
        if argument is None:
            settings |= {f"SLOT{slot}_ARG": "0", f"SLOT{slot}_LENGTH": "0"}
            continue
        length = argument.length_argument or argument.number
        if argument.text and ctype(argument.number) not in ("uint64_t", "int64_t"):
            raise UnknownTracepoint(
                f"argument {argument.number} of {probe} is not a pointer: it holds no text"
            )
        settings |= {
            f"SLOT{slot}_ARG": str(argument.number),
            f"SLOT{slot}_TYPE": ctype(argument.number),
            f"SLOT{slot}_TEXT": "1" if argument.text else "0",
            f"SLOT{slot}_HAS_LENGTH": "1" if argument.text and argument.length_argument else "0",
            f"SLOT{slot}_LENGTH": str(length),
            f"SLOT{slot}_LENGTH_TYPE": ctype(length),
        }
    return settings
