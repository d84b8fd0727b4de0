"""The ftrace function and function_graph tracers (the second half of the workshop's lab 1):
whether this kernel lets them run, and what lineprobe offers in their place. lineprobe does not
drive them itself: it says what the kernel answered (the agent's ``function-tracer``
capability, found by opening ``set_ftrace_filter`` for writing) and what to use instead."""

from __future__ import annotations

from dataclasses import dataclass

from lineprobe.capture.progress import CapabilityReport

REPLACEMENTS = (
    ("kernel events, with their fields", "lineprobe tracepoints list|trace|count"),
    ("which kernel paths a process's calls take, by stack", "lineprobe stackcount --pid PID CATEGORY:NAME"),
    (
        "where a function's time goes, its callees included (function_graph's durations)",
        "lineprobe profile --pid PID (on the CPU), lineprobe offcpu --wall-clock --pid PID (waiting too)",
    ),
    ("calls of user-space functions and probes", "lineprobe usdt list|count|trace"),
    ("how many times a line of a program runs, and from where", "lineprobe hits --pid PID FILE:LINE"),
)
"""What each tracer was for, and the lineprobe command that answers it here."""


@dataclass(frozen=True)
class FunctionTracerAdvice:
    available: bool
    detail: str
    """The kernel's answer: "refused (kernel lockdown)", "not built into this kernel"..."""
    how: tuple[str, ...]
    """Where the kernel allows it: the tracefs steps, as root (lineprobe does not drive it)."""
    replacements: tuple[tuple[str, str], ...] = REPLACEMENTS


def function_tracer_advice(report: CapabilityReport) -> FunctionTracerAdvice:
    found = next((c for c in report.capabilities if c.name == "function-tracer"), None)
    if found is None:
        return FunctionTracerAdvice(False, "the agent did not check it", ())
    how = (
        (
            "mkdir /sys/kernel/tracing/instances/lab1   # a tracing instance of your own",
            "echo 'vfs_*' > /sys/kernel/tracing/instances/lab1/set_ftrace_filter",
            "echo PID > /sys/kernel/tracing/instances/lab1/set_ftrace_pid",
            "echo function_graph > /sys/kernel/tracing/instances/lab1/current_tracer",
            "cat /sys/kernel/tracing/instances/lab1/trace_pipe",
            "rmdir /sys/kernel/tracing/instances/lab1   # after: echo nop > current_tracer",
        )
        if found.available
        else ()
    )
    return FunctionTracerAdvice(found.available, found.detail, how)
