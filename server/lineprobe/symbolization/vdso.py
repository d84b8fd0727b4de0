"""The kernel's vDSO as a file lineprobe can read: the code behind ``clock_gettime`` and
``gettimeofday`` without a system call, mapped as ``[vdso]`` into every process.

The kernel maps one vDSO image into every 64-bit process, so the server's own copy (read from
its own memory, which needs no privilege) names the traced process's, as perf names it from the
kernel's. It is kept in the index cache under its content's hash: the same bytes, one file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def own_vdso() -> bytes | None:
    """This process's vDSO, as the kernel mapped it; None where it has none (or it is unreadable)."""
    try:
        with open("/proc/self/maps", encoding="ascii", errors="replace") as maps:
            ranges = [line.split()[0] for line in maps if line.rstrip().endswith("[vdso]")]
        if not ranges:
            return None
        low, high = (int(part, 16) for part in ranges[0].split("-"))
        with open("/proc/self/mem", "rb", buffering=0) as memory:
            memory.seek(low)
            return memory.read(high - low)
    except (OSError, ValueError, OverflowError):
        return None


def vdso_file(folder: Path) -> Path | None:
    """The vDSO written under ``folder`` (made if need be), named by its content's hash."""
    image = own_vdso()
    if not image:
        return None
    path = folder / "vdso" / f"{hashlib.sha256(image).hexdigest()[:16]}.so"
    if path.is_file():
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.write_bytes(image)
        os.replace(temporary, path)
    except OSError:
        return None
    return path
