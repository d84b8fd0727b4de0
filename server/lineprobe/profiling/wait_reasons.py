"""Why a thread was off the CPU, read from the kernel stack it left with: the off-CPU profile's
time split into reason columns beside its total (disk I/O, a lock, a sleep, a page fault,
waiting for input, preempted), as offcputime users read the kernel frames by eye.

The first rule whose functions appear in the kernel stack names the reason; the order matters
where stacks hold several (a page fault that waits for the disk is a page fault: the line that
touched the memory is what to change).
"""

from __future__ import annotations

from dataclasses import replace

from lineprobe.costs.aggregate import column_totals, tally
from lineprobe.costs.model import CostColumn, CostUnit, StackProfile, WeightedStack
from lineprobe.symbolization.frame import FrameKind, SourceFrame

WAIT_REASONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("page fault", ("exc_page_fault", "do_user_addr_fault", "handle_mm_fault")),
    (
        "lock",
        ("futex_wait", "__mutex_lock", "rwsem_down_read_slowpath", "rwsem_down_write_slowpath", "rt_mutex"),
    ),
    (
        "disk I/O",
        (
            "io_schedule",
            "folio_wait_bit",
            "wait_on_page_bit",
            "submit_bio_wait",
            "blk_mq_",
            "jbd2_",
            "file_write_and_wait_range",
            "__filemap_fdatawait_range",
            "wait_for_completion_io",
            "ext4_sync_file",
        ),
    ),
    (
        "sleep",
        ("do_nanosleep", "hrtimer_nanosleep", "msleep", "schedule_timeout_", "do_sys_pause", "sigsuspend"),
    ),
    (
        "waiting for input",
        (
            "do_sys_poll",
            "do_select",
            "ep_poll",
            "sk_wait_data",
            "unix_stream_read_generic",
            "inet_csk_accept",
            "pipe_read",
            "pipe_write",
            "wait_woken",
            "n_tty_read",
            "do_wait",
        ),
    ),
    ("preempted", ("preempt_schedule", "exit_to_user_mode_loop", "irqentry_exit", "__cond_resched")),
)
OTHER = "other"
OFFCPU_LIMITS = (
    "a wait still going on when the window ends is not counted (its thread has not come back)",
    "time a thread spends runnable, waiting for a CPU after being woken, is counted as off-CPU"
    " time of the stack it left with",
    "the reasons are read from kernel function names: a stack no rule knows is 'other'",
)
"""What off-CPU time cannot say on this kernel, and why."""


def wait_reason(frames: list[SourceFrame]) -> str:
    """The reason the kernel frames of one off-CPU stack give, or "other"."""
    names = [f.function for f in frames if f.kind is FrameKind.KERNEL and f.function]
    for reason, functions in WAIT_REASONS:
        if any(name.startswith(functions) for name in names):
            return reason
    return OTHER


def split_by_reason(profile: StackProfile) -> StackProfile:
    """The profile with one more column per reason found (its total stays the primary column,
    so shares, heat and the flame graph are unchanged)."""
    if len(profile.columns) != 1 or profile.cost.unit is not CostUnit.NANOSECONDS:
        return profile
    reasons = [wait_reason(stack.frames) for stack in profile.stacks]
    found = [r for r, _ in WAIT_REASONS if r in reasons] + ([OTHER] if OTHER in reasons else [])
    columns = (
        profile.cost,
        *(CostColumn(f"off-CPU: {reason}", CostUnit.NANOSECONDS, profile.cost.code) for reason in found),
    )
    stacks = [
        WeightedStack((stack.count, *(stack.count if r == reason else 0 for r in found)), stack.frames)
        for stack, reason in zip(profile.stacks, reasons, strict=True)
    ]
    lines, functions = tally(columns, stacks)
    return replace(
        profile,
        limits=OFFCPU_LIMITS,
        columns=columns,
        totals=column_totals(columns, stacks),
        stacks=stacks,
        lines=lines,
        functions=functions,
    )
