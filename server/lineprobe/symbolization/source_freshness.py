"""Whether a source file on disk is the one a binary was built from.

Lines map into the text that was compiled. If the file changed since, a hot
line may point at other code, so a finding on it is flagged, never shown as
if it were exact. Two checks, the stronger first:

- DWARF 5 line tables may carry each file's MD5 (clang writes it; gcc 12 does
  not): a different MD5 on disk is a different file, whatever its date;
- otherwise, a source modified after the binary was linked (mtime, with a
  second of slack for coarse file systems) may have moved.
"""

from __future__ import annotations

import os
import stat

MAX_SOURCE_BYTES = 64 << 20
"""Larger "sources" are not hashed (generated data, not code someone edits)."""


def source_problem(source: str, checksum: str | None, binary: str) -> str | None:
    """Why lines of ``binary`` in ``source`` may not match the file on disk, or None."""
    try:
        info = os.stat(source)
    except OSError:
        return None  # not on this machine: nothing to compare, and the path says where it was
    if not stat.S_ISREG(info.st_mode):
        return None
    if checksum is not None and info.st_size <= MAX_SOURCE_BYTES:
        try:
            with open(source, "rb") as file:
                import hashlib  # here: only DWARF 5 sources with an MD5 need it (5 ms to import)

                digest = hashlib.md5(file.read(), usedforsecurity=False).hexdigest()
        except OSError:
            return None
        if digest != checksum:
            return (
                f"{source} is not the file {binary} was built from (its MD5 differs from the one in "
                "the DWARF line table): lines there may point at other code"
            )
        return None
    try:
        built = os.stat(binary).st_mtime
    except OSError:
        return None
    if info.st_mtime > built + 1:
        return f"{source} was modified after {binary} was built: lines there may have moved"
    return None
