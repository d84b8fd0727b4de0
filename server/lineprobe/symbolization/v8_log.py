"""JavaScript source positions with the functions TurboFan inlined, from V8's log
(``--log-code --log-source-code``).

V8's jitdump (``jitdump.py``) gives each range of compiled code one source position: in the
script of the innermost function inlined there, but without that function's name or the calls
it was inlined through, and under a file name V8 may have damaged (a short one beyond repair).
V8's log, ``isolate-0xADDR-PID-v8.log`` in node's working directory, has all of it (the records
its own ``--prof`` tick processor reads):

  code-creation,TAG,KIND,TIME,ADDRESS,SIZE,NAME,SFI,STATE
      NAME is ``digest /srv/svc.js:9:16`` (function, script, where it is declared; no function
      for an anonymous one), SFI the address of the function's SharedFunctionInfo
  code-source-info,ADDRESS,SCRIPT,START,END,POSITIONS,INLININGS,FUNCTIONS
      POSITIONS ``C<pc offset>O<source position>[I<inlining>]...``: from that offset of the code
      on, the position, in the inlined function the inlining (its index in INLININGS) names;
      INLININGS ``F<function>O<position of the call>[I<caller's inlining>]...``, without a
      caller's inlining where the call is in the code's own function; FUNCTIONS
      ``S<sfi address>...``, what F indexes
  script-source,ID,NAME,SOURCE
  code-move,FROM,TO and sfi-move,FROM,TO    (the garbage collector moved them)

Strings are escaped (``\\x2C`` for a comma, ``\\n``, ``\\uHHHH``, ``\\\\``), one escape to one
UTF-16 unit; source positions count UTF-16 units of the script's source.

V8 writes the log a line at a time, where the jitdump goes through a 2 MB buffer: code compiled
last (on-stack replacement of a hot loop, minutes into a service's life) may be in the log long
before it is in the jitdump, and is taken from the log then, its range from ``code-creation``.

The log is read as the jitdump is: a regular file, not a symlink, owned by the target's user or
root, within ``MAX_BYTES``; a line still being written (no newline yet) is left out.
"""

from __future__ import annotations

import bisect
import glob
import os
import re
from dataclasses import dataclass, field, replace

from lineprobe.symbolization.jitdump import JitCode, JitDump, JitPosition, v8_name_parts
from lineprobe.symbolization.regular_file import read_runtime_file

MAX_BYTES = 256 << 20
"""Mostly the scripts' sources, written once each, and a record per compiled function."""

MACHINE_CODE = ("*", "^", "+")
"""The states of a function's code that are machine code of its own: optimized (TurboFan),
baseline (Sparkplug), Maglev. ``~`` is its bytecode, which the interpreter runs."""

_NAME = re.compile(r"^(.*) (\S+):(\d+):(\d+)$")
_POSITION = re.compile(r"C(\d+)O(\d+)(?:I(\d+))?")
_INLINING = re.compile(r"F(\d+)O(\d+)(?:I(\d+))?")
_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|.)")
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\"}

Function = tuple[str, str | None]
"""A JavaScript function: its name (``(anonymous)``) and the script it is in."""


@dataclass(frozen=True)
class Inlining:
    function: Function
    call: int
    """Where it is called from, a source position in its caller's script."""
    caller: int | None
    """The inlining of its caller (None: the code's own function)."""


@dataclass(frozen=True)
class LoggedCode:
    """One piece of compiled code: its function, and the source position at each pc offset."""

    function: Function
    offsets: tuple[int, ...]
    """pc offsets, ascending, each where a source position starts."""
    positions: tuple[int, ...]
    """The source position from each offset on, in the script of the function it is in."""
    inlinings_at: tuple[int | None, ...]
    """The inlining each offset's position is in (None: the code's own function)."""
    inlinings: tuple[Inlining, ...]


@dataclass
class V8Log:
    path: str
    codes: dict[int, LoggedCode] = field(default_factory=dict)
    """Compiled code with source positions, by its start address."""
    scripts: dict[str, list[int]] = field(default_factory=dict)
    """Script name -> the source position each of its lines starts at."""
    ranges: dict[int, tuple[int, int, str]] = field(default_factory=dict)
    """Machine code's start -> when it was created (the record's number), its size and its name
    as the jitdump would give it (``JS:*digest /srv/svc.js:9:16``)."""
    problems: list[str] = field(default_factory=list)

    def place(self, script: str | None, position: int) -> tuple[int, int] | None:
        """The 1-based line and column of a source position of a script (None: a script whose
        source the log lacks)."""
        starts = self.scripts.get(script) if script is not None else None
        if not starts:
            return None
        line = bisect.bisect_right(starts, position)
        return line, position - starts[line - 1] + 1

    def positions(self, code: JitCode) -> tuple[JitPosition, ...] | None:
        """``code``'s source positions by address: each in the script of the function it is in,
        with the function inlined there and the calls it was inlined through (None: code the
        log does not describe, or whose scripts it lacks)."""
        logged = self.codes.get(code.start)
        if logged is None:
            return None
        found: list[JitPosition] = []
        for offset, position, at in zip(logged.offsets, logged.positions, logged.inlinings_at, strict=True):
            function = logged.function if at is None else logged.inlinings[at].function
            place = self.place(function[1], position)
            callers = self._callers(logged, at)
            if place is None or callers is None:
                return None
            found.append(
                JitPosition(
                    code.start + offset,
                    function[1],
                    place[0],
                    place[1],
                    function[0] if at is not None else None,
                    callers,
                )
            )
        return tuple(found)

    def _callers(self, logged: LoggedCode, at: int | None) -> tuple[tuple[str, str | None, int], ...] | None:
        """The calls an inlined function was inlined through, innermost first: each caller with
        its script and the line of the call (None: a script without its source)."""
        callers: list[tuple[str, str | None, int]] = []
        while at is not None:
            inlining = logged.inlinings[at]
            caller = (
                logged.function if inlining.caller is None else logged.inlinings[inlining.caller].function
            )
            place = self.place(caller[1], inlining.call)
            if place is None:
                return None
            callers.append((caller[0], caller[1], place[0]))
            at = inlining.caller
        return tuple(callers)


def v8_log_paths(pid: int, directory: str) -> list[str]:
    """The logs node (PID ``pid``) writes in ``directory``, one per isolate."""
    return sorted(glob.glob(os.path.join(glob.escape(directory), f"isolate-0x*-{pid}-v8.log")))


def load_v8_log(path: str, owner_uid: int) -> V8Log | None:
    """The log at ``path`` if it exists and may be trusted (None: there is none)."""
    read = read_runtime_file(
        path, owner_uid, "inlined functions are not named from it", MAX_BYTES, "later code is not"
    )
    if read is None:
        return None
    data, problems = read
    log = V8Log(path, problems=problems)
    if data is not None:
        _parse(data[: data.rfind(b"\n") + 1].decode("utf-8", "replace"), log)
    return log


def _parse(text: str, log: V8Log) -> None:
    by_sfi: dict[int, Function] = {}
    by_code: dict[int, Function] = {}
    for number, record in enumerate(text.splitlines()):
        fields = record.split(",")
        kind = fields[0]
        try:
            if kind == "code-creation" and len(fields) >= 9:
                name = _unescape(fields[6])
                named = _NAME.match(name)
                if named is not None:
                    function = (named.group(1).strip() or "(anonymous)", named.group(2))
                    start = int(fields[4], 16)
                    by_code[start] = by_sfi[int(fields[7], 16)] = function
                    if fields[8] in MACHINE_CODE and int(fields[5]) > 0:
                        log.ranges[start] = (number, int(fields[5]), f"{fields[1]}:{fields[8]}{name}")
            elif kind == "code-source-info" and len(fields) >= 8:
                start = int(fields[1], 16)
                code = _logged_code(fields, by_code.get(start), by_sfi)
                if code is not None:
                    log.codes[start] = code
            elif kind == "script-source" and len(fields) >= 4:
                source = _unescape(",".join(fields[3:]))
                starts = [0] + [m.end() for m in re.finditer("\n", source)]
                log.scripts[_unescape(fields[2])] = starts
            elif kind == "code-move" and len(fields) >= 3:
                old, new = int(fields[1], 16), int(fields[2], 16)
                if old in log.codes:
                    log.codes[new] = log.codes.pop(old)
                if old in log.ranges:
                    log.ranges[new] = log.ranges.pop(old)
                if old in by_code:
                    by_code[new] = by_code.pop(old)
            elif kind == "sfi-move" and len(fields) >= 3:
                old, new = int(fields[1], 16), int(fields[2], 16)
                if old in by_sfi:
                    by_sfi[new] = by_sfi.pop(old)
        except ValueError:
            log.problems.append(f"{log.path}: a damaged {kind} record; some inlined functions stay unnamed")


def _logged_code(
    fields: list[str], function: Function | None, by_sfi: dict[int, Function]
) -> LoggedCode | None:
    """A code-source-info record's positions and inlinings (None: code whose function, or an
    inlined one, the log did not name)."""
    positions, inlinings, functions = fields[5], fields[6], fields[7]
    if function is None:
        return None
    sfis = [int(sfi, 16) for sfi in functions.split("S")[1:]]
    table: list[Inlining] = []
    for match in _INLINING.finditer(inlinings):
        index = int(match.group(1))
        inlined = by_sfi.get(sfis[index]) if index < len(sfis) else None
        if inlined is None:
            return None
        caller = int(match.group(3)) if match.group(3) is not None else None
        if caller is not None and caller >= len(table):
            return None  # V8 numbers a caller's inlining before its callees': a damaged record
        table.append(Inlining(inlined, int(match.group(2)), caller))
    offsets: list[int] = []
    sources: list[int] = []
    at: list[int | None] = []
    for match in _POSITION.finditer(positions):
        inlining = int(match.group(3)) if match.group(3) is not None else None
        if inlining is not None and inlining >= len(table):
            return None
        offset = int(match.group(1))
        if offsets and offsets[-1] == offset:
            # Several positions at one offset: the last one holds from there.
            sources[-1], at[-1] = int(match.group(2)), inlining
        else:
            offsets.append(offset)
            sources.append(int(match.group(2)))
            at.append(inlining)
    if not offsets:
        return None
    return LoggedCode(function, tuple(offsets), tuple(sources), tuple(at), tuple(table))


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text

    def one(match: re.Match[str]) -> str:
        escape = match.group(1)
        if escape[0] in "xu" and len(escape) > 1:
            return chr(int(escape[1:], 16))
        return _SIMPLE_ESCAPES.get(escape, escape)

    return _ESCAPE.sub(one, text)


def with_v8_positions(jitdump: JitDump, logs: list[V8Log]) -> JitDump:
    """``jitdump`` with the source positions of V8's logs where they describe its code (named
    files, never damaged; the functions inlined there with the calls they were inlined through),
    and with the code the logs describe that the jitdump does not hold yet."""
    if not any(log.codes for log in logs):
        return jitdump
    codes: list[JitCode] = []
    for code in jitdump.codes:
        positions = next((found for log in logs if (found := log.positions(code)) is not None), None)
        codes.append(code if positions is None else replace(code, positions=positions))
    starts = [code.start for code in codes]
    for log in logs:
        for code in _not_in(log, starts, codes):
            i = bisect.bisect_left(starts, code.start)
            starts.insert(i, code.start)
            codes.insert(i, code)
    problems = [*jitdump.problems, *(problem for log in logs for problem in log.problems)]
    return replace(jitdump, codes=codes, problems=problems, _starts=starts)


def _not_in(log: V8Log, starts: list[int], codes: list[JitCode]) -> list[JitCode]:
    """The compiled code ``log`` describes that lies outside every code of ``codes`` (by start,
    ascending), the newer of two that overlap."""
    found: list[tuple[int, JitCode]] = []
    for start in sorted(log.codes):
        if start not in log.ranges:
            continue
        when, size, name = log.ranges[start]
        i = bisect.bisect_right(starts, start + size - 1) - 1
        if i >= 0 and codes[i].end > start:
            continue  # the jitdump has code here: its own, or newer than the log's
        function, script, function_line, function_column = v8_name_parts(name)
        code = JitCode(start, start + size, name, function, script, function_line, function_column)
        positions = log.positions(code)
        if positions is None:
            continue
        while found and found[-1][1].end > start and found[-1][0] < when:
            found.pop()
        if found and found[-1][1].end > start:
            continue
        found.append((when, replace(code, positions=positions)))
    return [code for _, code in found]
