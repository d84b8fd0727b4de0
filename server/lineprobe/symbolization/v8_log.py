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

Strings are escaped (``\\x2C`` for a comma, ``\\n``, ``\\uHHHH``, ``\\\\``): a script's source one
escape to one UTF-16 unit (its positions count those), a code's name one escape to a byte of its
UTF-8. An inlining V8 could not number is ``F`` alone, a position it does not know ``O-1``.

Memory V8 freed holds new code: the latest ``code-creation`` at an address says what is there.
The jitdump's code keeps its place unless the log shows newer code over it, and takes the log's
positions only where the log's latest code at its address is that code (same name and size).

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
from typing import TypeVar

from lineprobe.symbolization.jitdump import JitCode, JitDump, JitPosition, v8_name_parts
from lineprobe.symbolization.regular_file import read_runtime_file

MAX_BYTES = 256 << 20
"""Mostly the scripts' sources, written once each, and a record per compiled function."""
MAX_CODE_SIZE = 64 << 20
"""Larger than any code V8 makes: a record that says more is damaged."""
MAX_INLININGS = 10_000
MAX_INLINING_DEPTH = 64
"""Far beyond what TurboFan inlines; bounds the work a damaged or hostile record can ask for."""

MACHINE_CODE = ("*", "^", "+")
"""The states of a function's code that are machine code of its own: optimized (TurboFan),
baseline (Sparkplug), Maglev. ``~`` is its bytecode, which the interpreter runs."""

_NAME = re.compile(r"^(.*) (\S+):(\d+):(\d+)$")
_POSITIONS = re.compile(r"(?:C\d+O-?\d+(?:I\d+)?)*")
_POSITION = re.compile(r"C(\d+)O(-?\d+)(?:I(\d+))?")
_INLININGS = re.compile(r"(?:F\d*O-?\d+(?:I\d+)?)*")
_INLINING = re.compile(r"F(\d*)O(-?\d+)(?:I(\d+))?")
_FUNCTIONS = re.compile(r"(?:S0x[0-9a-fA-F]+)*")
_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|.)")
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\"}
_LINE_END = re.compile("\r\n?|[\n\u2028\u2029]")
"""JavaScript's line terminators."""

T = TypeVar("T")
Function = tuple[str, str | None]
"""A JavaScript function: its name (``(anonymous)``) and the script it is in."""
UNKNOWN: Function = ("(unknown)", None)
"""An inlined function V8 did not number: its positions have no script, so no line."""
Caller = tuple[str, str | None, int]
"""A function an inlined one was inlined into: its name, its script and the line of the call."""


@dataclass(frozen=True)
class Inlining:
    function: Function
    call: int
    """Where it is called from, a source position in its caller's script (-1: not known)."""
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


@dataclass(frozen=True)
class CodeRange:
    """The latest code V8 created at an address."""

    when: int
    """The record's number: of two codes, the higher is the newer."""
    size: int
    name: str
    """As the jitdump names it (``JS:*digest /srv/svc.js:9:16``)."""
    machine_code: bool
    """A function's own machine code (``MACHINE_CODE``), which samples may land in."""


@dataclass
class V8Log:
    path: str
    codes: dict[int, LoggedCode] = field(default_factory=dict)
    """Compiled code with source positions, by its start address."""
    scripts: dict[str, tuple[list[int], int]] = field(default_factory=dict)
    """Script name -> the source position each of its lines starts at, and its length."""
    ranges: dict[int, CodeRange] = field(default_factory=dict)
    """Code start -> the latest code created there."""
    problems: list[str] = field(default_factory=list)
    cut: bool = False
    """Read up to ``MAX_BYTES`` only: the newest code is not in what was read."""

    def place(self, script: str | None, position: int) -> tuple[int, int] | None:
        """The 1-based line and column of a source position of a script ((0, 0): a position V8
        did not know; None: a script whose source the log lacks, or a position past its end)."""
        found = self.scripts.get(script) if script is not None else None
        if found is None or position > found[1]:
            return None  # no source, or not this one: a script of that name that changed
        if position < 0:
            return 0, 0
        starts = found[0]
        line = bisect.bisect_right(starts, position)
        return line, position - starts[line - 1] + 1

    def is_current(self, code: JitCode) -> bool:
        """Whether the latest code the log saw created at ``code``'s address is that code."""
        latest = self.ranges.get(code.start)
        return latest is not None and (latest.name, latest.size) == (code.name, code.end - code.start)

    def positions(self, code: JitCode) -> tuple[JitPosition, ...] | None:
        """``code``'s source positions by address: each in the script of the function it is in,
        with the function inlined there and the calls it was inlined through (None: code the
        log does not describe as it is now, or whose scripts it lacks)."""
        logged = self.codes.get(code.start)
        if logged is None or not self.is_current(code):
            return None
        chains: dict[int, tuple[Caller, ...] | None] = {}
        found: list[JitPosition] = []
        for offset, position, at in zip(logged.offsets, logged.positions, logged.inlinings_at, strict=True):
            function = logged.function if at is None else logged.inlinings[at].function
            place = self.place(function[1], position)
            callers = self._callers(logged, at, chains)
            if place is None or callers is None:
                return None
            inlined = function[0] if at is not None else None
            found.append(JitPosition(code.start + offset, function[1], place[0], place[1], inlined, callers))
        return tuple(found)

    def _callers(
        self, logged: LoggedCode, at: int | None, chains: dict[int, tuple[Caller, ...] | None]
    ) -> tuple[Caller, ...] | None:
        """The calls the function of inlining ``at`` was inlined through, innermost first (None: a
        script without its source, or deeper than ``MAX_INLINING_DEPTH``). ``chains`` keeps each
        inlining's, so a code's positions cost one walk per inlining, each of bounded depth."""
        path: list[int] = []  # from ``at`` outwards, the inlinings whose chain is not known yet
        while at is not None and at not in chains and len(path) <= MAX_INLINING_DEPTH:
            path.append(at)
            at = logged.inlinings[at].caller
        if at is None:
            chain: tuple[Caller, ...] | None = ()
        elif at in chains:
            chain = chains[at]
        else:
            chain = None  # deeper than any inlining TurboFan makes
        for inlining_at in reversed(path):
            inlining = logged.inlinings[inlining_at]
            caller = (
                logged.function if inlining.caller is None else logged.inlinings[inlining.caller].function
            )
            place = self.place(caller[1], inlining.call)
            if chain is not None and (place is None or len(chain) >= MAX_INLINING_DEPTH):
                chain = None
            if chain is not None and place is not None:
                chain = ((caller[0], caller[1], place[0]), *chain)
            chains[inlining_at] = chain
        return chain


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
    log = V8Log(path, problems=problems, cut=data is not None and len(data) >= MAX_BYTES)
    if data is not None:
        _parse(data[: data.rfind(b"\n") + 1].decode("utf-8", "replace"), log)
    return log


def _parse(text: str, log: V8Log) -> None:
    by_sfi: dict[int, Function] = {}
    by_code: dict[int, Function] = {}
    damaged: dict[str, int] = {}
    for number, record in enumerate(text.splitlines()):
        fields = record.split(",")
        kind = fields[0]
        try:
            if kind == "code-creation" and len(fields) >= 7:
                start, size = int(fields[4], 16), int(fields[5])
                if not 0 < size <= MAX_CODE_SIZE:
                    raise ValueError(f"a code of {size} bytes")
                # Whatever the log said of code here before is of code that is gone.
                log.codes.pop(start, None)
                by_code.pop(start, None)
                name = _utf8(_unescape(fields[6]))
                state = fields[8] if len(fields) >= 9 else ""
                log.ranges[start] = CodeRange(
                    number, size, f"{fields[1]}:{state}{name}", state in MACHINE_CODE
                )
                named = _NAME.match(name)
                if named is not None and len(fields) >= 9:
                    function = (named.group(1).strip() or "(anonymous)", named.group(2))
                    by_code[start] = by_sfi[int(fields[7], 16)] = function
            elif kind == "code-source-info" and len(fields) >= 8:
                start = int(fields[1], 16)
                code = _logged_code(fields, by_code.get(start), by_sfi)
                if code is not None:
                    log.codes[start] = code
            elif kind == "script-source" and len(fields) >= 4:
                source = _unescape(",".join(fields[3:]))
                starts = [0] + [m.end() for m in _LINE_END.finditer(source)]
                log.scripts[_unescape(fields[2])] = (starts, len(source))
            elif kind == "code-move" and len(fields) >= 3:
                old, new = int(fields[1], 16), int(fields[2], 16)
                if old != new:
                    # What the log said of code at the destination is of code that is gone.
                    for table in (log.codes, log.ranges, by_code):
                        table.pop(new, None)
                _move(log.codes, old, new)
                _move(log.ranges, old, new)
                _move(by_code, old, new)
            elif kind == "sfi-move" and len(fields) >= 3:
                _move(by_sfi, int(fields[1], 16), int(fields[2], 16))
        except ValueError:
            damaged[kind] = damaged.get(kind, 0) + 1
    for kind, count in damaged.items():
        log.problems.append(
            f"{log.path}: {count} damaged {kind} record(s); the code they describe keeps the jitdump's lines"
        )


def _move(table: dict[int, T], old: int, new: int) -> None:
    if old in table:
        table[new] = table.pop(old)


def _logged_code(
    fields: list[str], function: Function | None, by_sfi: dict[int, Function]
) -> LoggedCode | None:
    """A code-source-info record's positions and inlinings (None: code whose function, or an
    inlined one, the log did not name). A record not in V8's shape raises ValueError."""
    positions, inlinings, functions = fields[5], fields[6], fields[7]
    if not (
        _POSITIONS.fullmatch(positions)
        and _INLININGS.fullmatch(inlinings)
        and _FUNCTIONS.fullmatch(functions)
    ):
        raise ValueError("not V8's positions, inlinings and functions")
    if function is None:
        return None
    sfis = [int(sfi, 16) for sfi in functions.split("S")[1:]]
    table: list[Inlining] = []
    for match in _INLINING.finditer(inlinings):
        if len(table) >= MAX_INLININGS:
            raise ValueError("more inlinings than TurboFan makes")
        caller = int(match.group(3)) if match.group(3) is not None else None
        if caller is not None and caller >= len(table):
            # V8 numbers a caller's inlining before its callees': anything else would loop.
            raise ValueError("an inlining whose caller is not an earlier one")
        if match.group(1):
            index = int(match.group(1))
            inlined = by_sfi.get(sfis[index]) if index < len(sfis) else None
            if inlined is None:
                return None
        else:
            inlined = UNKNOWN
        table.append(Inlining(inlined, int(match.group(2)), caller))
    offsets: list[int] = []
    sources: list[int] = []
    at: list[int | None] = []
    for match in _POSITION.finditer(positions):
        inlining = int(match.group(3)) if match.group(3) is not None else None
        if inlining is not None and inlining >= len(table):
            raise ValueError("a position in an inlining that is not there")
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


def _utf8(name: str) -> str:
    """A code's name, whose escapes were the bytes of its UTF-8 (left as it is where they are not)."""
    if name.isascii() or max(name) > "\xff":
        return name
    try:
        return name.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        return name


def with_v8_positions(jitdump: JitDump, logs: list[V8Log]) -> JitDump:
    """``jitdump`` with the source positions of V8's logs where they describe its code as it is
    (named files, never damaged; the functions inlined there with the calls they were inlined
    through), and with the machine code the logs describe that the jitdump does not hold yet."""
    problems = [*jitdump.problems, *(problem for log in logs for problem in log.problems)]
    if not any(log.codes for log in logs):
        return replace(jitdump, problems=problems) if problems != jitdump.problems else jitdump
    codes: list[JitCode] = []
    for code in jitdump.codes:
        positions = next((found for log in logs if (found := log.positions(code)) is not None), None)
        codes.append(code if positions is None else replace(code, positions=positions))
    for log in logs:
        codes = _merged(log, codes)
    return replace(jitdump, codes=codes, problems=problems, _starts=[code.start for code in codes])


def _merged(log: V8Log, codes: list[JitCode]) -> list[JitCode]:
    """``codes`` (by start) with the machine code ``log`` describes as live: code V8 has not
    written to its jitdump yet, perhaps over code it freed."""
    # Of the log's codes, those no newer code was created over (of two that overlap, the newer).
    live: list[tuple[int, CodeRange]] = []
    for start in sorted(log.ranges):
        latest = log.ranges[start]
        while live and live[-1][0] + live[-1][1].size > start and live[-1][1].when < latest.when:
            live.pop()
        if live and live[-1][0] + live[-1][1].size > start:
            continue
        live.append((start, latest))
    starts = [code.start for code in codes]
    for start, latest in live:
        if not latest.machine_code or start not in log.codes:
            continue
        first = bisect.bisect_left(starts, start)
        if first > 0 and codes[first - 1].end > start:
            first -= 1
        last = bisect.bisect_left(starts, start + latest.size)
        if last - first == 1 and codes[first].start == start and log.is_current(codes[first]):
            continue  # the jitdump holds this very code: it has the log's positions already
        function, script, function_line, function_column = v8_name_parts(latest.name)
        code = JitCode(
            start, start + latest.size, latest.name, function, script, function_line, function_column
        )
        positions = log.positions(code)
        if positions is None:
            continue
        # V8 writes every creation to its log before its jitdump: live code of the whole log is
        # newer than the jitdump's code it overlaps. A log read in part may lack the newest.
        if first < last and log.cut:
            continue
        codes[first:last] = [replace(code, positions=positions)]
        starts[first:last] = [code.start]
    return codes
