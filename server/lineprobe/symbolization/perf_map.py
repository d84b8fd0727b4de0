"""Names for JIT-compiled code from ``/tmp/perf-PID.map``, the file JITs write for perf.

Node (``--perf-basic-prof``), the JVM (perf-map-agent, ``-XX:+DumpPerfMapAtExit``)
and others write one line per compiled function: ``START SIZE NAME``, hex
without ``0x``. The code lives in anonymous executable mappings, where no ELF
file can name it.

Anyone can write to /tmp, so the file is trusted only as perf trusts it: a
regular file (not a symlink) owned by the target's user or by root.
Reading is bounded (``MAX_BYTES``, ``MAX_ENTRIES``): a huge or garbage file
costs a message, not the profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lineprobe.symbolization.regular_file import open_runtime_file
from lineprobe.symbolization.symbol_table import SymbolTable

MAX_BYTES = 256 << 20
"""A busy JVM's map runs to tens of MB; past this the rest is not read."""
MAX_ENTRIES = 2_000_000
MAX_LINE = 4096


@dataclass
class PerfMap:
    path: str
    symbols: SymbolTable = field(default_factory=SymbolTable)
    problems: list[str] = field(default_factory=list)

    def lookup(self, address: int) -> str | None:
        return self.symbols.lookup(address)


def perf_map_path(pid: int, root: str = "") -> str:
    return f"{root}/tmp/perf-{pid}.map"


def load_perf_map(path: str, owner_uid: int) -> PerfMap | None:
    """The map at ``path`` if it exists and may be trusted; problems say why parts were not used."""
    result = PerfMap(path)
    opened, problem = open_runtime_file(path, owner_uid, "JIT frames stay unnamed")
    if opened is None:
        if problem is None:
            return None
        result.problems.append(problem)
        return result
    with opened as file:
        entries: dict[int, tuple[int, str]] = {}
        skipped = 0
        read = 0
        while raw := file.readline(MAX_LINE + 1):
            read += len(raw)
            entry = _parse_line(raw) if len(raw) <= MAX_LINE else None
            if len(raw) > MAX_LINE:  # an over-long line: skip to its end, a bounded chunk at a time
                while raw and not raw.endswith(b"\n") and read <= MAX_BYTES:
                    raw = file.readline(1 << 16)
                    read += len(raw)
            if read > MAX_BYTES or len(entries) >= MAX_ENTRIES:
                result.problems.append(
                    f"{path}: only the first {read >> 20} MB / {len(entries)} entries read; "
                    "later JIT code stays unnamed"
                )
                break
            if entry is None:
                skipped += 1
                continue
            start, size, name = entry
            entries[start] = (start + size, name)  # a later line for the same code wins
        if skipped:
            result.problems.append(f"{path}: {skipped} malformed lines skipped")
    starts = sorted(entries)
    result.symbols = SymbolTable(starts, [entries[a][0] for a in starts], [entries[a][1] for a in starts])
    return result


def _parse_line(raw: bytes) -> tuple[int, int, str] | None:
    if len(raw) > MAX_LINE:
        return None
    parts = raw.rstrip(b"\r\n").split(b" ", 2)
    if len(parts) != 3 or not parts[2]:
        return None
    try:
        start, size = int(parts[0], 16), int(parts[1], 16)
    except ValueError:
        return None
    if not (0 <= start < 1 << 64 and 0 < size < 1 << 32):
        return None
    return start, size, parts[2].decode("utf-8", errors="replace")
