"""The ``lineprobe`` command line."""

from __future__ import annotations

import io
import json
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from lineprobe.capture.wire import parameters
from lineprobe.capture.wire.parameters import Parameter

if TYPE_CHECKING:
    from rich.console import Console

    from lineprobe.capture.agent_errors import AgentError
    from lineprobe.capture.kinds import CaptureKind, Resolved
    from lineprobe.capture.progress import Progress
    from lineprobe.capture.runner import CaptureRunner, Launch
    from lineprobe.costs.model import StackProfile
    from lineprobe.leaks.model import LeakTrace
    from lineprobe.symbolization.frame import SourceFrame
    from lineprobe.syscalls.model import SyscallTrace
    from lineprobe.usdt.counts import ArgumentChoice, ProbeCounts
    from lineprobe.usdt.hits import ProbeTrace
    from lineprobe.usdt.jvm_events import JvmEvents

# Each command imports what it needs when it runs: `lineprobe symbolize` is
# timed against llvm-symbolizer, and rich, msgspec and the agent's protocol
# would cost it a tenth of a second before the first address. Only the
# parameters' table (plain literals) is read up front, for the options.

EXIT_NO_PROFILE = 1


class FiniteRange(click.FloatRange):
    """A float range that also refuses NaN and infinities (which every comparison lets through)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


class OutputFile(click.Path):
    """A file to write when the trace ends, checked now: a trace is never lost to a typo in a path."""

    def __init__(self) -> None:
        super().__init__(dir_okay=False, writable=True)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        path = super().convert(value, param, ctx)
        parent = os.path.dirname(os.path.abspath(os.fsdecode(path)))
        if not os.path.isdir(parent):
            self.fail(f"{value!r}: the folder {parent} does not exist", param, ctx)
        if not os.access(parent, os.W_OK | os.X_OK):
            self.fail(f"{value!r}: the folder {parent} is not writable", param, ctx)
        return path


OUTPUT_FILE = OutputFile()


def _range(parameter: Parameter) -> click.ParamType:
    """The click type of a capture parameter: its bounds, as the agent checks them."""
    if parameter.integer:
        return click.IntRange(int(parameter.low), int(parameter.high), min_open=parameter.low_open)
    return FiniteRange(parameter.low, parameter.high, min_open=parameter.low_open)


DURATION = _range(parameters.DURATION_S)
"""Seconds of tracing: more than 0, at most an hour (what the agent accepts)."""


def _stderr_console() -> Console:
    """Messages on stderr are never hard-wrapped: a log or a grep must see each one on one line."""
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


def _fail(error: AgentError | str) -> NoReturn:
    from lineprobe.capture.agent_errors import AgentError

    console = _stderr_console()
    if isinstance(error, AgentError):
        console.print(f"[bold red]lineprobe:[/] {error.message}", highlight=False)
        if error.hint:
            console.print(f"  hint: {error.hint}", highlight=False)
    else:
        console.print(f"[bold red]lineprobe:[/] {error}", highlight=False)
    sys.exit(EXIT_NO_PROFILE)


F = TypeVar("F", bound=Callable[..., object])


def _launcher_option(command: F) -> F:
    """``--launcher``: how to start the privileged agent when not root."""
    return click.option(
        "--launcher",
        default=None,
        metavar="CMD",
        help="How to start the privileged agent when not root [default: $LINEPROBE_LAUNCHER or 'sudo -n'].",
    )(command)


def _keep_saved(context: click.Context, parameter: click.Parameter, value: str | None) -> None:
    if value is not None:
        context.ensure_object(dict)["save"] = value


def _save_option(command: F) -> F:
    """``--save FILE``: keep the capture (what the agent answered, and copies of the traced
    binaries that are not the system's, beside it) for ``lineprobe open``. Read by ``_capture``
    from the context, so that no command's signature carries it."""
    return click.option(
        "--save",
        type=click.Path(dir_okay=False, writable=True),
        expose_value=False,
        callback=_keep_saved,
        help="Keep this capture in FILE (binaries beside it, in FILE.binaries/): `lineprobe open FILE`.",
    )(command)


def _launcher_and_command(command: F) -> F:
    """The trailing options of every tracing command: how to gain privileges, where to keep the
    capture, and a command to launch (after ``--``) instead of ``--pid``."""
    command = click.argument("command", nargs=-1, type=click.UNPROCESSED)(command)
    return _launcher_option(_save_option(command))


def _bounded_option(name: str, parameter: Parameter, text: str) -> Callable[[F], F]:
    """An integer option within a wire parameter's bounds, its default the parameter's."""
    return click.option(
        name, type=_range(parameter), default=int(parameters.default(parameter)), show_default=True, help=text
    )


def _frequency_option(text: str) -> Callable[[F], F]:
    """``--frequency``/``-F``: CPU samples per second, within the wire's bounds."""
    return click.option(
        "--frequency",
        "-F",
        type=_range(parameters.FREQUENCY),
        default=int(parameters.default(parameters.FREQUENCY)),
        show_default=True,
        help=text,
    )


def _duration_option(
    verb: str, parameter: Parameter, targets: str = "--pid", launchable: bool = True
) -> Callable[[F], F]:
    """``--duration``: a bounded number of seconds, the parameter's default for a running target,
    and (``launchable``) the command's whole run for a launched one."""
    launched = "; until the command exits, for a command" if launchable else ""
    return click.option(
        "--duration",
        "-d",
        type=DURATION,
        default=None,
        help=f"Seconds to {verb} [default: {parameter.default:g} for {targets}{launched}].",
    )


def _slice_options(command: F) -> F:
    """``--thread`` and ``--time``: report a slice of the profile (``costs.slices``)."""
    command = click.option(
        "--time",
        "time_range",
        metavar="START:END",
        help="Only samples from START to END seconds after the start (2:4.5, 2:, :4.5).",
    )(command)
    return click.option(
        "--thread",
        "threads",
        multiple=True,
        metavar="TID|NAME",
        help="Only this thread's samples (a tid or a thread name; repeat for more).",
    )(command)


def _report_options(stacks: bool = False) -> Callable[[F], F]:
    """``--json`` for every tracing command; with ``stacks``, the files its weighted stacks can be
    written to (collapsed stacks, speedscope and pprof, in the primary cost column's unit), kept in
    the context for ``_write_stacks`` rather than passed to the command."""

    def decorate(command: F) -> F:
        if stacks:
            for name, text in reversed(STACK_FILES):
                command = click.option(
                    f"--{name}",
                    type=OUTPUT_FILE,
                    expose_value=False,
                    callback=_keep_stack_file,
                    help=text,
                )(command)
        return click.option(
            "--json", "as_json", is_flag=True, help="Print one JSON object instead of the report."
        )(command)

    return decorate


STACK_FILES = (
    ("folded", "Write collapsed stacks here."),
    ("speedscope", "Write a speedscope profile here."),
    ("pprof", "Write a pprof profile (profile.proto, gzipped) here."),
    ("chrome-trace", "Write the threads' timeline as a Chrome trace (Perfetto, chrome://tracing) here."),
)
"""The files a command's weighted stacks can be written to: option name, help."""


def _keep_stack_file(context: click.Context, parameter: click.Parameter, value: str | None) -> None:
    if value is not None and parameter.name is not None:  # click names --chrome-trace chrome_trace
        context.meta.setdefault("lineprobe.stack_files", {})[parameter.name.replace("_", "-")] = value


def _stack_files() -> dict[str, str]:
    """The stack files asked for on the command line: option name -> path."""
    files: dict[str, str] = click.get_current_context().meta.get("lineprobe.stack_files", {})
    return files


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lineprobe")
def main() -> None:
    """See what the kernel saw, on the source line that caused it."""


@main.command(context_settings={"ignore_unknown_options": False})
@click.option("--pid", "-p", type=int, help="Profile this running process (all its threads).")
@_duration_option("sample", parameters.DURATION_S)
@_frequency_option("Samples per second per CPU.")
@click.option(
    "--follow-children",
    is_flag=True,
    help="Also profile the processes the target starts (and theirs), each under its name. Root only.",
)
@_slice_options
@_report_options(stacks=True)
@_launcher_and_command
def profile(
    pid: int | None,
    duration: float | None,
    frequency: int,
    follow_children: bool,
    threads: tuple[str, ...],
    time_range: str | None,
    as_json: bool,
    launcher: str | None,
    command: tuple[str, ...],
) -> None:
    """Sample a process's CPU use and show its hot functions and source lines, its threads and
    when they ran.

    \b
    lineprobe profile --pid 1234 --duration 5
    lineprobe profile -- ./build/primes 200000
    lineprobe profile --thread worker --time 2:4 -- ./server
    sudo lineprobe profile --follow-children -- make -j8
    """
    from lineprobe.capture import kinds
    from lineprobe.costs.slices import time_bucket_ms

    window = duration if duration is not None else parameters.default(parameters.DURATION_S)
    result = _capture(
        kinds.PROFILE,
        pid,
        command,
        duration,
        {
            "frequency": frequency,
            "time_bucket_ms": time_bucket_ms(window, launched=pid is None),
            **({"follow_children": True} if follow_children else {}),
        },
        as_json,
        launcher,
    )
    if result.total == 0 and result.header.target_exited and pid is None and not follow_children:
        _stderr_console().print(
            "[bold]hint:[/] a command that does its work in processes it starts is profiled with "
            "--follow-children (root only)"
        )
    _emit(_slice(result, threads, time_range), as_json)


def _slice(profile: StackProfile, threads: tuple[str, ...], time_range: str | None) -> StackProfile:
    from lineprobe.costs.slices import SliceError, TimeRange, sliced, thread_ids

    try:
        return sliced(
            profile,
            thread_ids(profile, threads) if threads else None,
            TimeRange.parse(time_range) if time_range is not None else None,
        )
    except SliceError as exc:
        _fail(str(exc))


T = TypeVar("T", bound="Resolved")


def _capture(
    kind: CaptureKind[T],
    pid: int | None,
    command: tuple[str, ...],
    duration: float | None,
    capture_parameters: dict[str, object],
    as_json: bool,
    launcher: str | None,
) -> T:
    """One capture of ``kind``, on ``--pid`` or a command after ``--``, with a progress bar."""
    from lineprobe.capture.runner import CaptureRunner

    if (pid is None) == (not command):
        raise click.UsageError("give either --pid PID or a command after --")  # pid 0: every task
    if duration is not None:
        duration_s = duration
    elif pid is not None:
        duration_s = parameters.default(kind.duration)
    else:  # a launched command runs, by default, until it exits
        duration_s = kind.duration.high
    options = click.get_current_context().find_object(dict) or {}
    runner = CaptureRunner(launcher=launcher)
    if "replay" in options:  # lineprobe open: the saved answers, not an agent; nothing launched
        runner.replay = Path(options["replay"])
        runner.replay_launched = bool(options.get("replay_launched"))
        if command:
            pid, command = options.get("replay_pid") or 0, ()
    elif "save" in options:
        runner.record = Path(options["save"]).absolute()
        runner.command = _recorded_command()

    def run(progress: Callable[[Progress], None]) -> T:
        return runner.capture(kind, _target(pid, command, as_json), duration_s, capture_parameters, progress)

    until_exit = duration is None and pid is None
    return _with_progress(runner, None if until_exit else duration_s, kind.verb, run)


def _recorded_command() -> list[str]:
    """The arguments this CLI was run with, as a saved capture keeps them."""
    return sys.argv[1:]


def _target(pid: int | None, command: tuple[str, ...], as_json: bool) -> int | Launch:
    """The PID, or the command to launch (whose output goes to stderr with --json,
    so that stdout carries the JSON alone)."""
    from lineprobe.capture.runner import Launch

    if pid is not None:
        return pid
    return Launch(list(command), None, 2 if as_json else None)


def _with_progress(
    runner: CaptureRunner,
    duration_s: float | None,
    verb: str,
    run: Callable[[Callable[[Progress], None]], T],
) -> T:
    """Run one agent request with a progress bar on stderr; Ctrl-C ends it early, keeping results.
    ``duration_s`` None: a launched command traced until it exits, whose end nobody knows: the
    time elapsed is shown, not a bar towards the hour a trace may last at most."""
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.progress import Progress as ProgressBar

    from lineprobe.capture.agent_errors import AgentError
    from lineprobe.system.live import SystemLiveReport, live_rates

    err = _stderr_console()
    progress = ProgressBar(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[events]} events"),
        TimeRemainingColumn() if duration_s is not None else TimeElapsedColumn(),
        TextColumn("{task.fields[top]}"),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    task = progress.add_task("starting agent", total=duration_s, events=0, top="")
    last_live: list[SystemLiveReport] = []

    def on_progress(message: Progress) -> None:
        if message.phase == "compiling":
            progress.update(task, description="compiling BPF")
        elif message.phase == "sampling":
            progress.update(task, description=verb, completed=message.elapsed_s, events=message.events)
            if isinstance(message.live, SystemLiveReport):  # the busiest now, refreshed (filetop's top)
                rates = live_rates(last_live[-1] if last_live else None, message.live)
                last_live[:] = [message.live]
                top = "  ".join(f"{name} {value:,.1f} {unit}" for name, value, unit in rates)
                progress.update(task, top=top)
        else:
            progress.update(task, description="resolving", completed=duration_s or 0)

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=runner.stop, daemon=True).start()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        with progress:
            return run(on_progress)
    except AgentError as exc:
        _fail(exc)
        raise  # not reached: _fail exits
    finally:
        signal.signal(signal.SIGINT, previous)
        runner.close()


def _write_stacks(profile: StackProfile) -> None:
    from lineprobe.costs.slices import SliceError
    from lineprobe.reports.chrome_trace import write_chrome_trace
    from lineprobe.reports.folded import write_folded
    from lineprobe.reports.pprof import write_pprof
    from lineprobe.reports.speedscope import write_speedscope

    writers = {
        "folded": write_folded,
        "speedscope": write_speedscope,
        "pprof": write_pprof,
        "chrome-trace": write_chrome_trace,
    }
    for name, path in _stack_files().items():
        try:
            writers[name](profile, path)
        except SliceError as exc:
            _fail(f"--{name}: {exc}")


def _emit(result: StackProfile, as_json: bool) -> None:
    from rich.console import Console

    from lineprobe.reports.json_report import profile_to_json
    from lineprobe.reports.terminal import render_profile

    _write_stacks(result)
    if as_json:
        click.echo(json.dumps(profile_to_json(result), indent=1))
    else:
        render_profile(result, Console())
    if result.total == 0 and result.header.target_exited:
        _stderr_console().print("[bold red]lineprobe:[/] the target exited before any sample was taken")
        sys.exit(EXIT_NO_PROFILE)


@main.command()
@click.option("--pid", "-p", type=click.IntRange(1), help="Count the stacks of this process's hits.")
@click.option("--all", "every_task", is_flag=True, help="Count every task's hits (root only).")
@_duration_option("count", parameters.DURATION_S, "--pid or --all")
@_report_options(stacks=True)
@click.argument("tracepoint")
@_launcher_and_command
def stackcount(
    pid: int | None,
    every_task: bool,
    duration: float | None,
    as_json: bool,
    tracepoint: str,
    launcher: str | None,
    command: tuple[str, ...],
) -> None:
    """Count the kernel and user stacks that hit a tracepoint, down to the user's lines.

    \b
    lineprobe stackcount --pid 1234 block:block_rq_issue
    lineprobe stackcount --all -d 5 block:block_rq_issue
    lineprobe stackcount block:block_bio_queue -- ./build/logger
    """
    from lineprobe.capture import kinds

    if every_task and (pid is not None or command):
        raise click.UsageError("--all counts every task: give no --pid and no command")
    result = _capture(
        kinds.STACKCOUNT,
        0 if every_task else pid,
        command,
        duration,
        {"tracepoint": tracepoint},
        as_json,
        launcher,
    )
    _emit(result, as_json)


@main.command()
@click.option("--pid", "-p", type=click.IntRange(1), required=True, help="Count this running process's hits.")
@_duration_option("count", parameters.DURATION_S, "--pid", launchable=False)
@_report_options(stacks=True)
@_launcher_option
@_save_option
@click.argument("lines", nargs=-1, required=True, metavar="FILE:LINE...")
def hits(
    pid: int, duration: float | None, as_json: bool, launcher: str | None, lines: tuple[str, ...]
) -> None:
    """Count how many times source lines run in a process, and the stacks that reached them: a
    uprobe where each run of the line's code begins (what perf probe FILE:LINE and perf stat
    count). Each hit traps into the kernel: microseconds of the thread's time, so a line hit
    millions of times a second slows the process down as long as it is counted.

    \b
    lineprobe hits --pid 1234 primes.c:41
    lineprobe hits --pid 1234 -d 10 src/parse.c:120 src/parse.c:131
    """
    from lineprobe.capture import kinds
    from lineprobe.capture.runner import REPLAY_ENVIRONMENT
    from lineprobe.reports.line_hits_report import cost_warnings, line_hits, line_hits_json, render_line_hits
    from lineprobe.symbolization.line_sites import (
        LineSites,
        LineSitesError,
        find_sites,
        parse_line_spec,
        uprobe_sites,
    )
    from lineprobe.symbolization.resolver import ImageCache

    try:
        specs = [parse_line_spec(text) for text in lines]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="FILE:LINE") from None
    options = click.get_current_context().find_object(dict) or {}
    if "replay" in options or os.environ.get(REPLAY_ENVIRONMENT):  # the sites are in the saved request
        found = [LineSites(spec) for spec in specs]
    else:
        try:
            found = find_sites(pid, specs, ImageCache())
        except LineSitesError as exc:
            _fail(str(exc))
    request: dict[str, object] = {
        "sites": uprobe_sites(found),
        "lines": " ".join(str(spec) for spec in specs),
    }
    result = _capture(kinds.LINE_HITS, pid, (), duration, request, as_json, launcher)
    counted = line_hits(result, found)
    result.warnings.extend(cost_warnings(counted))
    if as_json:
        from lineprobe.reports.json_report import profile_to_json

        _write_stacks(result)
        click.echo(json.dumps({**profile_to_json(result), "line_hits": line_hits_json(counted)}, indent=1))
        return
    from rich.console import Console

    console = Console()
    render_line_hits(counted, console)
    _emit(result, False)


@main.command()
@click.option("--pid", "-p", type=click.IntRange(1), help="Measure this running process's threads.")
@_duration_option("measure", parameters.DURATION_S, "--pid")
@click.option(
    "--wall-clock",
    is_flag=True,
    help="Add the time on the CPU (from CPU samples) to the time off it: all of each line's time.",
)
@_frequency_option("With --wall-clock: CPU samples per second.")
@_report_options(stacks=True)
@_launcher_and_command
def offcpu(
    pid: int | None,
    duration: float | None,
    wall_clock: bool,
    frequency: int,
    as_json: bool,
    launcher: str | None,
    command: tuple[str, ...],
) -> None:
    """Off-CPU time: where a program's threads wait (sleep, I/O, locks, page faults) and for how
    long, on the lines that waited (what offcputime measures, resolved as a profile is), split
    by the reason the kernel stack gives. With --wall-clock, the time on the CPU too: each
    line's cost is all the time its threads spent there, running or waiting.

    \b
    lineprobe offcpu --pid 1234 -d 5
    lineprobe offcpu --wall-clock --pid 1234
    lineprobe offcpu --json -- ./build/logger /tmp/logs
    """
    from lineprobe.capture import kinds

    if wall_clock:
        result = _capture(
            kinds.WALL_CLOCK, pid, command, duration, {"frequency": frequency}, as_json, launcher
        )
    else:
        result = _capture(kinds.OFFCPU, pid, command, duration, {}, as_json, launcher)
    _emit(result, as_json)


@main.command()
@click.option("--pid", "-p", type=int, help="Trace this running process (all its threads).")
@_duration_option("trace", parameters.DURATION_S)
@click.option(
    "--slow-ms",
    type=_range(parameters.SLOW_MS),
    default=parameters.default(parameters.SLOW_MS),
    show_default=True,
    help="File I/O calls at least this slow always get their call stacks captured.",
)
@_report_options()
@_launcher_and_command
def syscalls(
    pid: int | None,
    duration: float | None,
    slow_ms: float,
    as_json: bool,
    launcher: str | None,
    command: tuple[str, ...],
) -> None:
    """Count, time and attribute a process's system calls: failures, slow file I/O, block I/O.

    \b
    lineprobe syscalls --pid 1234 --duration 5
    lineprobe syscalls -- ./build/server
    """
    from rich.console import Console

    from lineprobe.capture import kinds
    from lineprobe.reports.syscalls_report import render_trace, trace_to_json

    trace: SyscallTrace = _capture(
        kinds.SYSCALLS, pid, command, duration, {"slow_ms": slow_ms}, as_json, launcher
    )
    if as_json:
        click.echo(json.dumps(trace_to_json(trace), indent=1))
    else:
        render_trace(trace, Console())


@main.command()
@click.option("--pid", "-p", type=int, help="Trace this running process's heap.")
@_duration_option("trace", parameters.LEAKS_DURATION_S)
@click.option(
    "--interval",
    "-i",
    type=_range(parameters.INTERVAL_S),
    default=parameters.default(parameters.INTERVAL_S),
    show_default=True,
    help="Seconds between snapshots of outstanding bytes per site.",
)
@click.option(
    "--budget",
    type=_range(parameters.BUDGET_PERCENT),
    default=parameters.default(parameters.BUDGET_PERCENT),
    show_default=True,
    help="CPU share the allocation probes may cost the target, in percent (sets the sampling).",
)
@click.option(
    "--sample",
    type=_range(parameters.SAMPLE_FRACTION),
    default=None,
    help="Track allocations this fraction of the time, instead of the budget's choice (1: all).",
)
@_report_options(stacks=True)
@_launcher_and_command
def leaks(
    pid: int | None,
    duration: float | None,
    interval: float,
    budget: float,
    sample: float | None,
    as_json: bool,
    launcher: str | None,
    command: tuple[str, ...],
) -> None:
    """Find heap allocations that are never freed, on the line that allocated them.

    \b
    lineprobe leaks --pid 1234 --duration 30
    lineprobe leaks -- ./build/wordcount
    lineprobe leaks --folded held.folded -- ./build/wordcount   # stacks weighted by bytes held
    """
    from rich.console import Console

    from lineprobe.capture import kinds
    from lineprobe.reports.leaks_report import leaks_to_json, render_leaks

    trace: LeakTrace = _capture(
        kinds.LEAKS,
        pid,
        command,
        duration,
        {"interval_s": interval, "budget_percent": budget, "sample_fraction": sample},
        as_json,
        launcher,
    )
    if _stack_files():
        from lineprobe.leaks.outstanding import outstanding_profile

        _write_stacks(outstanding_profile(trace))
    if as_json:
        click.echo(json.dumps(leaks_to_json(trace), indent=1))
    else:
        render_leaks(trace, Console())


@main.command("setup-agent")
@click.option(
    "--user", "users", multiple=True, metavar="NAME", help="Add this user to the group (repeatable)."
)
@click.option("--group", default="lineprobe", show_default=True, help="Who may ask the agent for traces.")
@click.option(
    "--socket",
    "socket_path",
    default="/run/lineprobe/agent.sock",
    show_default=True,
    help="Where it listens.",
)
@click.option("--uninstall", is_flag=True, help="Remove the service, its group and the installed agent.")
@click.option(
    "--keep-agent", is_flag=True, help="With --uninstall: keep the installed agent (make install-agent)."
)
def setup_agent(
    users: tuple[str, ...], group: str, socket_path: str, uninstall: bool, keep_agent: bool
) -> None:
    """Let users trace without sudo (as root, once): install the privileged agent root-owned, make
    a group whose members may ask it for traces of processes they could debug themselves, and
    start the lineprobe service on a socket that group can reach (systemd's socket unit where
    systemd runs, else a daemon). It says what it grants before it does anything.

    \b
    sudo lineprobe setup-agent --user alice
    sudo lineprobe setup-agent --uninstall
    """
    from pathlib import Path

    from lineprobe.agent_setup import AgentSetup, SetupFailed

    setup = AgentSetup(Path(socket_path), group, click.echo)
    try:
        if uninstall:
            setup.uninstall(remove_agent=not keep_agent)
        else:
            setup.install(users)
    except SetupFailed as exc:
        click.echo(f"lineprobe setup-agent: {exc}", err=True)
        sys.exit(1)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_launcher_option
def capabilities(as_json: bool, launcher: str | None) -> None:
    """Report what tracing this machine allows, and what still works without it."""
    from rich.console import Console
    from rich.table import Table

    from lineprobe.capture.agent_errors import AgentError
    from lineprobe.capture.runner import CaptureRunner

    try:
        agent = CaptureRunner(launcher=launcher).separate_client()
        try:
            report = agent.capabilities()
        finally:
            agent.close()
    except AgentError as exc:
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "error": exc.message,
                        "hint": exc.hint,
                        "works": ["resolving addresses to functions and source lines (no privileges needed)"],
                    }
                )
            )
            sys.exit(EXIT_NO_PROFILE)
        _fail(exc)
        return
    from lineprobe.symbolization.dwarf_accel import accelerator_status

    if as_json:
        click.echo(json.dumps({**report.to_json(), "dwarf_decoding": accelerator_status()}, indent=1))
        return
    console = Console()
    console.print(f"kernel {report.kernel_release}")
    table = Table(show_edge=False)
    table.add_column("capability")
    table.add_column("")
    table.add_column("detail")
    for cap in report.capabilities:
        table.add_row(cap.name, "[green]yes[/]" if cap.available else "[red]no[/]", cap.detail)
    console.print(table)
    for line in report.works:
        console.print(f"[green]works:[/] {line}")
    for line in report.missing:
        console.print(f"[yellow]missing:[/] {line}")
    console.print(f"DWARF decoding: {accelerator_status()}", highlight=False)


@main.command()
@click.option("--workspace", "-w", multiple=True, type=click.Path(file_okay=False), help="Workspace folder.")
@click.option("--json", "as_json", is_flag=True)
def processes(workspace: tuple[str, ...], as_json: bool) -> None:
    """List processes that can be profiled, those running workspace code first."""
    from rich.console import Console
    from rich.table import Table

    from lineprobe.process_list import BinarySourceCache, list_processes

    found = list_processes(list(workspace), BinarySourceCache())
    if as_json:
        click.echo(json.dumps([p.__dict__ for p in found], indent=1))
        return
    table = Table(show_edge=False)
    for name in ("pid", "workspace", "exe", "command line"):
        table.add_column(name)
    for p in found:
        table.add_row(str(p.pid), "yes" if p.in_workspace else "", p.exe, " ".join(p.command_line)[:80])
    Console().print(table)


@main.command("open")
@click.argument("capture", type=click.Path(exists=True, dir_okay=False))
@_report_options(stacks=True)
@_slice_options
def open_capture(capture: str, as_json: bool, threads: tuple[str, ...], time_range: str | None) -> None:
    """Report a capture kept with --save, as the command that made it did: no agent, no
    privileges; copies of the traced binaries kept beside it stand in for files since rebuilt
    or deleted. A pprof profile (another machine's, a fleet profiler's) is reported as a CPU
    profile is, on its lines.

    \b
    lineprobe profile --pid 1234 --save before.lpcap
    lineprobe open before.lpcap
    lineprobe open before.lpcap --json
    lineprobe open before.lpcap --thread 4242 --time 2:4   (CPU profiles: a slice)
    lineprobe open cpu.pb.gz                              (pprof)
    """
    from lineprobe.capture.agent_errors import AgentError
    from lineprobe.capture.recorded import saved_command
    from lineprobe.reopen import reopen_arguments
    from lineprobe.reports.pprof import PprofUnreadable, pprof_profile, read_message

    try:
        message = read_message(capture)
    except PprofUnreadable:
        message = None  # not pprof: a saved capture, or what saved_command says it is not
    if message is not None:
        _emit(_slice(pprof_profile(message, capture), threads, time_range), as_json)
        return
    try:
        saved = saved_command(Path(capture))
    except AgentError as exc:
        _fail(exc)
    outputs = ["--json"] if as_json else []
    for name, path in _stack_files().items():
        outputs += [f"--{name}", path]
    for thread in threads:
        outputs += ["--thread", thread]
    outputs += ["--time", time_range] if time_range is not None else []
    arguments = reopen_arguments(saved.arguments, saved.pid, outputs)
    if arguments and arguments[0] == "open":
        _fail(f"{capture}: its saved command is `lineprobe open` itself")
    main.main(
        args=arguments,
        prog_name="lineprobe",
        obj={
            "replay": str(Path(capture).absolute()),
            "replay_pid": saved.pid,
            "replay_launched": "--" in saved.arguments,
        },
    )


@main.command("diff")
@click.argument("before", type=click.Path(exists=True, dir_okay=False))
@click.argument("after", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the report.")
@click.option(
    "--per-second",
    is_flag=True,
    help="Compare CPU time per second of capture (windows of running processes of different lengths).",
)
@click.option(
    "--limit",
    type=click.IntRange(1),
    default=None,
    help="Lines and functions to show [default: 10 per table; every one with --json].",
)
def diff_captures(before: str, after: str, as_json: bool, per_second: bool, limit: int | None) -> None:
    """Compare two CPU captures kept with `lineprobe profile --save` (or pprof profiles): the
    lines and functions that got colder and hotter, before → after, in CPU seconds (samples /
    frequency). No agent, no privileges.

    \b
    lineprobe profile --save before.lpcap -- ./build/app input
    lineprobe profile --save after.lpcap -- ./build/app input      (after a change)
    lineprobe diff before.lpcap after.lpcap
    lineprobe diff old.lpcap new.lpcap --per-second     (attached captures of different lengths)
    lineprobe diff before.pb.gz after.pb.gz             (pprof: --pprof, or a fleet profiler's)
    """
    from rich.console import Console

    from lineprobe.capture.agent_errors import AgentError
    from lineprobe.costs.diff import DiffError, Normalisation, diff_profiles
    from lineprobe.reports.diff_report import diff_to_json, render_diff
    from lineprobe.saved_profile import resolve_saved_profile

    normalisation = Normalisation.PER_SECOND if per_second else Normalisation.CPU_TIME
    try:
        result = diff_profiles(
            resolve_saved_profile(Path(before)), resolve_saved_profile(Path(after)), normalisation
        )
    except AgentError as exc:
        _fail(exc)
    except DiffError as exc:
        _fail(str(exc))
    if as_json:
        click.echo(json.dumps(diff_to_json(result, limit), indent=1))
    else:
        render_diff(result, Console(), limit)


@main.command()
@click.option("--pid", "-p", type=click.IntRange(1), help="Count the block requests this process issues.")
@click.option("--all", "every_task", is_flag=True, help="Count every task's requests (root only).")
@_duration_option("trace", parameters.DURATION_S, launchable=False)
@click.option(
    "--interval",
    "-i",
    type=_range(parameters.DISK_INTERVAL_S),
    default=0.0,
    help="A latency histogram per disk for each interval this long, in seconds (biolatency's).",
)
@click.option(
    "--requests",
    "-r",
    "requests_shown",
    type=click.IntRange(0),
    default=0,
    metavar="N",
    help="Print the last N requests one by one (biosnoop); --json has every one it kept.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object: processes, devices and requests.")
@_launcher_option
@_save_option
def disk(
    pid: int | None,
    every_task: bool,
    duration: float | None,
    interval: float,
    requests_shown: int,
    as_json: bool,
    launcher: str | None,
) -> None:
    """Block I/O by process and by disk: what biotop and biolatency -D show, from the block
    tracepoints (the kprobes those bcc tools need are refused on kernels in lockdown).

    \b
    lineprobe disk --all -d 5
    lineprobe disk --all -d 10 --interval 1 --requests 50
    lineprobe disk --pid 1234 --json
    """
    from rich.console import Console

    from lineprobe.capture import kinds
    from lineprobe.reports.disk_report import disk_to_json, render_disk

    if every_task == (pid is not None):
        raise click.UsageError("give either --pid PID or --all")
    activity = _capture(
        kinds.DISK, 0 if every_task else pid, (), duration, {"interval_s": interval}, as_json, launcher
    )
    if as_json:
        click.echo(json.dumps(disk_to_json(activity), indent=1))
    else:
        render_disk(activity, Console(), requests=requests_shown)


@main.command()
@click.option("--pid", "-p", type=click.IntRange(1), help="Count the file I/O of this process.")
@click.option("--all", "every_task", is_flag=True, help="Count every task's file I/O (root only).")
@_duration_option("trace", parameters.DURATION_S, launchable=False)
@click.option(
    "--slow-ms",
    type=_range(parameters.FILE_SLOW_MS),
    default=parameters.FILE_SLOW_MS.default,
    show_default=True,
    help="List each call at least this slow (fileslower).",
)
@click.option("--all-files", is_flag=True, help="Show sockets, pipes and other descriptors too.")
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object: files, threads, histograms, slow calls."
)
@_launcher_option
@_save_option
def files(
    pid: int | None,
    every_task: bool,
    duration: float | None,
    slow_ms: float,
    all_files: bool,
    as_json: bool,
    launcher: str | None,
) -> None:
    """File I/O by process, file and thread, with each slow call: what filetop and fileslower
    show, from the system calls' tracepoints (their kprobes are refused on kernels in lockdown).

    \b
    lineprobe files --all -d 5
    lineprobe files --pid 1234 --slow-ms 1 --json
    """
    from rich.console import Console

    from lineprobe.capture import kinds
    from lineprobe.reports.files_report import files_to_json, render_files

    if every_task == (pid is not None):
        raise click.UsageError("give either --pid PID or --all")
    activity = _capture(
        kinds.FILES, 0 if every_task else pid, (), duration, {"slow_ms": slow_ms}, as_json, launcher
    )
    if as_json:
        click.echo(json.dumps(files_to_json(activity, all_files), indent=1))
    else:
        render_files(activity, Console(), all_files)


@main.command()
@click.option("--pid", "-p", type=click.IntRange(1), help="Follow this process and its files.")
@click.option("--all", "every_task", is_flag=True, help="Follow every task (root only).")
@_duration_option("trace", parameters.DURATION_S, launchable=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object: totals and files.")
@_launcher_option
@_save_option
def pagecache(
    pid: int | None, every_task: bool, duration: float | None, as_json: bool, launcher: str | None
) -> None:
    """The page cache by process and file: pages added (misses), removed, dirtied and written
    back, from the filemap and writeback tracepoints. Cache hits pass no tracepoint, so there
    is no hit ratio (cachestat's kprobes are refused on kernels in lockdown).

    \b
    lineprobe pagecache --all -d 5
    lineprobe pagecache --pid 1234 --json
    """
    from rich.console import Console

    from lineprobe.capture import kinds
    from lineprobe.reports.page_cache_report import page_cache_to_json, render_page_cache

    if every_task == (pid is not None):
        raise click.UsageError("give either --pid PID or --all")
    activity = _capture(kinds.PAGE_CACHE, 0 if every_task else pid, (), duration, {}, as_json, launcher)
    if as_json:
        click.echo(json.dumps(page_cache_to_json(activity), indent=1))
    else:
        render_page_cache(activity, Console())


@main.command()
@_duration_option("trace", parameters.DURATION_S, "the machine", launchable=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object: hard and soft interrupts.")
@_launcher_option
@_save_option
def irqs(duration: float | None, as_json: bool, launcher: str | None) -> None:
    """Hard and soft interrupt time, machine-wide (root only): how often each IRQ and softirq
    vector ran and for how long, as hardirqs and softirqs report it, from the irq tracepoints.

    \b
    lineprobe irqs -d 5
    """
    from rich.console import Console

    from lineprobe.capture import kinds
    from lineprobe.reports.irqs_report import irqs_to_json, render_irqs

    interrupts = _capture(kinds.IRQS, 0, (), duration, {}, as_json, launcher)
    if as_json:
        click.echo(json.dumps(irqs_to_json(interrupts), indent=1))
    else:
        render_irqs(interrupts, Console())


@main.group()
def tracepoints() -> None:
    """Kernel tracepoints (workshop lab 1): list them with their fields, trace one's records."""


@tracepoints.command("list")
@click.argument("pattern", default="*:*")
@click.option("--verbose", "-v", is_flag=True, help="Each tracepoint's fields, as its format declares them.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: each tracepoint and its fields.")
@_launcher_option
def tracepoints_list(pattern: str, verbose: bool, as_json: bool, launcher: str | None) -> None:
    """The kernel's tracepoints whose CATEGORY:NAME matches PATTERN (a glob; default all).

    tracefs is root's alone, so the privileged agent reads them.

    \b
    lineprobe tracepoints list 'sched:*' -v
    lineprobe tracepoints list 'block:*' --json
    """
    from rich.console import Console

    from lineprobe.capture.agent_errors import AgentError
    from lineprobe.capture.runner import CaptureRunner
    from lineprobe.reports.tracepoints_report import layouts_to_json, render_layouts

    runner = CaptureRunner(launcher=launcher)
    try:
        layouts = runner.tracepoints(pattern)
    except AgentError as exc:
        _fail(exc)
    finally:
        runner.close()
    if as_json:
        click.echo(json.dumps(layouts_to_json(layouts), indent=1))
    else:
        render_layouts(layouts, Console(), verbose)


@tracepoints.command("functions")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: available, detail, replacements.")
@_launcher_option
def tracepoints_functions(as_json: bool, launcher: str | None) -> None:
    """Whether this kernel lets the ftrace function and function_graph tracers run (lab 1), and
    what lineprobe offers in their place: they are refused under kernel lockdown."""
    from rich.console import Console
    from rich.markup import escape

    from lineprobe.capture.agent_errors import AgentError
    from lineprobe.capture.function_tracer import function_tracer_advice
    from lineprobe.capture.runner import CaptureRunner

    try:
        agent = CaptureRunner(launcher=launcher).separate_client()
        try:
            advice = function_tracer_advice(agent.capabilities())
        finally:
            agent.close()
    except AgentError as exc:
        _fail(exc)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "available": advice.available,
                    "detail": advice.detail,
                    "how": list(advice.how),
                    "replacements": [{"for": what, "use": use} for what, use in advice.replacements],
                },
                indent=1,
            )
        )
        return
    console = Console()
    if advice.available:
        console.print(
            f"The function tracers can run here ({escape(advice.detail)}). As root:", highlight=False
        )
        for step in advice.how:
            console.print(f"  {escape(step)}", highlight=False)
    else:
        console.print(
            f"The ftrace function and function_graph tracers cannot run here: {escape(advice.detail)}.",
            highlight=False,
        )
    console.print("What lineprobe offers in their place:")
    for what, use in advice.replacements:
        console.print(f"  {escape(what)}: [bold]{escape(use)}[/]", highlight=False)


@tracepoints.command("trace")
@click.option("--pid", "-p", type=click.IntRange(1), help="Record this process's hits.")
@click.option("--all", "every_task", is_flag=True, help="Record every task's hits (root only).")
@_duration_option("trace", parameters.DURATION_S, launchable=False)
@_bounded_option("--rate", parameters.RATE_LIMIT, "Records kept a second, at most; the rest are counted.")
@_bounded_option("--max-events", parameters.MAX_HITS, "Records kept, at most; the rest are counted.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per record, then a summary line.")
@_launcher_option
@_save_option
@click.argument("tracepoint")
def tracepoints_trace(
    pid: int | None,
    every_task: bool,
    duration: float | None,
    rate: int,
    max_events: int,
    as_json: bool,
    launcher: str | None,
    tracepoint: str,
) -> None:
    """Record each hit of a kernel TRACEPOINT (CATEGORY:NAME) with its fields, in one process
    or every task (what tracefs' trace_pipe shows, without enabling anything in tracefs: a BPF
    program is attached for the window and gone after it).

    \b
    lineprobe tracepoints trace --pid 1234 sched:sched_switch
    lineprobe tracepoints trace --all -d 2 block:block_rq_issue --json
    """
    from rich.console import Console

    from lineprobe.capture import kinds
    from lineprobe.reports.tracepoints_report import render_trace, trace_to_json_lines

    if every_task == (pid is not None):
        raise click.UsageError("give either --pid PID or --all")
    trace = _capture(
        kinds.TRACEPOINT_TRACE,
        0 if every_task else pid,
        (),
        duration,
        {"tracepoint": tracepoint, "rate_limit": rate, "max_events": max_events},
        as_json,
        launcher,
    )
    if as_json:
        for line in trace_to_json_lines(trace):
            click.echo(json.dumps(line, separators=(",", ":")))
    else:
        render_trace(trace, Console())


@tracepoints.command("count")
@click.option("--pid", "-p", type=click.IntRange(1), help="Count this process's hits.")
@click.option("--all", "every_task", is_flag=True, help="Count every task's hits (root only).")
@_duration_option("count", parameters.DURATION_S, launchable=False)
@click.option("--hist", "histogram", is_flag=True, help="By the power of two of an integer FIELD.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: the values and their counts.")
@_launcher_option
@_save_option
@click.argument("tracepoint")
@click.argument("field")
def tracepoints_count(
    pid: int | None,
    every_task: bool,
    duration: float | None,
    histogram: bool,
    as_json: bool,
    launcher: str | None,
    tracepoint: str,
    field: str,
) -> None:
    """Count a kernel TRACEPOINT's hits by one FIELD's value, in the kernel (an integer, or a
    char array such as a command name), or with --hist by powers of two.

    \b
    lineprobe tracepoints count --pid 1234 raw_syscalls:sys_enter id
    lineprobe tracepoints count --all -d 5 sched:sched_switch prev_comm
    lineprobe tracepoints count --all --hist block:block_rq_issue bytes
    """
    from rich.console import Console

    from lineprobe.capture import kinds
    from lineprobe.reports.tracepoints_report import counts_to_json, render_counts

    if every_task == (pid is not None):
        raise click.UsageError("give either --pid PID or --all")
    counts = _capture(
        kinds.TRACEPOINT_COUNT,
        0 if every_task else pid,
        (),
        duration,
        {"tracepoint": tracepoint, "field": field, "histogram": histogram},
        as_json,
        launcher,
    )
    if as_json:
        click.echo(json.dumps(counts_to_json(counts), indent=1))
    else:
        render_counts(counts, Console())


@main.group()
def usdt() -> None:
    """USDT probes (user statically defined tracepoints): list them in a file or a process."""


@usdt.command("list")
@click.option("--pid", "-p", type=click.IntRange(1), help="Probes of this process and every library it maps.")
@click.option(
    "--binary", "-b", type=click.Path(dir_okay=False), help="Probes of this executable or shared library."
)
@click.option("--verbose", "-v", is_flag=True, help="Every site, its arguments and its source line.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the list.")
def usdt_list(pid: int | None, binary: str | None, verbose: bool, as_json: bool) -> None:
    """List the USDT probes of a file or of a running process, as tplist does (no privileges needed).

    \b
    lineprobe usdt list --binary /usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so
    lineprobe usdt list --pid 1234 -v
    """
    from rich.console import Console

    from lineprobe.reports.usdt_report import listing_to_json, render_listing
    from lineprobe.symbolization.resolver import ImageCache
    from lineprobe.usdt.listing import ProbesUnavailable, probes_of_binary, probes_of_process

    if (pid is None) == (binary is None):
        raise click.UsageError("give one of --pid and --binary")
    try:
        cache = ImageCache()
        listing = probes_of_process(pid, cache) if pid is not None else probes_of_binary(str(binary), cache)
    except ProbesUnavailable as exc:
        _fail(str(exc))
        return
    if as_json:
        click.echo(json.dumps(listing_to_json(listing), indent=1))
    else:
        render_listing(listing, Console(), verbose)


def _argument_choice(text: str) -> ArgumentChoice:
    """``N``, ``N:text`` or ``N:text:LENGTH_ARG`` (as ``--arg`` takes them) as a choice."""
    from lineprobe.usdt.counts import ArgumentChoice

    parts = text.split(":")
    try:
        number = int(parts[0])
        length = int(parts[2]) if len(parts) == 3 else 0
    except ValueError:
        number = length = -1
    bounds, length_bounds = parameters.PROBE_ARGUMENT, parameters.PROBE_LENGTH_ARGUMENT
    if (
        len(parts) > 3
        or (len(parts) > 1 and parts[1] != "text")
        or not bounds.low <= number <= bounds.high
        or not length_bounds.low <= length <= length_bounds.high
    ):
        raise click.BadParameter(
            f"{text!r}: expected N, N:text or N:text:M (argument numbers {bounds.low:g}..{bounds.high:g}; "
            "M: the argument holding the text's length)",
            param_hint="--arg",
        )
    return ArgumentChoice(number, len(parts) > 1, length)


def _probe_options(verb: str, arguments_help: str) -> Callable[[F], F]:
    """What every ``usdt`` command that traces takes: the running process (USDT probes are found
    in the files it maps), the window, and the arguments to read (``--arg``)."""

    def decorate(command: F) -> F:
        command = click.option(
            "--arg", "-a", "arguments", multiple=True, metavar="N[:text[:M]]", help=arguments_help
        )(command)
        command = _duration_option(verb, parameters.DURATION_S, launchable=False)(command)
        return click.option(
            "--pid", "-p", type=click.IntRange(1), required=True, help=f"The process whose hits to {verb}."
        )(command)

    return decorate


def _known_grouping(probe: str, grouping: str, choices: list[ArgumentChoice]) -> list[ArgumentChoice]:
    """``--by NAME``: the arguments a runtime's probe table groups by under that name."""
    from lineprobe.usdt.hotspot import known

    entry = known(probe)
    if entry is None:
        raise click.UsageError(f"--by needs a probe lineprobe knows (HotSpot's); give --arg N for {probe}")
    if choices:
        raise click.UsageError("give --by or --arg, not both")
    try:
        return entry.choices(grouping)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="--by") from None


def _warn_of_runtime_flags(pid: int, probe: str) -> None:
    """Say before tracing when a runtime fires the probe only with a flag the process lacks."""
    from rich.markup import escape

    from lineprobe.usdt.hotspot import extended_probes_problem

    problem = extended_probes_problem(pid, probe)
    if problem is not None:
        _stderr_console().print(f"[yellow]warning:[/] {escape(problem)}", highlight=False)


@usdt.command("count")
@_probe_options(
    "count",
    "Group hits by argument N (twice: by a pair); N:text reads the text it points to, "
    "N:text:M with its length from argument M.",
)
@click.option(
    "--by",
    "grouping",
    metavar="NAME",
    help="Group by arguments a known runtime names (HotSpot: --by method, class, thread, size...).",
)
@click.option(
    "--hist",
    "histogram",
    type=_range(parameters.PROBE_ARGUMENT),
    metavar="N",
    help="A histogram of integer argument N by powers of two (argdist -H).",
)
@click.option("--stack", is_flag=True, help="Count by call stack instead: heat on the calling lines.")
@_report_options(stacks=True)
@_launcher_option
@_save_option
@click.argument("probe")
def usdt_count(
    pid: int,
    duration: float | None,
    arguments: tuple[str, ...],
    grouping: str | None,
    histogram: int | None,
    stack: bool,
    as_json: bool,
    launcher: str | None,
    probe: str,
) -> None:
    """Count a USDT probe's hits in a running process, by argument values (argdist -C) or by stack.

    PROBE is PROVIDER:NAME, or /path/to/file:PROVIDER:NAME.

    \b
    lineprobe usdt count --pid 1234 lineprobe_demo:request --arg 2
    lineprobe usdt count --pid 1234 hotspot:method__entry --arg 2:text:3 --arg 4:text:5
    lineprobe usdt count --pid 1234 hotspot:method__entry --by method
    lineprobe usdt count --pid 1234 hotspot:object__alloc --hist 4
    lineprobe usdt count --pid 1234 lineprobe_demo:request --stack
    """
    from rich.console import Console

    from lineprobe.capture import kinds
    from lineprobe.reports.usdt_report import counts_to_json, render_counts

    choices = [_argument_choice(text) for text in arguments]
    if len(choices) > 2:
        raise click.UsageError("--arg groups by two arguments at most")
    if grouping is not None:
        choices = _known_grouping(probe, grouping, choices)
    if histogram is not None:
        if choices or stack:
            raise click.UsageError("--hist is a grouping of its own: give no --arg, --by or --stack with it")
        choices = [_argument_choice(str(histogram))]
    if stack and choices:
        raise click.UsageError("--stack counts by call stack: give no --arg or --by with it")
    _warn_of_runtime_flags(pid, probe)
    if _stack_files() and not stack:
        raise click.UsageError("--folded, --speedscope and --pprof write stacks: add --stack")
    if stack:
        result = _capture(
            kinds.STACKCOUNT, pid, (), duration, {"tracepoint": f"usdt:{probe}"}, as_json, launcher
        )
        _emit(result, as_json)
        return
    counts: ProbeCounts = _capture(
        kinds.PROBE_ARGS,
        pid,
        (),
        duration,
        {"probe": probe, "group_by": [c.to_wire() for c in choices], "histogram": histogram is not None},
        as_json,
        launcher,
    )
    if as_json:
        click.echo(json.dumps(counts_to_json(counts), indent=1))
    else:
        render_counts(counts, Console())


@usdt.command("jvm")
@_duration_option("watch", parameters.DURATION_S, launchable=False)
@click.option("--pid", "-p", type=click.IntRange(1), required=True, help="The JVM to watch.")
@_bounded_option(
    "--max-events", parameters.MAX_HITS, "GC pauses and class loads kept, at most; the rest are counted."
)
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object: every pause and class kept, and the counts."
)
@_launcher_option
@_save_option
def usdt_jvm(pid: int, duration: float | None, max_events: int, as_json: bool, launcher: str | None) -> None:
    """Watch a JVM's garbage collections and class loads (HotSpot's gc__begin, gc__end and
    class__loaded probes, which every JVM has: no -XX flag needed).

    Each GC pause with its start, length and kind (young or full), and each class loaded by
    name.

    \b
    lineprobe usdt jvm --pid 1234 -d 10
    """
    from rich.console import Console

    from lineprobe.capture import kinds
    from lineprobe.reports.jvm_report import jvm_events_to_json, render_jvm_events

    events: JvmEvents = _capture(
        kinds.JVM_EVENTS, pid, (), duration, {"max_events": max_events}, as_json, launcher
    )
    if as_json:
        click.echo(json.dumps(jvm_events_to_json(events), indent=1))
    else:
        render_jvm_events(events, Console())


@usdt.command("trace")
@_probe_options(
    "trace",
    "Record argument N with each hit (at most twice); N:text the text it points to, "
    "N:text:M with its length from argument M.",
)
@_bounded_option("--rate", parameters.RATE_LIMIT, "Hits recorded a second, at most; the rest are counted.")
@_bounded_option("--max-hits", parameters.MAX_HITS, "Hits kept, at most; the rest are counted.")
@click.option("--stack", "stacks", is_flag=True, help="Also each hit's user stack, resolved to source lines.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per hit, then a summary line.")
@_launcher_option
@_save_option
@click.argument("probe")
@click.argument("format_text", metavar="[FORMAT]", required=False)
def usdt_trace(
    pid: int,
    duration: float | None,
    arguments: tuple[str, ...],
    rate: int,
    max_hits: int,
    stacks: bool,
    as_json: bool,
    launcher: str | None,
    probe: str,
    format_text: str | None,
) -> None:
    """Record a USDT probe's hits one by one, with argument values and times (bcc's trace).

    Every hit is recorded or counted: over the rate limit, lost to a full perf ring, or past
    --max-hits. FORMAT writes each hit's arguments (in --arg order) into a printf-like text:
    %d, %u, %x, %X, %s, %%.

    \b
    lineprobe usdt trace --pid 1234 myapp:request --arg 1 --arg 2 --json
    lineprobe usdt trace --pid 1234 myapp:request --arg 1 --arg 2 'round %d: %u bytes'
    lineprobe usdt trace --pid 1234 hotspot:class__loaded --arg 1:text:2 'loaded %s'
    """
    from rich.console import Console

    from lineprobe.capture import kinds
    from lineprobe.reports.usdt_report import render_trace, trace_to_json_lines
    from lineprobe.usdt.hit_format import BadFormat, HitFormat

    choices = [_argument_choice(text) for text in arguments]
    if len(choices) > 2:
        raise click.UsageError("--arg records two arguments at most")
    write = None
    if format_text is not None:
        try:
            write = HitFormat(format_text, [choice.text for choice in choices])
        except BadFormat as exc:
            raise click.BadParameter(str(exc), param_hint="FORMAT") from None
    _warn_of_runtime_flags(pid, probe)
    trace: ProbeTrace = _capture(
        kinds.PROBE_TRACE,
        pid,
        (),
        duration,
        {
            "probe": probe,
            "arguments": [c.to_wire() for c in choices],
            "rate_limit": rate,
            "max_hits": max_hits,
            "stacks": stacks,
        },
        as_json,
        launcher,
    )
    if as_json:
        for line in trace_to_json_lines(trace, write):
            click.echo(json.dumps(line, separators=(",", ":")))
    else:
        render_trace(trace, Console(), write=write)


@main.command()
@click.option(
    "--exe",
    "-e",
    "binary",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="ELF executable or shared library.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per address.")
@click.argument("addresses", nargs=-1)
def symbolize(binary: str, as_json: bool, addresses: tuple[str, ...]) -> None:
    """Resolve ELF virtual addresses (hex) to function, file and line, inlined frames included.

    Addresses come from the arguments, or one per line on stdin.
    """
    from lineprobe.symbolization.resolver import ImageCache, resolve_in_image, resolve_many

    cache = ImageCache()
    image = cache.image(binary, None)
    # A binary without DWARF of its own may have a separate debug file, found by build-id.
    debug = cache.debug_image(image) if image.dwarf is None else None
    reported: set[str] = set()

    def report_problems() -> None:
        # Decoding is lazy: problems turn up as addresses reach damaged parts.
        found = [*image.problems, *image.dwarf_problems]
        if debug is not None:
            found += [*debug.problems, *debug.dwarf_problems]
        for problem in found:
            if problem not in reported:
                reported.add(problem)
                _stderr_console().print(f"[yellow]warning:[/] {problem}", highlight=False)

    report_problems()
    if image.readable and image.dwarf is None and (debug is None or debug.dwarf is None):
        _stderr_console().print(
            f"[yellow]warning:[/] {binary} has no debug information (and no debug file for its build-id "
            "under /usr/lib/debug/.build-id): function names only",
            highlight=False,
        )
    items = addresses or (line.strip() for line in sys.stdin if line.strip())
    # Answers go out as they come when a person types the addresses; a pipe gets them buffered.
    interactive = not addresses and sys.stdin.isatty()
    out = io.StringIO()

    def flush() -> None:
        sys.stdout.write(out.getvalue())
        sys.stdout.flush()
        out.seek(0)
        out.truncate()

    answers: dict[int, str] = {}
    sources: set[str | None] = set()  # every path answered (None among them), for the stale check
    functions: dict[str | None, str] = {None: "null"}  # JSON of each name and path, escaped once
    paths: dict[str | None, str] = {None: "null"}

    def function_json(text: str | None) -> str:
        known = functions[text] = json.dumps(text)
        return known

    def path_json(text: str | None) -> str:
        sources.add(text)
        known = paths[text] = json.dumps(text)
        return known

    def answer(address: int, frames: list[SourceFrame] | None = None) -> str:
        if frames is None:
            frames = resolve_in_image(image, address, binary, debug, cache.demangle)
        if as_json:
            # What json.dumps writes for {"address", "frames": [...]}, built from pieces: the
            # same few names and paths recur, and each is escaped once.
            listed = ", ".join(
                f'{{"function": {functions.get(f.function) or function_json(f.function)}, '
                f'"path": {paths.get(f.path) or path_json(f.path)}, '
                f'"line": {"null" if f.line is None else f.line}, '
                f'"column": {"null" if f.column is None else f.column}, '
                f'"inlined": {"true" if f.inlined else "false"}}}'
                for f in frames
            )
            return f'{{"address": "0x{address:x}", "frames": [{listed}]}}\n'
        sources.update(f.path for f in frames)
        return "".join(
            f"{f.function or '??'}{' (inlined)' if f.inlined else ''}\n{f.path or '??'}:{f.line or 0}\n"
            for f in frames
        )

    def parsed(texts: Iterable[str]) -> Iterator[int]:
        for text in texts:
            try:
                yield int(text, 16)
            except ValueError:
                _stderr_console().print(f"[yellow]warning:[/] not a hex address: {text!r}", highlight=False)

    wanted: Iterable[int] = parsed(items)
    if not interactive:
        # All at once: each distinct address resolved once, a unit's searches batched.
        wanted = list(wanted)
        distinct = list(dict.fromkeys(wanted))
        for address, frames in zip(
            distinct, resolve_many(image, distinct, binary, debug, cache.demangle), strict=True
        ):
            answers[address] = answer(address, frames)
    for address in wanted:
        # Profiles and address lists repeat addresses: each is resolved and formatted once.
        reply = answers.get(address)
        if reply is None:
            reply = answers[address] = answer(address)
        out.write(reply)
        if interactive or out.tell() > 1 << 16:
            flush()
    flush()
    report_problems()
    from lineprobe.symbolization.source_freshness import source_problem

    dwarf = image.dwarf or (debug.dwarf if debug is not None else None)
    for source in sorted(path for path in sources if path):
        stale = source_problem(source, dwarf.checksum(source) if dwarf else None, binary)
        if stale is not None:
            _stderr_console().print(f"[yellow]warning:[/] {stale}", highlight=False)
    cache.close()


@main.command()
@click.option("--clear", is_flag=True, help="Delete the cache: binaries are decoded again when next needed.")
@click.option("--json", "as_json", is_flag=True)
def cache(clear: bool, as_json: bool) -> None:
    """Show (or clear) the decoded DWARF kept on disk, per binary build-id."""
    from lineprobe.symbolization.index_cache import IndexCache

    index_cache = IndexCache.default()
    if clear:
        freed = index_cache.clear()
        if as_json:
            click.echo(json.dumps({"folder": str(index_cache.root), "freed_bytes": freed}))
        else:
            click.echo(f"cleared {index_cache.root}: {freed / 1e6:.1f} MB freed")
        return
    found = index_cache.usage()
    if as_json:
        listed = [c.__dict__ for c in found]
        click.echo(json.dumps({"folder": str(index_cache.root), "binaries": listed}, indent=1))
        return
    current = [c for c in found if c.current]
    older = sum(c.bytes for c in found if not c.current)
    total = sum(c.bytes for c in current)
    click.echo(f"{index_cache.root}: {total / 1e6:.1f} MB for {len(current)} build-id(s)")
    for c in current:
        click.echo(f"  {c.build_id}  {c.bytes / 1e6:8.1f} MB  {c.units:5d} compilation units")
    if older:
        click.echo(f"and {older / 1e6:.1f} MB in older layouts that nothing reads: `lineprobe cache --clear`")


@main.command()
@click.option("--stdio", is_flag=True, default=True, help="Speak LSP over stdin/stdout (the default).")
def serve(stdio: bool) -> None:
    """Run the language server over stdio."""
    from lineprobe.lsp.server import run_stdio

    run_stdio()


if __name__ == "__main__":
    main()
