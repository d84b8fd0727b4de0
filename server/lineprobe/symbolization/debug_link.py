"""Separate debug files named by ``.gnu_debuglink``: a file name and the CRC-32 of that file.

Distributions install most debug files by build-id (``/usr/lib/debug/.build-id/``,
see ``elf_image.debug_file_for``); ``objcopy --add-gnu-debuglink`` names one
instead, and GDB's search order finds it: next to the binary, in a ``.debug``
folder next to it, then under ``/usr/lib/debug`` plus the binary's folder.

The name comes from the file being read, so it is taken as a bare file name
only; a candidate must be a regular file (a FIFO would block, ``/dev/zero``
never ends) and its CRC-32 must match, so a stale or unrelated file is never
used to map lines.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path

from lineprobe.symbolization.regular_file import open_regular

CHUNK = 1 << 20


@dataclass(frozen=True)
class DebugLink:
    name: str
    crc: int


def parse_debuglink(data: bytes) -> DebugLink | None:
    """The section's file name (NUL-terminated, padded to 4 bytes) and the CRC that follows it."""
    end = data.find(b"\0")
    if end <= 0:
        return None
    crc_at = (end + 4) & ~3
    if crc_at + 4 > len(data):
        return None
    name = data[:end].decode("utf-8", errors="replace")
    return DebugLink(name, int.from_bytes(data[crc_at : crc_at + 4], "little"))


def candidates(binary: str, link: DebugLink, debug_root: Path = Path("/usr/lib/debug")) -> list[Path]:
    folder = Path(binary).resolve().parent
    return [
        folder / link.name,
        folder / ".debug" / link.name,
        debug_root / folder.relative_to("/") / link.name,
    ]


def file_crc(path: Path) -> int:
    """CRC-32 of a regular file; raises OSError for anything else (FIFO, device, symlink loop)."""
    fd, _ = open_regular(path)
    try:
        crc = 0
        while chunk := os.read(fd, CHUNK):
            crc = zlib.crc32(chunk, crc)
        return crc
    finally:
        os.close(fd)


def find_debug_file(
    binary: str, link: DebugLink, debug_root: Path = Path("/usr/lib/debug")
) -> tuple[Path | None, list[str]]:
    """The debug file ``link`` names, verified by CRC, and why each other candidate was passed over."""
    if link.name in ("", ".", "..") or "/" in link.name:
        return None, [f"{binary}: .gnu_debuglink names {link.name!r}, which is not a file name: ignored"]
    problems: list[str] = []
    for candidate in candidates(binary, link, debug_root):
        try:
            if not os.path.lexists(candidate):
                continue
            if os.path.exists(binary) and os.path.samefile(candidate, binary):
                continue
            crc = file_crc(candidate)
        except OSError as exc:
            problems.append(
                f"{binary}: debug file {candidate} (.gnu_debuglink) unreadable: {exc.strerror or exc}"
            )
            continue
        if crc != link.crc:
            problems.append(
                f"{binary}: debug file {candidate} has CRC {crc:08x}, .gnu_debuglink expects "
                f"{link.crc:08x}: it belongs to another build, ignored"
            )
            continue
        return candidate, problems
    return None, problems
