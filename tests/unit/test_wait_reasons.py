"""Off-CPU time split by the reason its kernel stacks give: the total stays the primary column
(shares, heat and the flame graph unchanged), each reason becomes a column beside it, and a
line's reason columns add up to its total."""

from __future__ import annotations

from lineprobe.costs.aggregate import stack_profile
from lineprobe.costs.model import CostColumn, CostUnit, WeightedStack
from lineprobe.model.capture import CaptureHeader, Timings
from lineprobe.profiling.wait_reasons import split_by_reason, wait_reason
from lineprobe.reports.json_report import profile_to_json
from lineprobe.symbolization.frame import FrameKind, SourceFrame

OFFCPU = CostColumn("off-CPU time", CostUnit.NANOSECONDS, "offcpu-line")


def kernel(*functions: str) -> list[SourceFrame]:
    return [SourceFrame(f, None, None, None, FrameKind.KERNEL, "[kernel]") for f in functions]


def user(line: int) -> list[SourceFrame]:
    return [SourceFrame("work", "/src/app.c", line, None, FrameKind.NATIVE, "/bin/app")]


def test_each_kernel_stack_names_its_reason() -> None:
    assert wait_reason(kernel("__schedule", "schedule", "do_nanosleep", "hrtimer_nanosleep")) == "sleep"
    assert (
        wait_reason(kernel("__schedule", "io_schedule", "folio_wait_bit_common", "ext4_sync_file"))
        == "disk I/O"
    )
    assert wait_reason(kernel("__schedule", "futex_wait_queue", "futex_wait", "do_futex")) == "lock"
    # A fault that waits for the disk is the fault's: the line that touched the memory is to blame.
    assert (
        wait_reason(kernel("__schedule", "io_schedule", "filemap_fault", "handle_mm_fault")) == "page fault"
    )
    assert wait_reason(kernel("__schedule", "schedule", "ep_poll", "do_epoll_wait")) == "waiting for input"
    assert wait_reason(kernel("__schedule", "preempt_schedule_irq", "irqentry_exit")) == "preempted"
    assert wait_reason(kernel("__schedule", "schedule", "kthread_something")) == "other"
    # A user frame named like a kernel function is not the kernel's.
    assert (
        wait_reason([SourceFrame("do_nanosleep", None, None, None, FrameKind.NATIVE, "/bin/app")]) == "other"
    )


def test_the_split_adds_reason_columns_that_sum_to_the_total() -> None:
    header = CaptureHeader(1, "/bin/app", "app", 1.0, 1.0, 0.0, False, False, None, (), Timings())
    stacks = [
        WeightedStack((900,), kernel("__schedule", "do_nanosleep") + user(10)),
        WeightedStack((60,), kernel("__schedule", "io_schedule", "ext4_sync_file") + user(20)),
        WeightedStack((40,), kernel("__schedule", "do_nanosleep") + user(20)),
    ]
    profile = split_by_reason(stack_profile(header, (OFFCPU,), stacks, [], Timings()))
    assert [c.event for c in profile.columns] == ["off-CPU time", "off-CPU: disk I/O", "off-CPU: sleep"]
    assert profile.totals == (1000, 60, 940)
    line_20 = next(s for s in profile.lines if s.line == 20)
    assert line_20.total_costs == [100, 60, 40]
    report = profile_to_json(profile)
    row = next(r for r in report["lines"] if r["line"] == 20)
    assert row["total"] == 100 and row["column_total"] == [100, 60, 40]
    assert "total_ns" not in row  # three columns in ns: no key by unit would say which


def test_profiles_of_other_costs_are_left_alone() -> None:
    header = CaptureHeader(1, "/bin/app", "app", 1.0, 1.0, 0.0, False, False, None, (), Timings())
    samples = CostColumn("CPU", CostUnit.SAMPLES)
    profile = stack_profile(header, (samples,), [WeightedStack((3,), user(5))], [], Timings())
    assert split_by_reason(profile) is profile
