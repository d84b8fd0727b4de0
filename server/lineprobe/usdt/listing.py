"""The USDT probes of a file or of a running process (what ``tplist -v`` lists), with the source line
of each probe site where the file has DWARF for it.

Needs no privileges: the notes are in the files, and a process's files are
found through its ``/proc/PID/maps`` (readable by its owner).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from lineprobe.model.mapping import executable_files
from lineprobe.symbolization.frame import SourceFrame
from lineprobe.symbolization.resolver import ImageCache
from lineprobe.usdt.notes import NotesUnreadable, ProbeArgument, ProbeNote, probe_notes


class ProbesUnavailable(Exception):
    """No such file or process, or it cannot be read: the message says which, and why."""


@dataclass(frozen=True)
class ProbeSite:
    address: int
    semaphore: int
    source: SourceFrame | None
    """The probe's line, where the file has DWARF for its address (the user's own probes)."""


@dataclass
class UsdtProbe:
    provider: str
    name: str
    binary: str
    arguments: tuple[ProbeArgument, ...]
    """As the first site passes them (every site of a probe passes the same values, in the
    registers or stack slots its code has them in)."""
    sites: list[ProbeSite] = field(default_factory=list)

    @property
    def probe(self) -> str:
        return f"{self.provider}:{self.name}"

    @property
    def semaphore(self) -> int:
        return self.sites[0].semaphore if self.sites else 0


@dataclass
class ProbeListing:
    binaries: list[str]
    """Every file looked at, probes or not, in the order looked at."""
    probes: list[UsdtProbe]
    problems: list[str]
    """Files that could not be read (the others are listed all the same)."""


def _probes_of(path: str, display: str, cache: ImageCache, root: str = "") -> list[UsdtProbe]:
    image = cache.image(path, None, root)
    notes: list[ProbeNote] = probe_notes(image)
    if not notes:
        return []
    dwarf = image.dwarf
    frames = dwarf.frames_many([n.address for n in notes], display) if dwarf is not None else []
    by_name: dict[tuple[str, str], UsdtProbe] = {}
    for index, note in enumerate(notes):
        probe = by_name.get((note.provider, note.name))
        if probe is None:
            probe = by_name[(note.provider, note.name)] = UsdtProbe(
                note.provider, note.name, display, note.arguments
            )
        chain = frames[index] if index < len(frames) else None
        source = chain[0] if chain and chain[0].path and chain[0].line else None
        probe.sites.append(ProbeSite(note.address, note.semaphore, source))
    return list(by_name.values())


def probes_of_binary(path: str, cache: ImageCache) -> ProbeListing:
    if not os.path.exists(path):
        raise ProbesUnavailable(f"no such file: {path}")
    if not os.path.isfile(path):
        raise ProbesUnavailable(f"not a regular file: {path}")
    try:
        probes = _probes_of(path, path, cache)
    except NotesUnreadable as exc:
        raise ProbesUnavailable(str(exc)) from None
    except OSError as exc:
        raise ProbesUnavailable(f"cannot read {path}: {exc.strerror}") from None
    return ProbeListing([path], probes, [])


def mapped_files(pid: int) -> list[str]:
    """The files a process maps executable, in address order, each once."""
    try:
        with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as maps:
            text = maps.read()
    except FileNotFoundError:
        raise ProbesUnavailable(f"no process {pid}") from None
    except PermissionError:
        raise ProbesUnavailable(
            f"cannot read the map of process {pid}: it belongs to another user (list its files' "
            "probes with --binary, or run as its owner)"
        ) from None
    return executable_files(text)


def probes_of_process(pid: int, cache: ImageCache) -> ProbeListing:
    """Probes of the process's executable and every library it maps, read through its root."""
    binaries = mapped_files(pid)
    probes: list[UsdtProbe] = []
    problems: list[str] = []
    for path in binaries:
        if path.endswith(" (deleted)"):
            problems.append(f"{path}: deleted since the process mapped it")
            continue
        try:
            probes.extend(_probes_of(path, path, cache, root=f"/proc/{pid}/root"))
        except NotesUnreadable as exc:
            problems.append(str(exc))
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror}")
    return ProbeListing(binaries, probes, problems)
