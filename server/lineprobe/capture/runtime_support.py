"""What a managed runtime needs for its JIT code to be named, given by lineprobe where it can.

Launched by lineprobe, ``node`` gets ``runtime_hints.NODE_FLAGS``: V8 then writes
``jit-PID.dump`` (code with source positions) and ``isolate-...-PID-v8.log`` in its working
directory, and ``/tmp/perf-PID.map``; and it preloads ``runtimes/node_flush_on_term.js``, so that
the SIGTERM ending it flushes the jitdump's buffer. ``java`` gets lineprobe's JVMTI agent
(``-agentpath``, runtimes/jvmti_agent.py: ``/tmp/jit-PID.dump``, compiled methods with their
lines and inline chains), ``-XX:+DebugNonSafepoints`` (a line for every instruction, not only
at safepoints), ``-XX:+PreserveFramePointer`` (stacks through compiled code) and
``-XX:+DumpPerfMapAtExit`` (names, should the agent not build). Those files serve the capture's
resolution only, so the files a launch caused are removed once it is resolved (a capture kept
with ``--save`` holds its frames); a runtime the user started keeps its files.

Attached to a running JVM, lineprobe loads the agent into it as the window ends (``jcmd PID
JVMTI.agent_load``: it writes every method compiled so far; a JVM of another user gets a copy
it can read), and stops it again after resolution; where the agent cannot be built, it asks the
JVM for a perf map of method names instead (``jcmd PID Compiler.perfmap``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from lineprobe.runtimes.jvmti_agent import built_agent
from lineprobe.symbolization.jvm_methods import methods_path
from lineprobe.symbolization.runtime_hints import (
    is_java,
    java_argv_with_flags,
    java_lines_hint,
    node_argv_with_flags,
)

JCMD_TIMEOUT_S = 20.0
NODE_FLUSH_ON_TERM = Path(__file__).parents[1] / "runtimes" / "node_flush_on_term.js"
"""Preloaded into a launched node: SIGTERM exits through process.exit, so V8 flushes its jitdump."""


def runtime_argv(argv: Sequence[str]) -> tuple[list[str], bool, str | None]:
    """``argv`` with the flags its runtime needs, whether any were added, and what could not be
    given (the JVMTI agent that did not build)."""
    command = list(argv)
    flagged = node_argv_with_flags(command)
    if flagged is not None:
        return [flagged[0], "--require", str(NODE_FLUSH_ON_TERM), *flagged[1:]], True, None
    flagged = java_argv_with_flags(command)
    if flagged is None:
        return command, False, None
    agent = built_agent(command[0])
    if agent.library is None:
        return flagged, True, agent.problem
    return [flagged[0], f"-agentpath:{agent.library}", *flagged[1:]], True, None


def remove_leftovers(pid: int, cwd: str) -> None:
    """Remove the files added flags made a launched runtime write, by its PID."""
    paths = [
        os.path.join(cwd, f"jit-{pid}.dump"),
        f"/tmp/jit-{pid}.dump",
        f"/tmp/jit-{pid}.methods",
        f"/tmp/perf-{pid}.map",
        *glob.glob(os.path.join(glob.escape(cwd), f"isolate-0x*-{pid}-v8.log")),
    ]
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


@contextlib.contextmanager
def jit_names_asked(pid: int, exe: str) -> Iterator[list[str]]:
    """While a capture of a running JVM is resolved: its compiled methods with their lines from
    lineprobe's JVMTI agent, loaded into it now and stopped afterwards (else, names from a perf
    map it is asked for); the files made so are removed afterwards if they were not there
    before. Gives the problems to report (empty: all named, or not a JVM)."""
    if not is_java(exe):
        yield []
        return
    dump, perf_map = f"/tmp/jit-{pid}.dump", f"/tmp/perf-{pid}.map"
    methods = methods_path(dump)
    there_before = {path for path in (dump, methods, perf_map) if os.path.exists(path)}
    mapped = _mapped_agent(pid)
    if mapped is not None and dump in there_before:
        # The JVM runs lineprobe's agent already (it was started with it): its dump has every
        # method and is read as it is; nothing is loaded into the JVM, stopped or removed.
        coarse = java_lines_hint(pid, _command_line(pid))
        yield [coarse] if coarse is not None else []
        return
    agent = built_agent(exe)
    problems: list[str] = []
    loaded = False
    # Loaded again by the path the JVM has it from, the agent is the same one (a stopped one
    # starts again); jcmd passes a path with white space in it as several arguments.
    passable = mapped is not None and not any(c.isspace() or c == "\\" for c in str(mapped))
    library, staged = (mapped, None) if passable else (None, None)
    if library is None and agent.library is not None:
        library, staged = _loadable_by(pid, agent.library)
    if library is not None:
        problem = _jcmd(pid, exe, "JVMTI.agent_load", str(library))
        loaded = problem is None and os.path.exists(dump)
        coarse = java_lines_hint(pid, _command_line(pid)) if loaded else None
        if coarse is not None:
            problems.append(coarse)
        if not loaded:
            why = problem or f"it wrote no {dump} (an agent started with a path of its own writes there)"
            problems.append(
                f"lineprobe's JVMTI agent did not load into java (PID {pid}): {why}; no Java lines"
            )
    elif agent.problem is not None:
        problems.append(agent.problem)
    if not loaded:
        problem = ask_for_jit_names(pid, exe)
        if problem is not None:
            problems.append(problem)
    try:
        yield problems
    finally:
        if loaded and library is not None:
            _jcmd(pid, exe, "JVMTI.agent_load", str(library), "stop")
        for path in {dump, methods, perf_map} - there_before:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        if staged is not None:
            shutil.rmtree(staged, ignore_errors=True)


def _mapped_agent(pid: int) -> Path | None:
    """The agent a JVM has loaded already (at launch, with -agentpath; or by an earlier attach),
    by the path it was loaded from (the file may have been replaced or removed since: the JVM's
    dynamic loader knows the library by that name still). Loaded again by that path, the JVM
    reaches the same agent, where another copy of the library (root's cache, a copy in /tmp)
    would be a second agent that starts the dump anew."""
    try:
        with open(f"/proc/{pid}/maps") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)
                path = fields[5].rstrip("\n").removesuffix(" (deleted)") if len(fields) == 6 else ""
                name = os.path.basename(path)
                if name.startswith("lineprobe_jvmti") and name.endswith(".so"):
                    return Path(path)
    except OSError:
        return None
    return None


def _loadable_by(pid: int, library: Path) -> tuple[Path, Path | None]:
    """The agent's path as the JVM ``pid`` can load it, and a folder to remove afterwards. A JVM
    of another user than this process (root profiling a service's JVM) cannot read our cache
    folder (/root/.cache is 0700): the agent is copied into a fresh folder of ours in /tmp,
    readable by all and writable by us alone."""
    try:
        if os.stat(f"/proc/{pid}").st_uid == os.geteuid():
            return library, None
    except OSError:
        return library, None
    folder = Path(tempfile.mkdtemp(prefix="lineprobe-jvmti-"))
    folder.chmod(0o755)
    copy = folder / library.name
    shutil.copyfile(library, copy)
    copy.chmod(0o644)
    return copy, folder


def _command_line(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return [part.decode("utf-8", "replace") for part in cmdline.read().split(b"\0") if part]
    except OSError:
        return []


def _jcmd(pid: int, exe: str, *command: str) -> str | None:
    """Run a diagnostic command in a JVM (``jcmd``, the one of its JDK where there is one); a
    problem in words, or None."""
    jcmd = os.path.realpath(os.path.join(os.path.dirname(os.path.realpath(exe)), "jcmd"))
    if not os.access(jcmd, os.X_OK) or not _trusted(jcmd):
        jcmd = "jcmd"
    try:
        done = subprocess.run(
            [jcmd, str(pid), *command], capture_output=True, text=True, timeout=JCMD_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode != 0 or (
        "return code: 0" not in done.stdout and "Command executed successfully" not in done.stdout
    ):
        said = (done.stderr or done.stdout).strip().splitlines()
        return said[-1] if said else f"jcmd exited with {done.returncode}"
    return None


def _trusted(path: str) -> bool:
    """Whether a program beside a target's executable may be run by us: it and every folder
    above it are ours or root's, and none of them writable by others (a folder with the sticky
    bit, /tmp, keeps others from replacing what is ours in it). Root profiling a user's JVM must
    not run that user's ``jcmd``. ``path`` is resolved already (no link in it)."""
    checked = path
    try:
        while True:
            info = os.lstat(checked)
            if stat.S_ISLNK(info.st_mode) or info.st_uid not in (0, os.geteuid()):
                return False
            if info.st_mode & 0o022 and not (stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX):
                return False
            if checked == "/":
                return True
            checked = os.path.dirname(checked)
    except OSError:
        return False


def ask_for_jit_names(pid: int, exe: str) -> str | None:
    """Have a running JVM write the perf map of its compiled methods; a problem when it cannot."""
    problem = _jcmd(pid, exe, "Compiler.perfmap")
    if problem is not None:
        return f"java (PID {pid}) did not write its compiled methods' names ({problem}); they stay [unknown]"
    return None
