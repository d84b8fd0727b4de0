"""JIT code with its source lines, from the runtime's jitdump (``jit-PID.dump``).

The jitdump format is perf's (tools/perf/Documentation/jitdump-specification.txt): a
40-byte file header, then records, each ``id, total_size, timestamp`` and a body:

- ``JIT_CODE_LOAD`` (0): pid, tid, vma, code address, code size, code index, a
  NUL-terminated name, then the machine code itself (skipped here);
- ``JIT_CODE_MOVE`` (1): code that moved (old address, new address, size);
- ``JIT_CODE_DEBUG_INFO`` (2), before the load it describes: the code address and
  entries of ``address, line, column/discriminator, file name``. lineprobe's JVMTI agent
  (``runtimes/lineprobe_jvmti.c``) names each entry ``SOURCE<TAB>METHOD`` and writes an
  inlined range as several entries at one address, its inline chain innermost first.

Node writes it with ``--perf-prof``, in its working directory. V8 has three ways of its
own that this reader absorbs, all seen in Node 20: entry addresses are the instruction's
plus 0x40 (the ELF header ``perf inject`` puts before the code); a file name of ``\\xff``
means "the same as the previous entry"; and the first 16 bytes of a name may be
overwritten (the string is read after it was freed: glibc keeps its free-list links
there), so a damaged name is restored from the scripts the dump's code loads name,
by its intact tail.

The file is trusted only as a perf map is (``perf_map.py``): a regular file, not a symlink,
owned by the target's user or root, read within ``MAX_BYTES``. A dump still being written
ends in a partial record, which is left for the next read.
"""

from __future__ import annotations

import bisect
import os
import re
import struct
from dataclasses import dataclass, field, replace

from lineprobe.symbolization.regular_file import read_runtime_file

MAGIC = 0x4A695444  # "JiTD"
HEADER = struct.Struct("<IIIIIIQQ")
RECORD = struct.Struct("<IIQ")
LOAD = struct.Struct("<IIQQQQ")
MOVE = struct.Struct("<IIQQQQQ")
DEBUG = struct.Struct("<QQ")
ENTRY = struct.Struct("<QII")
CODE_LOAD, CODE_MOVE, CODE_DEBUG_INFO = 0, 1, 2
V8_ELF_HEADER = 0x40
"""What V8 adds to every debug entry's address (perf-jit.cc's kElfHeaderSize)."""
MAX_BYTES = 512 << 20
"""Past this much of a dump (mostly machine code), later code stays with the perf map's names."""

_V8_NAME = re.compile(r"^(?:JS|LazyCompile|Function):([~^+*]?)(\S*) (\S+?)(?::(\d+)(?::(\d+))?)?$")
"""``JS:*digest /srv/svc.js:4:16``: tier mark, function (empty: anonymous), script, line, column."""


@dataclass(frozen=True)
class JitPosition:
    address: int
    """Where the instructions of this source position start (runtime address)."""
    path: str | None
    line: int
    column: int = 0
    """1-based, where the runtime says (V8 does; 0: not said)."""
    function: str | None = None
    """The method these instructions are of, where the dump says (lineprobe's JVMTI agent)."""
    callers: tuple[tuple[str | None, str | None, int], ...] = ()
    """The methods it was inlined into, innermost first: (function, path, line of the call)."""


@dataclass(frozen=True)
class JitCode:
    """One piece of compiled code: its range, its name and where it came from."""

    start: int
    end: int
    name: str
    """The runtime's name for it (``JS:*digest /srv/svc.js:4:16``, ``Builtin:...``)."""
    function: str
    """The function alone (``digest``; ``(anonymous)`` for a JavaScript function without one)."""
    script: str | None
    """The source file of a JavaScript function, from its name."""
    function_line: int | None
    function_column: int | None = None
    positions: tuple[JitPosition, ...] = ()
    """Source positions by address, ascending."""

    def position(self, address: int) -> JitPosition | None:
        """The source position whose instructions hold ``address`` (None: before the first)."""
        positions = self.positions
        i = bisect.bisect_right([p.address for p in positions], address) - 1
        return positions[i] if i >= 0 else None


@dataclass
class JitDump:
    path: str
    codes: list[JitCode] = field(default_factory=list)
    """By start address; where code was loaded over older code, the newer one."""
    problems: list[str] = field(default_factory=list)
    _starts: list[int] = field(default_factory=list)

    def lookup(self, address: int) -> JitCode | None:
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0 and address < self.codes[i].end:
            return self.codes[i]
        return None


def jitdump_path(pid: int, directory: str) -> str:
    return os.path.join(directory, f"jit-{pid}.dump")


def load_jitdump(path: str, owner_uid: int) -> JitDump | None:
    """The dump at ``path`` if it exists and may be trusted (None: there is none)."""
    result = JitDump(path)
    read = read_runtime_file(
        path, owner_uid, "JIT lines are not read from it", MAX_BYTES, "later JIT code has no lines"
    )
    if read is None:
        return None
    data, problems = read
    result.problems.extend(problems)
    if data is None:
        return result
    try:
        _parse(data, result)
    except (struct.error, ValueError) as exc:
        result.problems.append(f"{path}: not a jitdump ({exc}); JIT lines are not read from it")
        result.codes = []
    result._starts = [code.start for code in result.codes]
    return result


def _parse(data: bytes, result: JitDump) -> None:
    magic, _version, header_size, _mach, _pad, _pid, _time, _flags = HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise ValueError("no JiTD magic")
    offset = header_size
    records: list[tuple[int, int, int]] = []  # kind, body offset, record end
    end = len(data)
    while offset + RECORD.size <= end:
        kind, size, _timestamp = RECORD.unpack_from(data, offset)
        if size < RECORD.size or size > MAX_BYTES:
            result.problems.append(
                f"{result.path}: a damaged record at byte {offset}; JIT code loaded after it has no lines"
            )
            break
        if offset + size > end:
            break  # the record being written: read again next time
        records.append((kind, offset + RECORD.size, offset + size))
        offset += size
    loaded: dict[int, str] = {}  # body offset -> name, of every code load
    for kind, body, record_end in records:
        if kind == CODE_LOAD:
            name_at = body + LOAD.size
            loaded[body] = data[name_at : data.index(b"\0", name_at, record_end)].decode("utf-8", "replace")
    scripts = {script for name in loaded.values() if (script := v8_name_parts(name)[1]) is not None}
    damaged = sorted(({s.encode() for s in scripts if len(s.encode()) > 16}), key=len, reverse=True)
    # Loads and moves in the order they happened (debug info comes just before its load).
    events: list[tuple[int, int, int, str | None, list[tuple[int, int, int, str | None]]]] = []
    pending: dict[int, list[tuple[int, int, int, str | None]]] = {}
    for kind, body, record_end in records:
        if kind == CODE_LOAD:
            _pid, _tid, _vma, address, code_size, _index = LOAD.unpack_from(data, body)
            events.append((address, address, code_size, loaded[body], pending.pop(address, [])))
        elif kind == CODE_MOVE:
            _pid, _tid, _vma, old, new, code_size, _index = MOVE.unpack_from(data, body)
            events.append((old, new, code_size, None, []))
        elif kind == CODE_DEBUG_INFO:
            address, count = DEBUG.unpack_from(data, body)
            pending[address] = _debug_entries(data, body + DEBUG.size, record_end, count, damaged)
    bias = V8_ELF_HEADER if any(name.startswith(("JS:", "LazyCompile:")) for name in loaded.values()) else 0
    by_start: dict[int, tuple[int, JitCode]] = {}  # start -> (when it got there, code)
    for when, (old, new, code_size, name, entries) in enumerate(events):
        if name is not None:
            by_start[new] = (when, _code(new, code_size, name, entries, bias))
        elif old in by_start:
            code = by_start.pop(old)[1]
            delta = new - old
            positions = tuple(replace(p, address=p.address + delta) for p in code.positions)
            by_start[new] = (when, replace(code, start=new, end=new + code_size, positions=positions))
    # Code loaded over older code (its memory reused) replaces it: of overlapping ranges, the newer.
    kept: list[tuple[int, JitCode]] = []
    for start in sorted(by_start):
        when, code = by_start[start]
        while kept and kept[-1][1].end > code.start and kept[-1][0] < when:
            kept.pop()
        if kept and kept[-1][1].end > code.start:
            continue  # older than the code it overlaps
        kept.append((when, code))
    result.codes = [code for _, code in kept]


def _debug_entries(
    data: bytes, at: int, end: int, count: int, damaged: list[bytes]
) -> list[tuple[int, int, int, str | None]]:
    """A debug record's entries: address, line, column (V8's; the discriminator field of perf's
    format) and file name (None where it cannot be read)."""
    entries: list[tuple[int, int, int, str | None]] = []
    previous: str | None = None
    for _ in range(count):
        if at + ENTRY.size > end:
            raise ValueError("a debug record shorter than its entries")
        address, line, column = ENTRY.unpack_from(data, at)
        at += ENTRY.size
        if data[at : at + 2] == b"\xff\0":  # the previous entry's file
            path, at = previous, at + 2
        else:
            path, at = _file_name(data, at, end, damaged)
        previous = path
        entries.append((address, line, column, path))
    return entries


def _file_name(data: bytes, at: int, end: int, damaged: list[bytes]) -> tuple[str | None, int]:
    """A NUL-terminated file name at ``at`` and where the next entry starts. A damaged one (its
    first 16 bytes overwritten, NULs possibly among them) is known by its intact tail and its
    terminator, among the scripts the dump's code loads name."""
    # The known scripts first: damaged bytes may well decode as a short, printable name.
    for script in damaged:
        after = at + len(script)
        if after < end and data[after] == 0 and data[at + 16 : after] == script[16:]:
            return script.decode("utf-8", "replace"), after + 1
    terminator = data.index(b"\0", at, end)
    raw = data[at:terminator]
    try:
        name = raw.decode("utf-8")
        if name.replace("\t", " ").isprintable():
            return name, terminator + 1
    except UnicodeDecodeError:
        pass
    return None, terminator + 1


def _code(
    address: int,
    size: int,
    name: str,
    entries: list[tuple[int, int, int, str | None]],
    bias: int,
) -> JitCode:
    function, script, function_line, function_column = v8_name_parts(name)
    # Entries "SOURCE<TAB>METHOD" at one address are an inline chain, innermost first
    # (lineprobe's JVMTI agent); V8's are one file name per address.
    chains: dict[int, list[tuple[str | None, str | None, int]]] = {}
    columns: dict[int, int] = {}
    for at, line, column, named in entries:
        path, _, method = named.partition("\t") if named is not None else (None, "", "")
        frame = (method or None, path or None, line)
        if method and at in chains and chains[at][-1][0] is not None:
            chains[at].append(frame)
        else:
            chains[at] = [frame]
            columns[at] = column
    positions = [
        JitPosition(at - bias, chain[0][1], chain[0][2], columns[at], chain[0][0], tuple(chain[1:]))
        for at, chain in sorted(chains.items())
    ]
    return JitCode(
        address, address + size, name, function, script, function_line, function_column, tuple(positions)
    )


def v8_name_parts(name: str) -> tuple[str, str | None, int | None, int | None]:
    """Function, script, line and column of a V8 code name; other names are their own function."""
    match = _V8_NAME.match(name)
    if match is None:
        return name, None, None, None
    function = match.group(2) or "(anonymous)"
    line = int(match.group(4)) if match.group(4) else None
    column = int(match.group(5)) if match.group(5) else None
    return function, match.group(3), line, column
