"""A saved CPU capture resolved again, as the profile itself rather than its report.

``lineprobe diff`` compares two captures kept with ``lineprobe profile --save``, so it needs each
one's ``StackProfile``, not its printout. It gets it the way ``lineprobe open`` does (``reopen``):
the saved arguments with what only chose outputs dropped and a launched command turned into the
PID it ran as, then a ``CaptureRunner`` replaying the recording in the agent's place, for
``kinds.PROFILE``, with the saved frequency and length. The replay, the archived binaries and
the resolution are the ones ``lineprobe open`` reports; nothing is resolved a second way.

A pprof profile (``--pprof``, or a fleet profiler's) is compared too: it is read as ``lineprobe
open`` reads it, and it must be of CPU samples at a known period.
"""

from __future__ import annotations

from pathlib import Path

from lineprobe.capture import kinds
from lineprobe.capture.agent_errors import AgentError
from lineprobe.capture.recorded import saved_command
from lineprobe.capture.runner import CaptureRunner
from lineprobe.capture.wire import parameters
from lineprobe.costs.model import CPU_SAMPLES, StackProfile
from lineprobe.costs.slices import time_bucket_ms
from lineprobe.reopen import reopen_arguments
from lineprobe.reports.pprof import PprofUnreadable, pprof_profile, read_message
from lineprobe.symbolization.resolver import ImageCache

PROFILE_VALUES = {
    "--pid": "pid",
    "-p": "pid",
    "--duration": "duration",
    "-d": "duration",
    "--frequency": "frequency",
    "-F": "frequency",
}
"""The options of ``lineprobe profile`` that a replay passes on (as ``lineprobe open`` does)."""


class NotACpuProfile(AgentError):
    def __init__(self, path: Path, what: str) -> None:
        super().__init__(
            "bad-request",
            f"{path}: {what}, not a CPU profile: only captures of `lineprobe profile --save` are compared",
        )


def resolve_saved_profile(path: Path, cache: ImageCache | None = None) -> StackProfile:
    """The CPU profile kept in ``path`` (``lineprobe profile --save``, or a pprof file), resolved
    again; ``cache``: the caller's image cache (a server's), else the replay's own.

    Raises ``AgentError``: the file is no saved capture (``RecordingUnreadable``), a capture of
    another command or of another cost (``NotACpuProfile``), or its replay fails."""
    try:
        message = read_message(str(path))
    except PprofUnreadable:
        message = None  # not pprof: a saved capture, or what saved_command says it is not
    if message is not None:
        return _cpu_profile(path, pprof_profile(message, str(path)))
    saved = saved_command(path)
    arguments = reopen_arguments(saved.arguments, saved.pid, [])
    if not arguments or arguments[0] != "profile":
        raise NotACpuProfile(path, f"a capture of `lineprobe {' '.join(arguments[:1])}`")
    values = saved_values(arguments[1:])
    try:
        pid = int(values.get("pid", saved.pid or 0))
        duration_s = float(values.get("duration", parameters.default(parameters.DURATION_S)))
        frequency = int(values.get("frequency", parameters.default(parameters.FREQUENCY)))
    except ValueError:
        raise AgentError(
            "bad-request", f"{path}: its saved command is not one of lineprobe's: {arguments}"
        ) from None
    runner = (
        CaptureRunner(cache=cache, replay=path.absolute(), record=None)
        if cache is not None
        else CaptureRunner(replay=path.absolute(), record=None)
    )
    try:
        profile = runner.capture(
            kinds.PROFILE,
            pid,
            duration_s,
            {"frequency": frequency, "time_bucket_ms": time_bucket_ms(duration_s, launched=False)},
        )
    finally:
        if cache is None:
            runner.close()
        elif runner.agent is not None:  # the cache is the caller's: not closed with the replay
            runner.agent.close()
    return _cpu_profile(path, profile)


def _cpu_profile(path: Path, profile: StackProfile) -> StackProfile:
    if profile.cost != CPU_SAMPLES or profile.rate_hz <= 0:
        raise NotACpuProfile(path, f"a profile of {profile.cost.title}")
    return profile


def saved_values(arguments: list[str]) -> dict[str, str]:
    """The values of ``PROFILE_VALUES``' options among saved arguments, in any of the spellings
    click accepts (``--frequency 999``, ``--frequency=999``, ``-F 999``, ``-F999``); the last one
    given wins, as in click."""
    values: dict[str, str] = {}
    position = 0
    while position < len(arguments):
        argument = arguments[position]
        position += 1
        name, equals, value = argument.partition("=")
        if name in PROFILE_VALUES and name.startswith("--") and equals:
            values[PROFILE_VALUES[name]] = value
        elif argument in PROFILE_VALUES and position < len(arguments):
            values[PROFILE_VALUES[argument]] = arguments[position]
            position += 1
        elif argument[:2] in PROFILE_VALUES and not argument.startswith("--") and len(argument) > 2:
            values[PROFILE_VALUES[argument[:2]]] = argument[2:]
    return values
