"""Where a source line's code is: the addresses at which uprobes count the line's hits.

A line's hits are the times a thread enters its code. The line table gives each instruction its
line, or several where rows share an address (a call's line, then the first line of the function
inlined there, whose name a profile shows). A line's code is one or more runs of
consecutive instructions (a loop's test and its body, a copy per inlined call, code the
compiler moved), and a run is entered at its first instruction: a uprobe there counts the
entries. A jump into the middle of a run (a loop's branch back to past the run's first
instruction) is not an entry there, and is not counted. ``perf probe FILE:LINE`` probes each
statement row of the line instead: a line that gcc -O0 gives two rows in one run is counted
twice a run there (tests/privileged/test_line_hits.py).
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lineprobe.model.mapping import executable_files
from lineprobe.symbolization.dwarf_index import DwarfIndex
from lineprobe.symbolization.frame import INLINED, KERNEL, SourceFrame
from lineprobe.symbolization.frame_sources import resolve_in_image
from lineprobe.symbolization.resolver import ImageCache
from lineprobe.symbolization.unit_index import UnitIndex

MAX_SITES = 1024
"""The agent's bound on the uprobes of one trace (``MAX_PROBE_SITES``): said before asking."""

_SPEC = re.compile(r"(?P<path>.+):(?P<line>[1-9][0-9]{0,8})")


ChainKey = tuple[tuple[str | None, str | None, int | None, bool], ...]


def chain_key(frames: Sequence[SourceFrame]) -> ChainKey:
    """The frames of a stack's innermost user address (its inlined frames, then their function),
    as (function, path, line, inlined): what identifies a site among a profile's stacks."""
    chain: list[tuple[str | None, str | None, int | None, bool]] = []
    for frame in frames:
        if frame.kind is KERNEL:
            continue
        chain.append((frame.function, frame.path, frame.line, frame.kind is INLINED))
        if frame.kind is not INLINED:
            break
    return tuple(chain)


@dataclass(frozen=True)
class LineSpec:
    """A source line as a user names it: ``primes.c:41`` (any file whose path ends so) or an
    absolute path."""

    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"

    def matches(self, dwarf_path: str | None) -> bool:
        """Whether the line table's path of a file is this one's file."""
        if not dwarf_path:
            return False
        found = posixpath.normpath(dwarf_path)
        wanted = posixpath.normpath(self.path)
        if wanted.startswith("/"):
            return found == wanted
        return found == wanted or found.endswith("/" + wanted.removeprefix("./"))


def parse_line_spec(text: str) -> LineSpec:
    """``FILE:LINE``; ValueError with what was expected, in the words the user typed."""
    match = _SPEC.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"{text!r} is not FILE:LINE (a source file and a line number from 1, as primes.c:41)"
        )
    return LineSpec(match["path"], int(match["line"]))


@dataclass
class LineSites:
    """Where one line's code is in the files a process maps."""

    spec: LineSpec
    addresses: dict[str, list[int]] = field(default_factory=dict)
    """By the mapped file's path (as the process maps it): the ELF virtual addresses where the
    line's runs of code start, ascending."""
    sources: set[str] = field(default_factory=set)
    """The line tables' paths of the files that matched (two files of one name are both here)."""
    named: set[ChainKey] = field(default_factory=set)
    """How a profile names each site (``chain_key`` of its frames): a hit is found by it, since a
    site may be named on another line (a statement the compiler merged into the next one's
    instruction keeps a row of its own at that instruction, but the row after it names it)."""

    @property
    def count(self) -> int:
        return sum(len(found) for found in self.addresses.values())


def run_starts(unit: UnitIndex, spec: LineSpec) -> tuple[list[int], set[str]]:
    """The addresses in ``unit`` where a run of instructions of ``spec``'s line begins, and the
    paths of the files that matched."""
    files = {index for index, path in enumerate(unit.files) if spec.matches(path)}
    if not files:
        return [], set()
    a = unit.arrays
    addresses, ends, row_files, lines = a["row_address"], a["row_end_sequence"], a["row_file"], a["row_line"]
    starts: list[int] = []
    previous_ours = False  # the instruction before this address was the line's
    ours = False
    count = len(addresses)
    for i in range(count):
        # Several rows may share an address (a call's line, then the first line of the function
        # inlined there): the address is the line's if any of them is.
        ours = ours or (not ends[i] and lines[i] == spec.line and row_files[i] in files)
        if i + 1 < count and addresses[i + 1] == addresses[i]:
            continue
        if ours and not previous_ours:
            starts.append(addresses[i])
        previous_ours, ours = ours, False
    return starts, {path for index, path in enumerate(unit.files) if index in files and path}


def sites_in(dwarf: DwarfIndex, specs: Sequence[LineSpec]) -> list[tuple[list[int], set[str]]]:
    """Every run start of each line in one file's DWARF, ascending, and the paths of the files
    that matched: one pass over its units for all the lines."""
    found: list[set[int]] = [set() for _ in specs]
    sources: list[set[str]] = [set() for _ in specs]
    for unit in dwarf.units():
        for index, spec in enumerate(specs):
            starts, matched = run_starts(unit, spec)
            found[index].update(starts)
            sources[index] |= matched
    return [(sorted(addresses), matched) for addresses, matched in zip(found, sources, strict=True)]


def describe_missing(
    spec: LineSpec, searched: Iterable[str], sources: set[str], bare: Sequence[str] = ()
) -> str:
    """Why no site was found for ``spec``: no such file in the DWARF (``bare``: the files
    without any, which may be where it is), or no code on that line."""
    if not searched:
        return (
            f"{spec}: none of the files the process runs code of has debug information "
            "(build it with -g, or install its debug package)"
        )
    where = ", ".join(os.path.basename(path) for path in searched)
    if not sources:
        without = ""
        if bare:
            names = ", ".join(os.path.basename(path) for path in bare)
            without = f"; {names} {'has' if len(bare) == 1 else 'have'} none (build with -g)"
        return f"{spec}: no source file {spec.path!r} in the debug information of {where}{without}"
    return (
        f"{spec}: no code on line {spec.line} of {', '.join(sorted(sources))} "
        "(a comment, a declaration, or code the compiler removed): name a line with a statement"
    )


class LineSitesError(Exception):
    """No site for a line, too many, or a process whose map cannot be read: the message says."""


def find_sites(pid: int, specs: list[LineSpec], cache: ImageCache) -> list[LineSites]:
    """Every line's sites in the files process ``pid`` maps code of (their DWARF, or their
    separate debug files'), read with the caller's rights. Raises LineSitesError."""
    try:
        maps_text = Path(f"/proc/{pid}/maps").read_text()
    except FileNotFoundError:
        raise LineSitesError(f"no process {pid}") from None
    except OSError as exc:
        raise LineSitesError(f"cannot read the memory map of process {pid}: {exc.strerror}") from None
    files = [path for path in executable_files(maps_text) if not path.endswith(" (deleted)")]
    found = [LineSites(spec) for spec in specs]
    searched: list[str] = []
    bare: list[str] = []
    for path in files:
        image = cache.image(path, None, root=f"/proc/{pid}/root")
        debug = cache.debug_image(image) if image.dwarf is None and image.readable else None
        dwarf = image.dwarf or (debug.dwarf if debug is not None else None)
        if dwarf is None:
            if not path.startswith(("/usr/lib", "/lib")):
                bare.append(path)  # the program's own files: maybe where the line is
            continue  # no lines to find in it (system libraries, stripped files)
        searched.append(path)
        for sites, (addresses, sources) in zip(found, sites_in(dwarf, specs), strict=True):
            if addresses:
                sites.addresses[path] = addresses
                sites.named |= {
                    chain_key(resolve_in_image(image, address, path, debug, cache.demangle))
                    for address in addresses
                }
            sites.sources |= sources
    for sites in found:
        if not sites.count:
            raise LineSitesError(describe_missing(sites.spec, searched, sites.sources, bare))
    total = sum(sites.count for sites in found)
    if total > MAX_SITES:
        raise LineSitesError(
            f"these lines have {total:,} sites in process {pid}; lineprobe places at most {MAX_SITES:,} "
            "uprobes for one trace: name fewer lines, or the file by a longer path"
        )
    return found


def uprobe_sites(found: Sequence[LineSites]) -> list[tuple[str, int]]:
    """The lines' sites as the agent's ``line-hits`` request takes them (each a wire
    ``UprobeSite``: the file as the process maps it, the address)."""
    return [(path, address) for sites in found for path, at in sites.addresses.items() for address in at]
