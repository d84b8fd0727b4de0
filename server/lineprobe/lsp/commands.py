"""``workspace/executeCommand`` commands: listProcesses, profile, stop, capabilities.

Arguments are validated here with msgspec, so a client sending garbage gets
an error result saying what was wrong, never a stack trace. Every failure of
``lineprobe.profile`` is both shown (``window/showMessage``) and returned in
the command's result as ``{"ok": false, "error": {...}}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from lsprotocol import types

from lineprobe.capture import kinds
from lineprobe.capture.agent_errors import AgentError
from lineprobe.capture.kinds import CaptureKind
from lineprobe.capture.progress import CapabilityReport, LiveReport, Progress
from lineprobe.capture.recorded import saved_command
from lineprobe.capture.runner import RECORD_ENVIRONMENT, REPLAY_ENVIRONMENT, CaptureRunner, Launch
from lineprobe.capture.wire import parameters
from lineprobe.costs.diff import DiffError, Normalisation, diff_profiles
from lineprobe.costs.model import StackProfile
from lineprobe.costs.slices import (
    SliceError,
    TimeRange,
    sliced,
    thread_ids,
    threads_of,
    time_bucket_ms,
    timeline,
)
from lineprobe.leaks.model import LeakTrace
from lineprobe.lsp import comparison_presentation, documents, presentation, system_view
from lineprobe.lsp.comparison_view import Comparison
from lineprobe.lsp.leak_view import build_leak_view
from lineprobe.lsp.newest_capture import newest_capture
from lineprobe.lsp.probe_live import jvm_live, probe_live, sites_json, tracepoint_live
from lineprobe.lsp.probe_view import ProbeView
from lineprobe.lsp.profile_view import ProfileView
from lineprobe.lsp.server import LineprobeServer
from lineprobe.lsp.settings import RESULT_KINDS
from lineprobe.lsp.source_locator import SourceLocator, uri_of
from lineprobe.lsp.syscall_view import build_syscall_view
from lineprobe.model.capture import Timings
from lineprobe.process_list import list_processes
from lineprobe.reports.diff_report import diff_to_json
from lineprobe.reports.jvm_report import jvm_events_to_json
from lineprobe.reports.leaks_report import leaks_to_json
from lineprobe.reports.line_hits_report import cost_warnings, line_hits, line_hits_json
from lineprobe.reports.pprof import PprofUnreadable, pprof_profile, read_message
from lineprobe.reports.syscalls_report import trace_to_json
from lineprobe.reports.tracepoints_report import layouts_to_json
from lineprobe.reports.tracepoints_report import trace_to_json_lines as tracepoint_lines
from lineprobe.reports.usdt_report import counts_to_json, listing_to_json, trace_to_json_lines
from lineprobe.saved_profile import resolve_saved_profile
from lineprobe.symbolization.line_sites import (
    LineSites,
    LineSitesError,
    find_sites,
    parse_line_spec,
    uprobe_sites,
)
from lineprobe.symbolization.resolver import ImageCache
from lineprobe.syscalls.model import SyscallTrace
from lineprobe.tracepoints.records import TracepointTrace
from lineprobe.usdt.counts import ArgumentChoice, ProbeCounts
from lineprobe.usdt.hits import ProbeTrace
from lineprobe.usdt.hotspot import extended_probes_problem, known
from lineprobe.usdt.jvm_events import JvmEvents
from lineprobe.usdt.listing import ProbesUnavailable, probes_of_binary, probes_of_process

FLAME_GRAPH = "lineprobe.flameGraph"
CLEAR_RESULTS = "lineprobe.clearResults"
OPEN_CAPTURE = "lineprobe.openCapture"
COMPARE_CAPTURES = "lineprobe.compareCaptures"
SCOPE_HEAT = "lineprobe.scopeHeat"
TIMELINE = "lineprobe.timeline"
SLICE_PROFILE = "lineprobe.sliceProfile"
TRACE_SYSCALLS = "lineprobe.traceSyscalls"
FIND_LEAKS = "lineprobe.findLeaks"
OPEN_FILE = "lineprobe.openFile"
LIST_PROCESSES = "lineprobe.listProcesses"
PROFILE = "lineprobe.profile"
STOP = "lineprobe.stop"
CAPABILITIES = "lineprobe.capabilities"
STACK_COUNT = "lineprobe.stackCount"
LINE_HITS = "lineprobe.countLineHits"
USDT_LIST = "lineprobe.usdtList"
USDT_COUNT = "lineprobe.usdtCount"
USDT_TRACE = "lineprobe.usdtTrace"
JVM_EVENTS = "lineprobe.jvmEvents"
OFF_CPU = "lineprobe.offCpu"
TRACEPOINT_LIST = "lineprobe.tracepointList"
TRACEPOINT_TRACE = "lineprobe.tracepointTrace"


class ProfileArguments(msgspec.Struct, forbid_unknown_fields=False):
    durationMs: int | None = None
    pid: int | None = None
    command: list[str] | None = None
    cwd: str | None = None
    frequency: int | None = None
    tracepoint: str | None = None
    """``lineprobe.stackCount`` only: ``CATEGORY:NAME``."""
    wallClock: bool = False
    """``lineprobe.offCpu`` only: the time on the CPU too."""
    followChildren: bool = False
    """``lineprobe.profile`` only: the processes the target starts too (root callers only)."""
    lines: list[str] | None = None
    """``lineprobe.countLineHits`` only: ``FILE:LINE`` each (an absolute path, or a path's end)."""


class SliceArguments(msgspec.Struct, forbid_unknown_fields=True):
    """``lineprobe.sliceProfile``: which threads, and which seconds from the profile's start."""

    threads: list[int] | None = None
    startS: float | None = None
    endS: float | None = None


class CompareArguments(msgspec.Struct, forbid_unknown_fields=True):
    """``lineprobe.compareCaptures``: two saved CPU captures (or pprof files), absolute paths."""

    before: str
    after: str
    perSecond: bool = False
    """Compare CPU seconds per second of capture (attached windows of different lengths)."""


class GroupByArgument(msgspec.Struct, forbid_unknown_fields=True):
    number: int
    text: bool = False
    lengthArgument: int = 0


class UsdtArguments(msgspec.Struct, forbid_unknown_fields=False):
    """``lineprobe.usdtCount``'s and ``lineprobe.usdtTrace``'s own fields (beside ``pid`` and
    ``durationMs``)."""

    probe: str
    by: str | None = None
    """A grouping a known runtime's table names (HotSpot: method, class, thread, size, kind)."""
    groupBy: list[GroupByArgument] = []
    histogram: int | None = None
    """An integer argument counted by powers of two (argdist -H), instead of by value."""
    stack: bool = False
    rateLimit: int | None = None
    """Tracing: hits sent a second at most (the rest counted)."""
    maxHits: int | None = None
    """Tracing: hits kept at most (the rest counted)."""


def _usdt_arguments(arguments: tuple[Any, ...], name: str) -> UsdtArguments:
    """``name``'s arguments, checked: the command is named in every refusal."""
    try:
        usdt = msgspec.convert(arguments[0], UsdtArguments)
    except (msgspec.ValidationError, IndexError) as exc:
        needs = '{"pid": N, "probe": "PROVIDER:NAME"}'
        raise AgentError("bad-request", f"{name} needs {needs}: {exc}") from None
    if usdt.stack and (usdt.by or usdt.groupBy):
        raise AgentError("bad-request", f"{name}: stack counts by call stack, not by arguments")
    if sum(1 for given in (usdt.by, usdt.groupBy, usdt.histogram is not None, usdt.stack) if given) > 1:
        raise AgentError("bad-request", f"{name}: give one of by, groupBy, histogram and stack")
    checks = [
        ("histogram", usdt.histogram, parameters.PROBE_ARGUMENT),
        ("rateLimit", usdt.rateLimit, parameters.RATE_LIMIT),
        ("maxHits", usdt.maxHits, parameters.MAX_HITS),
    ]
    if len(usdt.groupBy) > 2:
        raise AgentError("bad-request", f"{name}: groupBy takes two arguments at most")
    for choice in usdt.groupBy:
        checks.append(("number", choice.number, parameters.PROBE_ARGUMENT))
        checks.append(("lengthArgument", choice.lengthArgument, parameters.PROBE_LENGTH_ARGUMENT))
    for field_name, value, parameter in checks:
        problem = None if value is None else parameters.check(field_name, parameter, value)
        if problem is not None:
            raise AgentError("bad-request", f"{name}: {problem}")
    return usdt


def _usdt_choices(usdt: UsdtArguments) -> list[ArgumentChoice]:
    if usdt.histogram is not None:
        return [ArgumentChoice(usdt.histogram)]
    if usdt.by is None:
        return [ArgumentChoice(c.number, c.text, c.lengthArgument) for c in usdt.groupBy]
    entry = known(usdt.probe)
    if entry is None:
        raise AgentError("bad-request", f'{USDT_COUNT}: "by" needs a probe lineprobe knows (HotSpot\'s)')
    try:
        return entry.choices(usdt.by)
    except KeyError as exc:
        raise AgentError("bad-request", f"{USDT_COUNT}: {exc.args[0]}") from None


def _parse_profile_arguments(arguments: tuple[Any, ...], name: str = PROFILE) -> ProfileArguments:
    if len(arguments) != 1 or not isinstance(arguments[0], dict):
        raise AgentError("bad-request", f'{name} takes one object: {{"pid": N, "durationMs": N}}')
    try:
        args = msgspec.convert(arguments[0], ProfileArguments)
    except msgspec.ValidationError as exc:
        raise AgentError("bad-request", f"{name}: {exc}") from None
    if (args.pid is None) == (args.command is None):
        raise AgentError("bad-request", f"{name} needs exactly one of pid and command")
    if args.command is not None and not args.command:
        raise AgentError("bad-request", f"{name}: command is empty")
    for field_name, value, parameter, scale in (
        ("durationMs", args.durationMs, parameters.DURATION_S, 1000.0),
        ("frequency", args.frequency, parameters.FREQUENCY, 1.0),
    ):
        problem = parameters.check(field_name, parameter, value, scale) if value is not None else None
        if problem is not None:
            raise AgentError("bad-request", f"{name}: {problem}")
    return args


def _error_result(ls: LineprobeServer, error: AgentError) -> dict[str, Any]:
    text = error.message + (f". {error.hint}" if error.hint else "")
    ls.window_show_message(types.ShowMessageParams(types.MessageType.Error, f"lineprobe: {text}"))
    return {"ok": False, "error": {"code": error.code, "message": error.message, "hint": error.hint}}


def _summary(profile: StackProfile, view: ProfileView) -> dict[str, Any]:
    h = profile.header
    t = profile.timings
    return {
        "ok": True,
        "target": {"pid": h.pid, "exe": h.exe},
        "samples": profile.total,
        "unit": profile.cost.unit.value,
        "lost": profile.lost,
        "duration_s": h.duration_s,
        "target_exited": h.target_exited,
        "warnings": profile.warnings,
        "cannot_measure": list(profile.limits),
        "files": sorted(view.documents),
        "top_lines": [
            {
                "path": s.path,
                "line": s.line,
                "function": s.function,
                "self_percent": round(profile.share(s.self_cost), 2),
            }
            for s in profile.lines[:10]
        ],
        "timings": {
            "agent_start_s": t.agent_start_s,
            "compile_s": t.compile_s,
            "attach_s": t.attach_s,
            "sampling_s": t.sampling_s,
            "collect_s": t.collect_s,
            "resolution_s": round(t.resolution_s, 4),
        },
    }


def _comparison_refuses(ls: LineprobeServer, command: str, shown: bool = True) -> dict[str, Any]:
    """What works on one profile only, asked while a comparison is shown; ``shown``: also as a
    message (not for what panels ask by themselves when they refresh)."""
    error = AgentError(
        "bad-request",
        f"{command}: a comparison of two captures is shown; open one of them (Open Capture) "
        "to slice or scope it",
    )
    if shown:
        return _error_result(ls, error)
    return {"ok": False, "error": {"code": error.code, "message": error.message, "hint": error.hint}}


OPEN_REPORT_TIMEOUT_S = 300
"""A capture's report is a replay: no tracing, so minutes mean something is wrong."""
OPEN_REPORT_COLUMNS = "120"


def _open_report(capture: Path) -> str:
    """The report of ``lineprobe open CAPTURE`` (plain text, 120 columns): the CLI, run as it
    runs for the user, replaying the capture with no agent."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in (REPLAY_ENVIRONMENT, RECORD_ENVIRONMENT)
    }
    environment.update(COLUMNS=OPEN_REPORT_COLUMNS, NO_COLOR="1", TERM="dumb")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "lineprobe.cli", "open", str(capture)],
            capture_output=True,
            text=True,
            timeout=OPEN_REPORT_TIMEOUT_S,
            env=environment,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise AgentError("timeout", f"{capture}: its report took over {OPEN_REPORT_TIMEOUT_S} s") from None
    if done.returncode != 0:
        why = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        raise AgentError("bad-request", f"{capture}: lineprobe open failed: {why[0]}")
    return done.stdout


LiveCallback = Callable[[LiveReport], tuple[str, dict[str, Any]] | None]
"""A running trace's report -> the notification that shows it (method, parameters), or None."""


class _ProgressReporter:
    """``$/progress`` for one profile; ``end`` always runs (see ``profile``). With ``on_live``,
    what a USDT count or trace has seen so far also goes out as ``lineprobe/probeLive``."""

    def __init__(
        self, ls: LineprobeServer, loop: asyncio.AbstractEventLoop, on_live: LiveCallback | None = None
    ) -> None:
        self.ls = ls
        self.loop = loop
        self.token: str | None = None
        self.on_live = on_live

    async def begin(self, title: str) -> None:
        if not self.ls.supports_progress():
            return
        token = f"lineprobe-{uuid.uuid4()}"
        try:
            await self.ls.work_done_progress.create_async(token)
        except Exception:  # the client refused the token: profile without progress
            return
        self.token = token
        self.ls.work_done_progress.begin(
            token,
            types.WorkDoneProgressBegin(
                title=title, message="starting agent", percentage=0, cancellable=False
            ),
        )

    def report_from_thread(self, message: Progress) -> None:
        shown = self.on_live(message.live) if message.live is not None and self.on_live is not None else None
        if shown is not None:
            # Runs on the capture's thread, as the result's resolution does: the sites' lines are
            # found here, off the server's loop, and only the notification crosses over.
            self.loop.call_soon_threadsafe(self.ls.protocol.notify, *shown)
        if self.token is None:
            return
        if message.phase == "compiling":
            text, pct = "compiling BPF", 0
        elif message.phase == "sampling":
            pct = int(100 * message.elapsed_s / message.duration_s) if message.duration_s else 0
            text = f"sampling: {message.events} samples"
        else:
            text, pct = "resolving to source lines", 100
        token = self.token
        self.loop.call_soon_threadsafe(
            self.ls.work_done_progress.report,
            token,
            types.WorkDoneProgressReport(message=text, percentage=min(pct, 100)),
        )

    def end(self, message: str) -> None:
        if self.token is not None:
            self.ls.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))
            self.token = None


T = TypeVar("T", StackProfile, SyscallTrace, LeakTrace, ProbeCounts, ProbeTrace, JvmEvents, TracepointTrace)


def _absolute_path(arguments: tuple[Any, ...]) -> str | None:
    """``{"path": ...}``'s path when it is absolute (a client's relative path means nothing here)."""
    path = arguments[0].get("path") if arguments and isinstance(arguments[0], dict) else None
    return path if isinstance(path, str) and path.startswith("/") else None


def _target_of(args: ProfileArguments) -> int | Launch:
    return args.pid if args.pid is not None else Launch(args.command or [], args.cwd)


async def _traced(
    ls: LineprobeServer,
    arguments: tuple[Any, ...],
    name: str,
    title: str,
    kind: CaptureKind[T],
    capture_parameters: Callable[[ProfileArguments], dict[str, Any]],
    publish: Callable[[T], tuple[dict[str, Any], str]],
    on_live: LiveCallback | None = None,
    runner: CaptureRunner | None = None,
) -> dict[str, Any]:
    """One trace from a command: validation, one at a time, progress that always ends, errors shown.
    ``runner``: where the trace comes from instead of the server's agent (a saved capture)."""
    started = time.monotonic()
    capturing = runner if runner is not None else ls.state.runner
    try:
        args = _parse_profile_arguments(arguments, name)
        chosen = capture_parameters(args)
    except AgentError as exc:
        return _error_result(ls, exc)
    if ls.state.profiling and ls.state.winding_down is not None:
        # A cancelled trace is ending (the agent stops at once): this request follows it.
        with contextlib.suppress(Exception):
            await asyncio.shield(ls.state.winding_down)
    if ls.state.profiling:
        return _error_result(ls, AgentError("busy", "a trace is already running; stop it first"))
    if args.durationMs is not None:
        duration_s = args.durationMs / 1000.0
    elif kind is kinds.PROFILE:  # the durationMs setting is Profile CPU's
        duration_s = ls.state.settings.duration_ms / 1000.0
    else:
        duration_s = parameters.default(kind.duration)
    reporter = _ProgressReporter(ls, asyncio.get_running_loop(), on_live)
    what = (
        "every task"
        if args.pid == 0
        else f"pid {args.pid}"
        if args.pid is not None
        else " ".join(args.command or [])
    )
    ls.state.profiling = True
    outcome = "failed"
    try:
        await reporter.begin(f"{title} {what}")
        work = asyncio.ensure_future(
            asyncio.to_thread(
                capturing.capture,
                kind,
                _target_of(args),
                duration_s,
                chosen,
                reporter.report_from_thread,
            )
        )
        try:
            trace = await asyncio.shield(work)
        except asyncio.CancelledError:
            # Cancelled: the agent ends the trace at once; wait for it (and drop what it found)
            # so that the next request finds the agent free and this progress ends once.
            capturing.stop()
            ls.state.winding_down = work
            with contextlib.suppress(Exception):
                await work
            outcome = "cancelled"
            raise
        result, outcome = publish(trace)
        if trace.warnings:
            ls.window_show_message(
                types.ShowMessageParams(types.MessageType.Warning, "lineprobe: " + "; ".join(trace.warnings))
            )
        result["ok"] = True
        result["timings"]["total_s"] = round(time.monotonic() - started, 4)
        return result
    except AgentError as exc:
        return _error_result(ls, exc)
    finally:
        ls.state.profiling = False
        ls.state.winding_down = None
        reporter.end(outcome)


def _window_timings(t: Timings) -> dict[str, float]:
    """A per-request program's phases: its compile, its window, its resolution (``total_s`` is
    added by ``_traced``)."""
    return {"compile_s": t.compile_s, "sampling_s": t.sampling_s, "resolution_s": t.resolution_s}


def _locator(ls: LineprobeServer) -> SourceLocator:
    """Where the workspace's files are, for the sites of probes."""
    return SourceLocator(ls.state.settings, ls.workspace_roots())


def _publish_stack_counts(ls: LineprobeServer, profile: StackProfile) -> tuple[dict[str, Any], str]:
    """Stack counts (at a tracepoint or a USDT probe) published as a profile is: heat, lenses,
    hovers, the flame graph; the summary names the event counted."""
    view = ProfileView.build(profile, ls.state.settings, ls.workspace_roots())
    documents.publish(ls, view)
    summary = _summary(profile, view)
    summary["event"] = profile.cost.event
    return summary, f"{profile.total} hits"


def register(server: LineprobeServer) -> None:
    @server.command(LIST_PROCESSES)
    async def list_processes_command(ls: LineprobeServer, *arguments: Any) -> list[dict[str, Any]]:
        roots = ls.workspace_roots()
        found = await asyncio.to_thread(list_processes, roots, ls.state.binaries)
        return [
            {
                "pid": p.pid,
                "exe": p.exe,
                "commandLine": p.command_line,
                "inWorkspace": p.in_workspace,
                "runtimeHint": p.runtime_hint,
                "restartCommand": p.restart_command,
                "cwd": p.cwd,
                "startTime": p.start_time,
            }
            for p in found
        ]

    @server.command(PROFILE)
    async def profile_command(ls: LineprobeServer, *arguments: Any) -> dict[str, Any]:
        return await profile_trace(ls, arguments)

    async def profile_trace(
        ls: LineprobeServer, arguments: tuple[Any, ...], runner: CaptureRunner | None = None
    ) -> dict[str, Any]:
        def capture_parameters(args: ProfileArguments) -> dict[str, Any]:
            window_s = (args.durationMs or ls.state.settings.duration_ms) / 1000
            return {
                "frequency": args.frequency or ls.state.settings.frequency,
                "time_bucket_ms": time_bucket_ms(window_s, launched=args.command is not None),
                **({"follow_children": True} if args.followChildren else {}),
            }

        def publish(profile: StackProfile) -> tuple[dict[str, Any], str]:
            view = ProfileView.build(profile, ls.state.settings, ls.workspace_roots())
            documents.publish(ls, view)
            if profile.total == 0:
                ls.window_show_message(
                    types.ShowMessageParams(
                        types.MessageType.Warning,
                        "lineprobe: no samples: the process did not run on a CPU while it was sampled",
                    )
                )
            return _summary(profile, view), f"{profile.total} samples"

        return await _traced(
            ls, arguments, PROFILE, "Profiling", kinds.PROFILE, capture_parameters, publish, runner=runner
        )

    @server.command(STACK_COUNT)
    async def stack_count_command(ls: LineprobeServer, *arguments: Any) -> dict[str, Any]:
        """Stack counts at a tracepoint, shown as a profile is: heat, lenses, hovers, flame graph."""

        def capture_parameters(args: ProfileArguments) -> dict[str, Any]:
            if not args.tracepoint:
                raise AgentError("bad-request", f'{STACK_COUNT} needs a "tracepoint": CATEGORY:NAME')
            return {"tracepoint": args.tracepoint}

        def publish(profile: StackProfile) -> tuple[dict[str, Any], str]:
            return _publish_stack_counts(ls, profile)

        return await _traced(
            ls, arguments, STACK_COUNT, "Counting stacks of", kinds.STACKCOUNT, capture_parameters, publish
        )

    @server.command(LINE_HITS)
    async def line_hits_command(ls: LineprobeServer, *arguments: Any) -> dict[str, Any]:
        """How many times source lines run in a running process (uprobes where each run of a
        line's code begins), shown as stack counts are, with each line's count."""
        try:
            args = _parse_profile_arguments(arguments, LINE_HITS)
            if args.pid is None:
                raise AgentError(
                    "bad-request", f'{LINE_HITS} counts lines of a running process: give its "pid"'
                )
            if not args.lines:
                raise AgentError("bad-request", f'{LINE_HITS} needs "lines": ["FILE:LINE", ...]')
            # A file of the workspace is named in the line tables by the path it was built from.
            specs = [
                replace(spec, path=ls.state.settings.debug_info_path(spec.path))
                if spec.path.startswith("/")
                else spec
                for spec in map(parse_line_spec, args.lines)
            ]
            if ls.state.profiling:  # its resolution uses the image cache the sites are found with
                raise AgentError("busy", "a trace is already running; stop it first")
            if ls.state.runner.replay is not None:  # the sites are in the recorded request
                found = [LineSites(spec) for spec in specs]
            else:  # DWARF of every file it maps: off the event loop
                found = await asyncio.to_thread(find_sites, args.pid, specs, ls.state.runner.cache)
        except (ValueError, LineSitesError) as exc:
            return _error_result(ls, AgentError("bad-request", str(exc)))
        except AgentError as exc:
            return _error_result(ls, exc)
        sites = uprobe_sites(found)
        # The column's name on lenses and hovers: the file by its name (editors send whole paths).
        labels = [f"{os.path.basename(spec.path)}:{spec.line}" for spec in specs]
        counted_lines = " ".join(labels)

        def capture_parameters(args: ProfileArguments) -> dict[str, Any]:
            return {"sites": sites, "lines": counted_lines}

        def publish(profile: StackProfile) -> tuple[dict[str, Any], str]:
            counted = line_hits(profile, found)
            profile.warnings.extend(cost_warnings(counted))
            summary, outcome = _publish_stack_counts(ls, profile)
            summary["line_hits"] = [
                {**entry, "uris": [uri_of(source) for source in entry["sources"]]}
                for entry in line_hits_json(counted)
            ]
            said = "; ".join(
                f"{label}: {e.hits:,} hits ({e.per_second:,.0f}/s)"
                for label, e in zip(labels, counted, strict=True)
            )
            ls.window_show_message(types.ShowMessageParams(types.MessageType.Info, f"lineprobe: {said}"))
            return summary, outcome

        return await _traced(
            ls,
            arguments,
            LINE_HITS,
            "Counting hits of lines in",
            kinds.LINE_HITS,
            capture_parameters,
            publish,
        )

    @server.command(OFF_CPU)
    async def off_cpu_command(ls: LineprobeServer, *arguments: Any) -> dict[str, Any]:
        return await off_cpu_trace(ls, arguments)

    async def off_cpu_trace(
        ls: LineprobeServer, arguments: tuple[Any, ...], runner: CaptureRunner | None = None
    ) -> dict[str, Any]:
        """Off-CPU time by line, published as a profile is (heat, lenses, hovers, flame graph),
        its figures in nanoseconds; with ``"wallClock": true``, wall-clock time (CPU samples as
        time, added to the time off the CPU)."""
        given = arguments[0] if len(arguments) == 1 and isinstance(arguments[0], dict) else {}
        wall_clock = given.get("wallClock", False)
        if not isinstance(wall_clock, bool):
            return _error_result(ls, AgentError("bad-request", f"{OFF_CPU}: wallClock must be true or false"))

        def capture_parameters(args: ProfileArguments) -> dict[str, Any]:
            if not wall_clock:
                return {}
            return {"frequency": args.frequency or int(parameters.default(parameters.FREQUENCY))}

        def publish(profile: StackProfile) -> tuple[dict[str, Any], str]:
            summary, _ = _publish_stack_counts(ls, profile)
            where = "in wall-clock time" if wall_clock else "off the CPU"
            return summary, f"{profile.cost.unit.format(profile.total)} {where}"

        kind = kinds.WALL_CLOCK if wall_clock else kinds.OFFCPU
        title = "Measuring wall-clock time of" if wall_clock else "Measuring off-CPU time of"
        return await _traced(ls, arguments, OFF_CPU, title, kind, capture_parameters, publish, runner=runner)

    @server.command(USDT_LIST)
    async def usdt_list_command(ls: LineprobeServer, *arguments: Any) -> dict[str, Any]:
        """The USDT probes of a process (``{"pid": N}``) or a file (``{"binary": PATH}``), with the
        source line of each site; no agent, no privileges."""
        given = arguments[0] if len(arguments) == 1 and isinstance(arguments[0], dict) else {}
        pid, binary = given.get("pid"), given.get("binary")
        if (pid is None) == (binary is None) or not isinstance(pid or binary, int | str):
            return _error_result(
                ls, AgentError("bad-request", f'{USDT_LIST} takes {{"pid": N}} or {{"binary": PATH}}')
            )
        try:
            listing = await asyncio.to_thread(
                lambda: (
                    probes_of_process(int(pid), ImageCache())
                    if pid is not None
                    else probes_of_binary(str(binary), ImageCache())
                )
            )
        except ProbesUnavailable as exc:
            return _error_result(ls, AgentError("bad-request", str(exc)))
        result = listing_to_json(listing)
        for probe in result["probes"]:
            for site in probe["sites"]:
                site["uri"] = uri_of(site["path"]) if site["path"] and os.path.isfile(site["path"]) else None
        result["ok"] = True
        return result

    @server.command(USDT_COUNT)
    async def usdt_count_command(ls: LineprobeServer, *arguments: Any) -> dict[str, Any]:
        """A USDT probe's hits in a running process: by call stack (``"stack": true``: published as
        a profile is) or by argument values (HotSpot's methods: call rates as code lenses)."""
        try:
            usdt = _usdt_arguments(arguments, USDT_COUNT)
            choices = _usdt_choices(usdt)
        except AgentError as exc:
            return _error_result(ls, exc)

        def needs_pid(args: ProfileArguments) -> None:
            if args.pid is None:
                raise AgentError("bad-request", f"{USDT_COUNT} counts in a running process: give its pid")

        if usdt.stack:

            def stack_parameters(args: ProfileArguments) -> dict[str, Any]:
                needs_pid(args)
                return {"tracepoint": f"usdt:{usdt.probe}"}

            def publish_stacks(profile: StackProfile) -> tuple[dict[str, Any], str]:
                return _publish_stack_counts(ls, profile)

            return await _traced(
                ls,
                arguments,
                USDT_COUNT,
                "Counting stacks of",
                kinds.STACKCOUNT,
                stack_parameters,
                publish_stacks,
            )

        def capture_parameters(args: ProfileArguments) -> dict[str, Any]:
            needs_pid(args)
            return {
                "probe": usdt.probe,
                "group_by": [c.to_wire() for c in choices],
                "histogram": usdt.histogram is not None,
            }

        def publish(counts: ProbeCounts) -> tuple[dict[str, Any], str]:
            view = ProbeView.build(counts, ls.workspace_roots())
            documents.publish_probes(ls, view)
            result = counts_to_json(counts)
            result["site_hits"] = sites_json(counts.site_hits, counts.header.duration_s, _locator(ls))
            result["files"] = sorted(view.methods)
            result["timings"] = _window_timings(counts.timings)
            return result, f"{counts.events:,} hits"

        problem = extended_probes_problem(int(arguments[0].get("pid") or 0), usdt.probe)
        if problem is not None:
            ls.window_show_message(
                types.ShowMessageParams(types.MessageType.Warning, f"lineprobe: {problem}")
            )
        pid, locator = int(arguments[0].get("pid") or 0), _locator(ls)
        return await _traced(
            ls,
            arguments,
            USDT_COUNT,
            f"Counting {usdt.probe} in",
            kinds.PROBE_ARGS,
            capture_parameters,
            publish,
            probe_live(usdt.probe, pid, "count", ls.state.runner.cache, locator),
        )

    @server.command(USDT_TRACE)
    async def usdt_trace_command(ls: LineprobeServer, *arguments: Any) -> dict[str, Any]:
        """A USDT probe's hits one by one, with argument values (``"arguments"``, as usdtCount's
        ``groupBy``), under a rate limit; the newest hits go out live, the result holds them all
        (``lines``: what ``lineprobe usdt trace --json`` prints)."""
        try:
            usdt = _usdt_arguments(arguments, USDT_TRACE)
            if usdt.stack or usdt.histogram is not None:
                shows = 'shows arguments ("groupBy" or "by"), not stacks or histograms'
                raise AgentError("bad-request", f"{USDT_TRACE} {shows}")
            choices = _usdt_choices(usdt)
        except AgentError as exc:
            return _error_result(ls, exc)

        def capture_parameters(args: ProfileArguments) -> dict[str, Any]:
            if args.pid is None:
                raise AgentError("bad-request", f"{USDT_TRACE} traces a running process: give its pid")
            return {
                "probe": usdt.probe,
                "arguments": [c.to_wire() for c in choices],
                "rate_limit": usdt.rateLimit or parameters.default(parameters.RATE_LIMIT),
                "max_hits": usdt.maxHits or parameters.default(parameters.MAX_HITS),
                "stacks": False,
            }

        def publish(trace: ProbeTrace) -> tuple[dict[str, Any], str]:
            lines = trace_to_json_lines(trace)
            summary = lines.pop()["summary"]
            summary["site_hits"] = sites_json(trace.site_hits, trace.header.duration_s, _locator(ls))
            result = {**summary, "lines": lines, "timings": _window_timings(trace.timings)}
            return result, f"{trace.events:,} hits, {len(trace.hits):,} recorded"

        pid, locator = int(arguments[0].get("pid") or 0), _locator(ls)
        return await _traced(
            ls,
            arguments,
            USDT_TRACE,
            f"Tracing {usdt.probe} in",
            kinds.PROBE_TRACE,
            capture_parameters,
            publish,
            probe_live(usdt.probe, pid, "trace", ls.state.runner.cache, locator),
        )

    @server.command(JVM_EVENTS)
    async def jvm_events_command(ls: LineprobeServer, *arguments: Any) -> dict[str, Any]:
        """A JVM's GC pauses and class loads (``lineprobe usdt jvm --json``'s object); while it
        runs, ``lineprobe/jvmLive`` about once a second."""
        max_events = arguments[0].get("maxEvents") if arguments and isinstance(arguments[0], dict) else None

        def capture_parameters(args: ProfileArguments) -> dict[str, Any]:
            if args.pid is None:
                raise AgentError("bad-request", f"{JVM_EVENTS} watches a running JVM: give its pid")
            if max_events is not None:
                problem = parameters.check("maxEvents", parameters.MAX_HITS, max_events)
                if problem is not None:
                    raise AgentError("bad-request", f"{JVM_EVENTS}: {problem}")
            return {"max_events": max_events or parameters.default(parameters.MAX_HITS)}

        def publish(events: JvmEvents) -> tuple[dict[str, Any], str]:
            result = jvm_events_to_json(events)
            result["timings"] = _window_timings(events.timings)
            return result, f"{events.gc_count:,} GC pauses, {events.classes_loaded:,} classes loaded"

        pid = int(arguments[0].get("pid") or 0) if arguments and isinstance(arguments[0], dict) else 0
        return await _traced(
            ls,
            arguments,
            JVM_EVENTS,
            "Watching GC and class loading in",
            kinds.JVM_EVENTS,
            capture_parameters,
            publish,
            jvm_live(pid),
        )

    @server.command(TRACEPOINT_LIST)
    async def tracepoint_list_command(ls: LineprobeServer, *arguments: Any) -> dict[str, Any]:
        """The kernel's tracepoints matching ``{"pattern": GLOB}`` (default all), with their
        fields: asked of an agent of its own (tracefs is root's alone)."""
        given = arguments[0] if arguments and isinstance(arguments[0], dict) else {}
        pattern = given.get("pattern", "*:*")
        if not isinstance(pattern, str) or not pattern or len(pattern) > 200:
            return _error_result(ls, AgentError("bad-request", f"{TRACEPOINT_LIST}: pattern must be a glob"))
        try:
            layouts = await asyncio.to_thread(ls.state.runner.tracepoints, pattern)
        except AgentError as exc:
            return _error_result(ls, exc)
        result = layouts_to_json(layouts)
        result["ok"] = True
        return result

    @server.command(TRACEPOINT_TRACE)
    async def tracepoint_trace_command(ls: LineprobeServer, *arguments: Any) -> dict[str, Any]:
        """A kernel tracepoint's records in a running process (``lineprobe tracepoints trace
        --json``'s lines); while it runs, ``lineprobe/tracepointLive`` about once a second."""
        given = arguments[0] if arguments and isinstance(arguments[0], dict) else {}
        tracepoint = given.get("tracepoint")

        def capture_parameters(args: ProfileArguments) -> dict[str, Any]:
            if args.pid is None:
                raise AgentError("bad-request", f"{TRACEPOINT_TRACE} traces a running process: give its pid")
            if not isinstance(tracepoint, str):
                raise AgentError("bad-request", f'{TRACEPOINT_TRACE} needs a "tracepoint": CATEGORY:NAME')
            chosen: dict[str, Any] = {"tracepoint": tracepoint}
            for key, wire, parameter in (
                ("rateLimit", "rate_limit", parameters.RATE_LIMIT),
                ("maxEvents", "max_events", parameters.MAX_HITS),
            ):
                value = given.get(key, parameters.default(parameter))
                problem = parameters.check(key, parameter, value)
                if problem is not None:
                    raise AgentError("bad-request", f"{TRACEPOINT_TRACE}: {problem}")
                chosen[wire] = int(value)
            return chosen

        def publish(trace: TracepointTrace) -> tuple[dict[str, Any], str]:
            lines = tracepoint_lines(trace)
            summary = lines.pop()["summary"]
            result = {**summary, "lines": lines, "timings": _window_timings(trace.timings)}
            return result, f"{trace.hits:,} hits, {len(trace.events):,} recorded"

        pid = int(given.get("pid") or 0)
        return await _traced(
            ls,
            arguments,
            TRACEPOINT_TRACE,
            f"Tracing {tracepoint} in",
            kinds.TRACEPOINT_TRACE,
            capture_parameters,
            publish,
            tracepoint_live(str(tracepoint), pid),
        )

    @server.command(system_view.SYSTEM_ACTIVITY)
    async def system_activity_command(ls: LineprobeServer, *arguments: Any) -> dict[str, Any]:
        """A system view (disk, files, page cache, interrupts) in one process or every task;
        while it runs, ``lineprobe/systemLive`` about once a second."""
        try:
            args = system_view.system_arguments(arguments)
        except AgentError as exc:
            return _error_result(ls, exc)
        view = system_view.VIEWS[args.view]

        def publish(activity: Any) -> tuple[dict[str, Any], str]:
            result = view.to_json(activity)
            result["view"] = args.view
            result["scope"] = args.scope
            result["timings"] = _window_timings(activity.timings)
            return result, view.summary(result)

        # The capture layer's target: pid 0 is every task (root only: the agent refuses others).
        target = {"pid": args.pid if args.scope == "process" else 0}
        if args.durationMs is not None:
            target["durationMs"] = args.durationMs
        return await _traced(
            ls,
            (target,),
            system_view.SYSTEM_ACTIVITY,
            f"{view.title} of",
            view.kind,
            lambda _: system_view.capture_parameters(args),
            publish,
            system_view.system_live(args),
        )

    @server.command(TRACE_SYSCALLS)
    async def trace_syscalls_command(ls: LineprobeServer, *arguments: Any) -> dict[str, Any]:
        return await trace_syscalls_trace(ls, arguments)

    async def trace_syscalls_trace(
        ls: LineprobeServer, arguments: tuple[Any, ...], runner: CaptureRunner | None = None
    ) -> dict[str, Any]:

        def capture_parameters(args: ProfileArguments) -> dict[str, Any]:
            return {"slow_ms": ls.state.settings.slow_io_threshold_ms}

        def publish(trace: SyscallTrace) -> tuple[dict[str, Any], str]:
            view = build_syscall_view(trace, ls.state.settings, ls.workspace_roots())
            documents.publish_syscalls(ls, view)
            result = trace_to_json(trace)
            for entry in (*result["failures"], *result["slow"]):
                entry.pop("stack", None)  # the editor gets stacks through hovers and related information
            result["files"] = sorted(view.documents)
            return result, f"{sum(t.count for t in trace.totals):,} calls"

        return await _traced(
            ls,
            arguments,
            TRACE_SYSCALLS,
            "Tracing system calls of",
            kinds.SYSCALLS,
            capture_parameters,
            publish,
            runner=runner,
        )

    @server.command(FIND_LEAKS)
    async def find_leaks_command(ls: LineprobeServer, *arguments: Any) -> dict[str, Any]:
        return await find_leaks_trace(ls, arguments)

    async def find_leaks_trace(
        ls: LineprobeServer, arguments: tuple[Any, ...], runner: CaptureRunner | None = None
    ) -> dict[str, Any]:

        def capture_parameters(args: ProfileArguments) -> dict[str, Any]:
            return {
                "interval_s": parameters.default(parameters.INTERVAL_S),
                "budget_percent": ls.state.settings.leak_budget_percent,
                "sample_fraction": None,
            }

        def publish(trace: LeakTrace) -> tuple[dict[str, Any], str]:
            view = build_leak_view(trace, ls.state.settings, ls.workspace_roots())
            documents.publish_leaks(ls, view)
            result = leaks_to_json(trace)
            for entry in result["sites"]:
                entry.pop("stack", None)
            result["files"] = sorted(view.documents)
            return result, f"{sum(1 for s in trace.sites if s.suspect)} suspects"

        return await _traced(
            ls,
            arguments,
            FIND_LEAKS,
            "Finding leaks in",
            kinds.LEAKS,
            capture_parameters,
            publish,
            runner=runner,
        )

    @server.command(OPEN_FILE)
    async def open_file_command(ls: LineprobeServer, *arguments: Any) -> dict[str, Any]:
        path = _absolute_path(arguments)
        if path is None:
            return {
                "ok": False,
                "error": {"code": "bad-request", "message": "path must be absolute", "hint": None},
            }
        shown = await ls.window_show_document_async(
            types.ShowDocumentParams(uri=uri_of(path), take_focus=True)
        )
        return {"ok": bool(shown and shown.success)}

    @server.command(STOP)
    async def stop_command(ls: LineprobeServer, *arguments: Any) -> dict[str, Any]:
        running = ls.state.profiling
        await asyncio.to_thread(ls.state.runner.stop)
        return {"ok": True, "stopped": running}

    @server.command(OPEN_CAPTURE)
    async def open_capture_command(ls: LineprobeServer, *arguments: Any) -> dict[str, Any]:
        """A capture kept with the CLI's ``--save``, published as its command's trace was
        (``{"path": ABSOLUTE}``; none: the workspace's newest): replayed from the file, with no agent."""
        if not arguments or arguments[0] in (None, {}):
            newest = await asyncio.to_thread(newest_capture, ls.workspace_roots())
            if newest is None:
                return _error_result(
                    ls,
                    AgentError(
                        "bad-request",
                        f"{OPEN_CAPTURE}: no capture (.lpcap) in the workspace's folders",
                        "keep one with `lineprobe profile --save FILE.lpcap -- ./program` (or --pid PID)",
                    ),
                )
            arguments = ({"path": str(newest)},)
        path = _absolute_path(arguments)
        if path is None:
            return _error_result(ls, AgentError("bad-request", f"{OPEN_CAPTURE}: path must be absolute"))
        try:
            message = await asyncio.to_thread(read_message, path)
        except PprofUnreadable:
            message = None  # not pprof: a saved capture, or what saved_command says it is not
        if message is not None:
            # A pprof profile (the --pprof export, another machine's, a fleet profiler's): its
            # frames come resolved, so it shows on this workspace's lines as a profile does.
            profile = await asyncio.to_thread(pprof_profile, message, path)
            view = ProfileView.build(profile, ls.state.settings, ls.workspace_roots())
            documents.publish(ls, view)
            return {**_summary(profile, view), "capture": path}
        try:
            saved = saved_command(Path(path))
        except AgentError as exc:
            return _error_result(ls, exc)
        opens = {
            "profile": profile_trace,
            "syscalls": trace_syscalls_trace,
            "leaks": find_leaks_trace,
            "offcpu": off_cpu_trace,
        }
        command = saved.arguments[0]
        if command not in opens or saved.pid is None:
            # No per-line view for this kind (USDT, tracepoints, system views, stack counts): its
            # report, as `lineprobe open` prints it.
            try:
                report = await asyncio.to_thread(_open_report, Path(path))
            except AgentError as exc:
                return _error_result(ls, exc)
            return {"ok": True, "capture": path, "command": " ".join(saved.arguments[:2]), "report": report}
        given: dict[str, Any] = {"pid": saved.pid, "durationMs": 1000}
        if command == "offcpu" and "--wall-clock" in saved.arguments:
            given["wallClock"] = True
        replay = CaptureRunner(
            cache=ls.state.runner.cache,
            replay=Path(path),
            record=None,
            replay_launched="--" in saved.arguments,
        )
        try:
            result = await opens[command](ls, (given,), runner=replay)
        finally:
            if replay.agent is not None:  # the cache is the server's: not closed with it
                replay.agent.close()
        result["capture"] = path
        return result

    @server.command(COMPARE_CAPTURES)
    async def compare_captures_command(ls: LineprobeServer, *arguments: Any) -> dict[str, Any]:
        """Two saved CPU captures compared, shown in place of a profile: the change per line as
        heat of its own, hovers with both figures, diagnostics for the lines that moved, lenses
        per function and a differential flame graph (``{"before": ABS, "after": ABS}``)."""
        try:
            wanted = msgspec.convert(arguments[0] if arguments else {}, CompareArguments)
        except msgspec.ValidationError as exc:
            return _error_result(ls, AgentError("bad-request", f"{COMPARE_CAPTURES}: {exc}"))
        paths = (wanted.before, wanted.after)
        if not all(os.path.isabs(path) for path in paths):
            return _error_result(ls, AgentError("bad-request", f"{COMPARE_CAPTURES}: paths must be absolute"))
        normalisation = Normalisation.PER_SECOND if wanted.perSecond else Normalisation.CPU_TIME

        def compare() -> tuple[StackProfile, StackProfile]:
            cache = ls.state.runner.cache
            return (
                resolve_saved_profile(Path(wanted.before), cache),
                resolve_saved_profile(Path(wanted.after), cache),
            )

        try:
            before, after = await asyncio.to_thread(compare)
            diff = diff_profiles(before, after, normalisation)
        except AgentError as exc:
            return _error_result(ls, exc)
        except DiffError as exc:
            return _error_result(ls, AgentError("bad-request", str(exc)))
        names = (os.path.basename(wanted.before), os.path.basename(wanted.after))
        view = ProfileView.build(after, ls.state.settings, ls.workspace_roots())
        view.comparison = Comparison.build(diff, before, names, ls.state.settings, ls.workspace_roots())
        documents.publish(ls, view)
        result = diff_to_json(diff, limit=10)
        result.update(ok=True, before_capture=wanted.before, after_capture=wanted.after)
        result["files"] = sorted(view.comparison.documents)
        return result

    @server.command(CLEAR_RESULTS)
    def clear_results_command(ls: LineprobeServer, *arguments: Any) -> dict[str, Any]:
        """Take the latest results off the editor: all of them, or ``{"kinds": [...]}``."""
        options = arguments[0] if arguments and isinstance(arguments[0], dict) else {}
        kinds = options.get("kinds", list(RESULT_KINDS))
        if not isinstance(kinds, list) or not all(kind in RESULT_KINDS for kind in kinds):
            return _error_result(
                ls,
                AgentError(
                    "bad-request",
                    f"kinds must be a list of {', '.join(RESULT_KINDS)}, not {kinds!r}",
                ),
            )
        return {"ok": True, "cleared": documents.clear(ls, tuple(kinds))}

    @server.command(FLAME_GRAPH)
    def flame_graph_command(ls: LineprobeServer, *arguments: Any) -> dict[str, Any]:
        view = ls.state.view
        if view is None:
            return {"ok": False, "error": {"code": "bad-request", "message": "no profile yet", "hint": None}}
        cost = view.profile.cost
        by_function = bool(arguments and isinstance(arguments[0], dict) and arguments[0].get("byFunction"))
        if view.comparison is not None:
            diff = view.comparison.diff
            return {
                "ok": True,
                "samples": view.profile.total,
                "event": cost.event,
                "unit": cost.unit.value,
                "byFunction": by_function,
                "differential": {
                    "before": view.comparison.before_name,
                    "after": view.comparison.after_name,
                    "unit": diff.normalisation.unit,
                    "beforeCost": diff.before.cost,
                    "afterCost": diff.after.cost,
                },
                "root": comparison_presentation.flame_graph(view.comparison, view, by_function),
            }
        return {
            "ok": True,
            "samples": view.profile.total,
            "event": cost.event,
            "unit": cost.unit.value,
            "byFunction": by_function,
            "root": presentation.flame_graph(view, by_function),
        }

    @server.command(TIMELINE)
    def timeline_command(ls: LineprobeServer, *arguments: Any) -> dict[str, Any]:
        """The latest profile's threads and their samples per time bucket (of the whole profile,
        whatever slice is shown), and the slice shown."""
        view = ls.state.view
        if view is None:
            return {"ok": False, "error": {"code": "bad-request", "message": "no profile yet", "hint": None}}
        if view.comparison is not None:
            return _comparison_refuses(ls, TIMELINE, shown=False)
        whole = view.unsliced
        rows = {row.tid: row.costs for row in timeline(whole)}
        return {
            "ok": True,
            "samples": whole.total,
            "unit": whole.cost.unit.value,
            "bucketMs": whole.time_bucket_ns / 1e6,
            "threads": [
                {"tid": t.tid, "name": t.name, "samples": t.cost, "counts": rows.get(t.tid, [])}
                for t in threads_of(whole)
            ],
            "selection": view.profile.selection,
        }

    @server.command(SLICE_PROFILE)
    def slice_profile_command(ls: LineprobeServer, *arguments: Any) -> dict[str, Any]:
        """Show a slice of the latest profile: ``{"threads": [tid...], "startS": s, "endS": s}``,
        each optional; none of them: the whole profile again. Heat, diagnostics, hints, lenses,
        hovers and the flame graph follow."""
        view = ls.state.view
        if view is None:
            return _error_result(ls, AgentError("bad-request", "no profile yet"))
        if view.comparison is not None:
            return _comparison_refuses(ls, SLICE_PROFILE)
        try:
            wanted = msgspec.convert(arguments[0] if arguments else {}, SliceArguments)
            whole = view.unsliced
            time_range = (
                TimeRange.between(wanted.startS, wanted.endS)
                if wanted.startS is not None or wanted.endS is not None
                else None
            )
            threads = set(wanted.threads) if wanted.threads else None
            if threads is not None:
                thread_ids(whole, [str(tid) for tid in threads])  # an unknown tid is named
            profile = sliced(whole, threads, time_range)
        except (msgspec.ValidationError, SliceError) as exc:
            return _error_result(ls, AgentError("bad-request", f"{SLICE_PROFILE}: {exc}"))
        sliced_view = ProfileView.build(
            profile, ls.state.settings, ls.workspace_roots(), whole if profile is not whole else None
        )
        documents.publish(ls, sliced_view)
        summary = _summary(profile, sliced_view)
        summary["selection"] = profile.selection
        return summary

    @server.command(SCOPE_HEAT)
    def scope_heat_command(ls: LineprobeServer, *arguments: Any) -> dict[str, Any]:
        view = ls.state.view
        if view is None:
            return {"ok": False, "error": {"code": "bad-request", "message": "no profile yet", "hint": None}}
        stack: Any = None
        by_function = False
        if arguments and isinstance(arguments[0], dict):
            stack = arguments[0].get("stack")
            by_function = bool(arguments[0].get("byFunction"))
        if view.comparison is not None:
            return _comparison_refuses(ls, SCOPE_HEAT, shown=False)
        if stack is not None and not (isinstance(stack, list) and all(isinstance(s, str) for s in stack)):
            return {
                "ok": False,
                "error": {
                    "code": "bad-request",
                    "message": "stack must be a list of frame names",
                    "hint": None,
                },
            }
        in_scope = documents.publish_heat(ls, view, stack or [], by_function)
        return {"ok": True, "samples_in_scope": in_scope}

    @server.command(CAPABILITIES)
    async def capabilities_command(ls: LineprobeServer, *arguments: Any) -> dict[str, Any]:
        def ask() -> CapabilityReport:
            agent = ls.state.runner.separate_client()
            try:
                return agent.capabilities()
            finally:
                agent.close()

        try:
            report = await asyncio.to_thread(ask)
        except AgentError as exc:
            return _error_result(ls, exc)
        result: dict[str, Any] = report.to_json()
        result["ok"] = True
        return result
