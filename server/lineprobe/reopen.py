"""``lineprobe open FILE``: the command a capture was saved by, made to run again against it.

A saved capture is a recording (``capture/recorded.py``) whose header holds the CLI arguments
that made it. Reopening runs the same command with the recording in the agent's place, so its
report is the command's own, resolved again (the archived binaries stand in for files since
deleted or rebuilt). Of the saved arguments, those that chose where output went (``--json``,
``--folded``, ``--speedscope``, ``--pprof``), where it was kept (``--save``), which slice of a profile it
showed (``--thread``, ``--time``: the capture keeps every thread and all its time) and how
privileges were gained (``--launcher``) are dropped, and a launched command (after ``--``)
becomes the PID it ran as: nothing is launched or traced again.
"""

from __future__ import annotations

DROPPED_FLAGS = frozenset({"--json"})
DROPPED_WITH_VALUE = frozenset(
    {"--save", "--launcher", "--folded", "--speedscope", "--pprof", "--chrome-trace", "--thread", "--time"}
)


def reopen_arguments(saved: list[str], pid: int | None, outputs: list[str]) -> list[str]:
    """The arguments that report ``saved``'s capture again, with ``outputs`` (``--json``,
    ``--folded FILE``, ...) instead of the saved ones."""
    arguments: list[str] = []
    launched = False
    skip = False
    for argument in saved:
        if skip:
            skip = False
            continue
        if argument == "--":
            launched = True
            break
        name = argument.split("=", 1)[0]
        if argument in DROPPED_FLAGS or (name in DROPPED_WITH_VALUE and "=" in argument):
            continue
        if argument in DROPPED_WITH_VALUE:
            skip = True
            continue
        arguments.append(argument)
    if launched and pid is not None:
        arguments += ["--pid", str(pid)]
    return arguments + outputs
