"""What a managed runtime needs for lineprobe to name its JIT code, said when it is missing.

Node and the JVM compile code into anonymous memory, which no ELF file names. Node writes a
jitdump with source positions under ``--perf-prof`` (``jitdump.py``), a perf map of function
names under ``--perf-basic-prof``; the JVM writes a perf map of method names when asked
(``jcmd PID Compiler.perfmap``). A sample in such code without either is ``[unknown]``: the
hint here names the flag or command that would have named it.
"""

from __future__ import annotations

import os

NODE_FLAGS = (
    "--perf-prof",
    "--perf-basic-prof",
    "--interpreted-frames-native-stack",
    "--log-code",
    "--log-source-code",
)
"""What node needs, and lineprobe adds to a ``node`` it launches: a jitdump with lines; a perf map,
which names at once the code V8 has not yet written to the jitdump (it writes through a 2 MB
buffer); interpreted frames on the native stack (capture/runtime_support.py); and a log of its
code with source positions and inlining (v8_log.py: both flags, neither alone writes it), which
names the functions TurboFan inlined."""


JAVA_FLAGS = (
    "-XX:+UnlockDiagnosticVMOptions",
    "-XX:+DebugNonSafepoints",
    "-XX:+PreserveFramePointer",
    "-XX:+DumpPerfMapAtExit",
)
"""What lineprobe adds to a ``java`` it launches (with its JVMTI agent, capture/runtime_support.py):
a line for every compiled instruction, stacks through compiled code, and a perf map of its
compiled methods written as it ends."""


def is_node(exe: str) -> bool:
    return os.path.basename(exe) in ("node", "nodejs")


def is_java(exe: str) -> bool:
    return os.path.basename(exe) == "java"


def jit_hint(exe: str, pid: int, has_perf_map: bool, has_jitdump: bool) -> str | None:
    """Why samples in the JIT code of ``exe`` have no line, and what would give them one (None:
    nothing to add, or not a runtime lineprobe knows)."""
    flags = " ".join(NODE_FLAGS)
    if is_node(exe) and not has_jitdump:
        if has_perf_map:
            return (
                f"JavaScript of node (PID {pid}) is named from its perf map: functions, not lines. "
                f"Restart it with `node {flags} ...` for the lines that run (a node launched by "
                "lineprobe gets these flags)"
            )
        return (
            f"JavaScript of node (PID {pid}) runs as JIT code that nothing names ([unknown]): restart "
            f"it with `node {flags} ...` for its lines, or with `--perf-basic-prof` for function names "
            "(a node launched by lineprobe gets the first)"
        )
    if is_java(exe) and not has_perf_map and not has_jitdump:
        return (
            f"compiled Java methods of java (PID {pid}) are JIT code that nothing names ([unknown]): "
            f"`jcmd {pid} Compiler.perfmap` names them (lineprobe runs it at the end of a window on a "
            "running JVM), and -XX:+PreserveFramePointer gives whole stacks through compiled code"
        )
    return None


def argv_with_flags(argv: list[str]) -> list[str] | None:
    """``argv`` of a node or java with the flags that give its JIT code lines (None: neither, or
    it has them)."""
    return node_argv_with_flags(argv) or java_argv_with_flags(argv)


def node_argv_with_flags(argv: list[str]) -> list[str] | None:
    """``argv`` of a node with ``NODE_FLAGS`` added where it lacks them (None: not a node, or
    it has them)."""
    if not argv or not is_node(argv[0]) or "--perf-prof" in argv[1:]:
        return None
    return [argv[0], *NODE_FLAGS, *[arg for arg in argv[1:] if arg not in NODE_FLAGS]]


def java_argv_with_flags(argv: list[str]) -> list[str] | None:
    """``argv`` of a java with ``JAVA_FLAGS`` added where it lacks them (None: not a java, or it
    has them)."""
    if not argv or not is_java(argv[0]) or "-XX:+DebugNonSafepoints" in argv[1:]:
        return None
    return [argv[0], *JAVA_FLAGS, *argv[1:]]


def attach_hint(exe: str, argv: list[str]) -> str | None:
    """What a profile of this running process would miss, said before attaching (None: nothing)."""
    if is_node(exe) and node_argv_with_flags(argv or [exe]) is not None:
        if "--perf-basic-prof" in argv:
            return "node has --perf-basic-prof: functions, not lines; restart it with --perf-prof for lines"
        return "node has no --perf-prof: its JavaScript would be [unknown]; restart it with flags for lines"
    if is_java(exe) and "-XX:+DebugNonSafepoints" not in argv:
        return "java has no -XX:+DebugNonSafepoints: its compiled code has lines at safepoints only"
    return None


def java_lines_hint(pid: int, argv: list[str]) -> str | None:
    """What a running JVM's compiled code lacks for exact lines (None: nothing)."""
    if "-XX:+DebugNonSafepoints" in argv:
        return None
    return (
        f"java (PID {pid}) runs without -XX:+DebugNonSafepoints: its compiled code has lines at "
        "safepoints only (a loop's line rather than the statement that is hot); restart it with "
        "-XX:+UnlockDiagnosticVMOptions -XX:+DebugNonSafepoints for exact lines (a java launched "
        "by lineprobe gets them)"
    )


def node_script(argv: list[str]) -> str | None:
    """The script a node command line runs (its first argument that is not an option)."""
    for arg in argv[1:]:
        if arg == "--":
            continue
        if not arg.startswith("-"):
            return arg
    return None
