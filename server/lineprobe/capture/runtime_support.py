"""What a managed runtime needs for its JIT code to be named, given by lineprobe where it can.

Launched by lineprobe, ``node`` gets ``--perf-prof --interpreted-frames-native-stack``
(runtime_hints.NODE_FLAGS): V8 then writes ``jit-PID.dump`` (code with source positions) and
``isolate-...-PID-v8.log`` in its working directory; ``java`` gets ``-XX:+PreserveFramePointer``
(stacks through compiled code) and ``-XX:+DumpPerfMapAtExit`` (``/tmp/perf-PID.map`` of its
compiled methods, written as it ends). Those files serve the capture's resolution only, so the
files a launch caused are removed once it is resolved (a capture kept with ``--save`` holds its
frames); a runtime the user started keeps its files.

Attached to a running JVM, lineprobe asks it for a perf map of what it has compiled when the
window ends (``jcmd PID Compiler.perfmap``, as the JVM's user), so its methods are named.
"""

from __future__ import annotations

import contextlib
import glob
import os
import subprocess
from collections.abc import Iterator, Sequence

from lineprobe.symbolization.runtime_hints import (
    is_java,
    java_argv_with_flags,
    node_argv_with_flags,
)

JCMD_TIMEOUT_S = 20.0


def runtime_argv(argv: Sequence[str]) -> tuple[list[str], bool]:
    """``argv`` with the flags its runtime needs, and whether any were added."""
    command = list(argv)
    flagged = node_argv_with_flags(command) or java_argv_with_flags(command)
    return (flagged, True) if flagged is not None else (command, False)


def remove_leftovers(pid: int, cwd: str) -> None:
    """Remove the files added flags made a launched runtime write, by its PID."""
    paths = [
        os.path.join(cwd, f"jit-{pid}.dump"),
        f"/tmp/perf-{pid}.map",
        *glob.glob(os.path.join(glob.escape(cwd), f"isolate-0x*-{pid}-v8.log")),
    ]
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


@contextlib.contextmanager
def jit_names_asked(pid: int, exe: str) -> Iterator[list[str]]:
    """While a capture of a running process is resolved: a JVM's perf map of what it compiled,
    asked for (``ask_for_jit_names``) and removed afterwards if it was not there before. Gives
    the problems to report (empty: named, or not a JVM)."""
    path = f"/tmp/perf-{pid}.map"
    there_before = os.path.exists(path)
    problem = ask_for_jit_names(pid, exe) if is_java(exe) else None
    made = is_java(exe) and problem is None and not there_before
    try:
        yield [problem] if problem is not None else []
    finally:
        if made:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def ask_for_jit_names(pid: int, exe: str) -> str | None:
    """Have a running JVM write the perf map of its compiled methods; a problem when it cannot."""
    jcmd = os.path.join(os.path.dirname(os.path.realpath(exe)), "jcmd")
    if not os.access(jcmd, os.X_OK):
        jcmd = "jcmd"
    try:
        done = subprocess.run(
            [jcmd, str(pid), "Compiler.perfmap"], capture_output=True, text=True, timeout=JCMD_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"could not ask java (PID {pid}) for its compiled methods' names ({exc}); they stay [unknown]"
    if done.returncode != 0 or "Command executed successfully" not in done.stdout:
        said = (done.stderr or done.stdout).strip().splitlines()
        return (
            f"java (PID {pid}) did not write its compiled methods' names (jcmd Compiler.perfmap: "
            f"{said[-1] if said else done.returncode}); they stay [unknown]"
        )
    return None
