"""Slicing a profile by thread and time: which stacks are kept, and that lines are tallied again."""

from __future__ import annotations

import pytest
from lineprobe.costs.aggregate import stack_profile
from lineprobe.costs.model import CPU_SAMPLES, StackProfile, WeightedStack
from lineprobe.costs.slices import (
    SliceError,
    TimeRange,
    sliced,
    thread_ids,
    threads_of,
    time_bucket_ms,
    timeline,
)
from lineprobe.model.capture import CaptureHeader, Timings
from lineprobe.symbolization.frame import FrameKind, SourceFrame

MAIN, WORKER = 100, 101


def frame(function: str, line: int) -> SourceFrame:
    return SourceFrame(function, "/src/app.c", line, None, FrameKind.NATIVE, "/bin/app")


def profile(time_bucket_ms: int = 100) -> StackProfile:
    header = CaptureHeader(MAIN, "/bin/app", "app", 2.0, 2.0, 0.0, False, False, None, (), Timings())
    stacks = [
        # The main thread runs alpha (line 10) in the first 200 ms, then beta (line 20).
        WeightedStack((5,), [frame("alpha", 10), frame("main", 40)], MAIN, 0),
        WeightedStack((5,), [frame("alpha", 10), frame("main", 40)], MAIN, 1),
        WeightedStack((7,), [frame("beta", 20), frame("main", 41)], MAIN, 2),
        # The worker runs beta throughout; 3 of its samples had no room for their time.
        WeightedStack((4,), [frame("beta", 20), frame("work", 50)], WORKER, 0),
        WeightedStack((4,), [frame("beta", 20), frame("work", 50)], WORKER, 2),
        WeightedStack((3,), [frame("beta", 20), frame("work", 50)], WORKER, None),
    ]
    return stack_profile(
        header,
        (CPU_SAMPLES,),
        stacks,
        [],
        Timings(),
        thread_names={MAIN: "app", WORKER: "worker"},
        time_bucket_ns=time_bucket_ms * 1_000_000,
    )


def self_of(p: StackProfile, line: int) -> int:
    return next(stat.self_cost for stat in p.lines if stat.line == line)


def test_threads_are_listed_busiest_first_with_their_names() -> None:
    threads = threads_of(profile())
    assert [(t.tid, t.name, t.cost) for t in threads] == [(MAIN, "app", 17), (WORKER, "worker", 11)]


def test_the_timeline_has_one_row_per_thread_and_leaves_untimed_samples_out() -> None:
    rows = {row.tid: row.costs for row in timeline(profile())}
    assert rows == {MAIN: [5, 5, 7], WORKER: [4, 0, 4]}
    assert timeline(profile(time_bucket_ms=0)) == []


def test_a_thread_slice_tallies_lines_again_and_shares_are_of_the_slice() -> None:
    whole = profile()
    worker = sliced(whole, {WORKER})
    assert worker.total == 11
    assert [(stat.line, stat.self_cost) for stat in worker.lines] == [(20, 11), (50, 0)]
    assert worker.share(self_of(worker, 20)) == 100.0
    assert worker.selection == f"thread {WORKER} (worker)"
    assert whole.total == 28  # the profile sliced is left as it was


def test_a_time_slice_keeps_the_buckets_whose_middle_is_in_range() -> None:
    first = sliced(profile(), time_range=TimeRange.parse(":0.2"))
    assert first.total == 5 + 5 + 4
    assert self_of(first, 10) == 10
    later = sliced(profile(), time_range=TimeRange.parse("0.2:"))
    assert later.total == 7 + 4  # the untimed 3 are in no range
    assert {stat.line for stat in later.lines if stat.self_cost} == {20}
    both = sliced(profile(), {MAIN}, TimeRange(0.2, 0.3))
    assert both.total == 7
    assert both.selection == f"thread {MAIN} (app) from 0.2 s to 0.3 s"


def test_threads_are_named_by_tid_or_by_name() -> None:
    p = profile()
    assert thread_ids(p, ["worker"]) == {WORKER}
    assert thread_ids(p, [str(MAIN), "worker"]) == {MAIN, WORKER}
    with pytest.raises(SliceError, match=r"no thread 'nope' in this capture; its threads: 100 \(app\)"):
        thread_ids(p, ["nope"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3", "START:END"),
        ("a:b", "seconds from the profile's start"),
        ("4:2", "ends before it starts"),
    ],
)
def test_bad_time_ranges_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(SliceError, match=message):
        TimeRange.parse(text)


def test_a_profile_without_threads_or_time_says_so() -> None:
    timeless = profile(time_bucket_ms=0)
    with pytest.raises(SliceError, match="keeps no time"):
        sliced(timeless, time_range=TimeRange(0, 1))
    old = stack_profile(
        timeless.header, (CPU_SAMPLES,), [WeightedStack((1,), [frame("f", 1)])], [], Timings()
    )
    with pytest.raises(SliceError, match="keeps no threads"):
        thread_ids(old, ["1"])


def test_bucket_width_is_about_300_buckets_per_attached_profile_never_under_100_ms() -> None:
    assert time_bucket_ms(5, launched=False) == 100
    assert time_bucket_ms(60, launched=False) == 200
    assert time_bucket_ms(3600, launched=False) == 12000
    assert time_bucket_ms(3600, launched=True) == 100
