"""Uprobe sites a caller asks for (a source line's addresses, found by the server in its line
tables), checked against what the target maps before root places a breakpoint there.

The server names a file and an ELF virtual address in it. The agent places the uprobe only
where the target runs code of that very file: the file must be mapped executable by the
target, and the address must fall in a PF_X segment of it whose file bytes one of those
executable mappings covers. The ELF headers are read through the mapping itself
(``/proc/PID/map_files``), never by a path the caller could have redirected. That the address
is an instruction's first byte the agent takes from the line table, as ``perf probe`` does:
a wrong one can only break the target, which the caller may debug (and stop) anyway, since
the kernel places a per-process uprobe in the target's memory alone.
"""

from __future__ import annotations

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from lineprobe_agent.mapped_files import open_mapped
from lineprobe_agent.proc_maps import MapsEntry, read_maps

PF_X = 1


class SiteRefused(Exception):
    """A site the target does not run code at; the message says which and why."""


def _segments(pid: int, entry: MapsEntry) -> list[tuple[int, int, int]]:
    """The executable PT_LOAD segments of the file mapped at ``entry``: (vaddr, offset, size)."""
    try:
        with open_mapped(pid, entry.start, entry.end) as stream:
            return [
                (int(seg["p_vaddr"]), int(seg["p_offset"]), int(seg["p_filesz"]))
                for seg in ELFFile(stream).iter_segments(type="PT_LOAD")
                if int(seg["p_flags"]) & PF_X
            ]
    except (OSError, ELFError, ValueError) as exc:
        raise SiteRefused(
            f"{entry.path}, mapped by process {pid}, is not a readable ELF file: {exc}"
        ) from None


def checked_sites(pid: int, sites: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """``sites`` (path as the target maps it, ELF virtual address), each as bcc attaches a uprobe
    by path in the target's own file system view (``/proc/PID/root/...``). Raises SiteRefused
    naming the first site the target runs no code of that file at; OSError when the target is
    gone."""
    entries = read_maps(pid)
    segments: dict[str, list[tuple[int, int, int]]] = {}
    mapped: dict[str, list[MapsEntry]] = {}
    for entry in entries:
        if entry.executable and entry.inode and entry.path.startswith("/"):
            mapped.setdefault(entry.path, []).append(entry)
    checked: list[tuple[str, int]] = []
    for path, address in sites:
        code = mapped.get(path)
        if not code:
            raise SiteRefused(f"process {pid} maps no executable code of {path}")
        if path not in segments:
            segments[path] = _segments(pid, code[0])
        offset = next(
            (
                address - vaddr + file_offset
                for vaddr, file_offset, size in segments[path]
                if vaddr <= address < vaddr + size
            ),
            None,
        )
        if offset is None or not any(e.offset <= offset < e.offset + (e.end - e.start) for e in code):
            raise SiteRefused(f"{address:#x} is not in code of {path} that process {pid} maps executable")
        checked.append((f"/proc/{pid}/root{path}", address))
    return checked
