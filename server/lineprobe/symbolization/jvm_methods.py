"""Java methods the JVM's interpreter runs, named from the interpreter's own frames.

Compiled Java code has addresses of its own, which the jitdump names (``jitdump.py``); an
interpreted method has none: every interpreted frame runs the same code, HotSpot's template
interpreter (``Interpreter`` in its perf map). What it runs is in the frame: on x86-64 the
interpreter keeps a frame pointer, and below it the running method's ``Method*`` and its bytecode
pointer (frame_x86.hpp); the innermost frame's bytecode pointer is live in r13. Every tracer
samples rbp with its stack copies, the CPU profiler r13 too, and the unwinder keeps every frame's
rbp, so a frame in the interpreter becomes the method and line it was running, as
AsyncGetCallTrace would say.

Turning a ``Method*`` into a name takes the JVM's metadata, which lives in the target's memory
and which the server does not read. lineprobe's JVMTI agent (``runtimes/lineprobe_jvmti.c``)
writes it instead, beside its jitdump: ``jit-PID.methods``, a line per loaded method with its
``Method*``, where its bytecodes start, their length, its source file, name and line table. A
bytecode pointer within a method's bytecodes gives its index, and the line table the line.

Nothing here trusts the copy: a ``Method*`` the file does not list leaves the frame as the
interpreter's, and a bytecode pointer outside that method's bytecodes gives the method without a
line; the innermost frame is named only when its live bytecode pointer is the method's (a frame
being set up still holds an earlier frame's slots).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lineprobe.symbolization.frame import INTERPRETED, SourceFrame
from lineprobe.symbolization.regular_file import read_runtime_file

MAGIC = "lineprobe-jvm-methods"
MAX_BYTES = 256 << 20
INTERPRETER = ("Interpreter", "Stub:Interpreter")
"""HotSpot's name for its interpreter's code, in its perf map and in the agent's jitdump (which
marks the JVM's own code ``Stub:``): what its frames resolve to."""


@dataclass(frozen=True)
class JvmMethod:
    name: str
    """``slowy.App.isDivisible``"""
    source: str | None
    """By package path, as a compiled method's frames name it: ``slowy/App.java``."""
    bytecodes: int
    """Where its bytecodes start in the JVM's memory (0: not known)."""
    length: int
    line_starts: tuple[int, ...] = ()
    """Bytecode indexes where a line begins, ascending, and those lines (the line table)."""
    lines: tuple[int, ...] = ()

    def line_at(self, bci: int) -> int | None:
        i = bisect.bisect_right(self.line_starts, bci) - 1
        return self.lines[i] if i >= 0 else None


@dataclass
class JvmMethods:
    path: str
    method_slot: int = -24
    """Offset of the ``Method*`` from an interpreter frame's rbp."""
    bcp_slot: int = -64
    """Offset of the saved bytecode pointer from an interpreter frame's rbp."""
    by_pointer: dict[int, JvmMethod] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    kept: JvmMethods | None = None
    """Where the methods frames were named with go, for a capture's frame archive: the file is
    removed once the capture is resolved, and a saved capture names them again from its own."""

    def frame(
        self, frame_pointer: int, read_u64: Callable[[int], int | None], running_bcp: int | None = None
    ) -> SourceFrame | None:
        """The Java frame of an interpreter frame whose rbp is ``frame_pointer``, its slots read
        from the copied stack by ``read_u64`` (None: they do not name a method the agent listed).

        The innermost frame's bytecode pointer is the live one, ``running_bcp`` (r13; 0: not
        read, so no line): its slot holds it only as of the frame's last call. A live one outside
        the method's bytecodes means the frame is not set up yet (its slots are an earlier
        frame's): no name, rather than a wrong one."""
        pointer = read_u64(frame_pointer + self.method_slot)
        method = self.by_pointer.get(pointer) if pointer is not None else None
        if pointer is None or method is None:
            return None
        bcp = running_bcp if running_bcp is not None else read_u64(frame_pointer + self.bcp_slot)
        within = bcp is not None and method.bytecodes != 0 and 0 <= bcp - method.bytecodes < method.length
        if running_bcp and method.bytecodes and method.length and not within:
            return None
        if self.kept is not None:
            self.kept.by_pointer[pointer] = method
        line = method.line_at(bcp - method.bytecodes) if within and bcp is not None else None
        return SourceFrame(method.name, method.source, line, None, INTERPRETED, "[jit]")


def methods_to_json(methods: JvmMethods) -> dict[str, Any]:
    """Plain JSON for a frame archive: the slots, and each method as a list of its fields."""
    return {
        "method_slot": methods.method_slot,
        "bcp_slot": methods.bcp_slot,
        "methods": {
            str(pointer): [m.name, m.source, m.bytecodes, m.length, list(m.line_starts), list(m.lines)]
            for pointer, m in methods.by_pointer.items()
        },
    }


def methods_from_json(value: dict[str, Any], path: str) -> JvmMethods:
    """What ``methods_to_json`` wrote; raises ValueError (or KeyError, TypeError) on anything else."""
    methods = JvmMethods(path, int(value["method_slot"]), int(value["bcp_slot"]))
    for pointer, (name, source, bytecodes, length, starts, lines) in value["methods"].items():
        if not isinstance(name, str) or (source is not None and not isinstance(source, str)):
            raise ValueError(f"method {pointer}: not a name and source")
        methods.by_pointer[int(pointer)] = JvmMethod(
            name,
            source,
            int(bytecodes),
            int(length),
            tuple(int(s) for s in starts),
            tuple(int(n) for n in lines),
        )
    return methods


def methods_path(jitdump_path: str) -> str:
    """Where the agent writes the methods beside its jitdump ``jit-PID.dump``."""
    stem = jitdump_path[:-5] if jitdump_path.endswith(".dump") else jitdump_path
    return stem + ".methods"


def load_jvm_methods(path: str, owner_uid: int) -> JvmMethods | None:
    """The methods file at ``path`` if there is one that may be trusted (None: there is none)."""
    result = JvmMethods(path)
    read = read_runtime_file(
        path,
        owner_uid,
        "interpreted Java frames are not named from it",
        MAX_BYTES,
        "methods of later classes are unnamed",
    )
    if read is None:
        return None
    data, problems = read
    result.problems.extend(problems)
    if data is None:
        return result
    text = data.decode("utf-8", "replace")
    header, _, body = text.partition("\n")
    fields = header.split()
    if len(fields) < 2 or fields[0] != MAGIC or fields[1] != "1":
        result.problems.append(
            f"{path}: not a lineprobe methods file (version 1); interpreted Java frames are unnamed"
        )
        return result
    for setting in fields[2:]:
        key, _, value = setting.partition("=")
        if key in ("method_slot", "bcp_slot") and value.lstrip("-").isdigit():
            setattr(result, key, int(value))
    rows = body.split("\n")
    rows.pop()  # after the last line end: empty, or a line the JVM (or the read's limit) cut short
    malformed = 0
    for row in rows:
        method = _method(row)
        if method is None:
            malformed += 1 if row else 0
            continue
        pointer, parsed = method
        result.by_pointer[pointer] = parsed
    if malformed:
        result.problems.append(f"{path}: {malformed} malformed lines skipped")
    return result


def _method(row: str) -> tuple[int, JvmMethod] | None:
    parts = row.split("\t")
    if len(parts) != 6:
        return None  # the last line of a file the JVM is still writing, or not one of ours
    try:
        pointer, bytecodes, length = int(parts[0], 16), int(parts[1], 16), int(parts[2])
        table = sorted(
            (int(bci), int(line)) for bci, _, line in (e.partition(":") for e in parts[5].split(",") if e)
        )
    except ValueError:
        return None
    return pointer, JvmMethod(
        parts[4],
        parts[3] or None,
        bytecodes,
        length,
        tuple(bci for bci, _ in table),
        tuple(line for _, line in table),
    )
