"""pprof export and import (lineprobe.reports.pprof): a profile written as profile.proto and read
back keeps its per-line and per-function figures; inline chains are one location with several
lines; threads and time buckets are labels; a file that is no profile is refused in words."""

from __future__ import annotations

import gc
import gzip
from pathlib import Path

import pytest
from lineprobe.capture.kinds import PROFILE
from lineprobe.capture.runner import CaptureRunner
from lineprobe.costs.aggregate import stack_profile
from lineprobe.costs.model import CPU_SAMPLES, CostUnit, StackProfile, WeightedStack
from lineprobe.model.capture import CaptureHeader, Timings
from lineprobe.model.mapping import MappedFile
from lineprobe.profiling.wall_clock import ON_CPU_TIME
from lineprobe.reports.pprof import (
    PprofUnreadable,
    is_pprof,
    pprof_message,
    read_message,
    read_pprof,
    write_pprof,
)
from lineprobe.symbolization.frame import FrameKind, SourceFrame

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"

EXE = "/srv/app/bin/app"
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"
SOURCE = "/srv/app/src/app.c"
HEADER = "/srv/app/src/vec.h"


def primes_profile() -> StackProfile:
    """The CPU profile of workloads/primes in tests/recordings, resolved as ``lineprobe profile``
    resolves it (the recording stands in for the agent)."""
    runner = CaptureRunner(replay=RECORDINGS / "profile-primes.jsonl")
    try:
        return runner.capture(PROFILE, 1, 1.0)
    finally:
        runner.close()


def hand_profile() -> StackProfile:
    """A profile with what the primes recording lacks: an inline chain, kernel frames under a
    line, threads (one of them tid 0) with names, time buckets (from 0), and a second column."""
    inlined = SourceFrame("vec_sum", HEADER, 12, 5, FrameKind.INLINED, EXE, HEADER, 10)
    compute = SourceFrame("compute", SOURCE, 40, 9, FrameKind.NATIVE, EXE, SOURCE, 30)
    flush = SourceFrame("flush", SOURCE, 52, 4, FrameKind.NATIVE, EXE, SOURCE, 50)
    main = SourceFrame("main", SOURCE, 70, 3, FrameKind.NATIVE, EXE, SOURCE, 60)
    write = SourceFrame("write", None, None, None, FrameKind.NATIVE, LIBC)
    unnamed = SourceFrame(None, None, None, None, FrameKind.NATIVE, LIBC)
    syscall = SourceFrame("do_syscall_64", None, None, None, FrameKind.KERNEL, "[kernel]")
    sys_write = SourceFrame("ksys_write", None, None, None, FrameKind.KERNEL, "[kernel]")
    stacks = [
        WeightedStack((7, 70_000_000), [inlined, compute, main], thread=11, time_bucket=0),
        WeightedStack((1, 10_000_000), [compute, main], thread=11, time_bucket=1),
        WeightedStack((2, 20_000_000), [sys_write, syscall, flush, main], thread=12, time_bucket=1),
        WeightedStack((3, 30_000_000), [sys_write, syscall, write, unnamed, main], thread=0, time_bucket=2),
    ]
    header = CaptureHeader(
        pid=4242,
        exe=EXE,
        comm="app",
        requested_s=2.0,
        duration_s=1.5,
        started_at=1_700_000_000.25,
        stopped_early=False,
        target_exited=False,
        exited_after_s=None,
        mappings=(
            MappedFile(0x7F00_0000_0000, 0x7F00_0001_0000, 0x2000, LIBC, "libcbuildid"),
            MappedFile(0x5500_0000_1000, 0x5500_0000_9000, 0x1000, EXE, "appbuildid"),
        ),
        timings=Timings(),
    )
    return stack_profile(
        header,
        (CPU_SAMPLES, ON_CPU_TIME),
        stacks,
        [],
        Timings(),
        rate_hz=99,
        thread_names={11: "worker-1", 12: "flusher", 0: "swapper/3"},
        time_bucket_ns=100_000_000,
    )


def _round_trip(profile: StackProfile, tmp_path: Path) -> StackProfile:
    path = tmp_path / "profile.pb.gz"
    write_pprof(profile, str(path))
    assert path.read_bytes()[:2] == b"\x1f\x8b"  # gzipped on disk, as pprof keeps profiles
    return read_pprof(str(path))


def test_the_primes_profile_comes_back_with_the_same_lines_and_functions(tmp_path: Path) -> None:
    original = primes_profile()
    assert original.total > 0 and original.lines and original.functions
    imported = _round_trip(original, tmp_path)
    # Every figure of every line and function: self and total, callers and callees, inlined.
    assert imported.lines == original.lines
    assert imported.functions == original.functions
    assert imported.columns == original.columns == (CPU_SAMPLES,)
    assert imported.totals == original.totals
    assert imported.rate_hz == original.rate_hz
    assert imported.header.duration_s == pytest.approx(original.header.duration_s)
    assert imported.header.exe == original.header.exe
    assert imported.header.pid == 0 and imported.header.replayed
    built = {m.path: m.build_id for m in original.header.mappings if m.build_id}
    assert {m.path: m.build_id for m in imported.header.mappings if m.build_id} == built


def test_the_written_profile_says_what_pprof_needs(tmp_path: Path) -> None:
    profile = primes_profile()
    path = tmp_path / "primes.pb.gz"
    write_pprof(profile, str(path))
    message = read_message(str(path))
    strings = list(message.string_table)
    assert strings[0] == ""
    assert [(strings[t.type], strings[t.unit]) for t in message.sample_type] == [("CPU samples", "count")]
    assert strings[message.default_sample_type] == "CPU samples"
    assert (strings[message.period_type.type], strings[message.period_type.unit]) == ("cpu", "nanoseconds")
    assert message.period == round(1e9 / profile.rate_hz)
    assert message.duration_nanos == int(profile.header.duration_s * 1e9)
    main = message.mapping[0]  # pprof's convention: the main binary first
    exe = next(m for m in profile.header.mappings if m.path == profile.header.exe)
    assert strings[main.filename] == exe.path and strings[main.build_id] == exe.build_id
    assert (main.memory_start, main.memory_limit, main.file_offset) == (exe.start, exe.end, exe.offset)
    assert main.has_functions and main.has_line_numbers  # so pprof never symbolizes it again
    assert sum(sample.value[0] for sample in message.sample) == profile.total
    # The same bytes for the same profile (no time in the gzip header).
    again = tmp_path / "again.pb.gz"
    write_pprof(profile, str(again))
    assert again.read_bytes() == path.read_bytes()


def test_an_inline_chain_is_one_location_with_its_lines_innermost_first(tmp_path: Path) -> None:
    profile = hand_profile()
    message = pprof_message(profile)
    strings = list(message.string_table)
    names = {f.id: strings[f.name] for f in message.function}
    chains = [[names[line.function_id] for line in location.line] for location in message.location]
    assert ["vec_sum", "compute"] in chains  # inlined first, the physical function's line last
    assert ["compute"] in chains  # the same function not inlined into: a location of its own
    assert [] in chains  # the frame nothing named: an address-only location, as pprof has them
    assert all(len(chain) <= 1 for chain in chains if chain != ["vec_sum", "compute"])
    inline = next(loc for loc in message.location if len(loc.line) == 2)
    assert [line.line for line in inline.line] == [12, 40] and [line.column for line in inline.line] == [5, 9]
    # Back in lineprobe: the INLINED frame before its physical frame, and the line flagged inlined.
    imported = _round_trip(profile, tmp_path)
    assert imported.stacks[0].frames[:2] == profile.stacks[0].frames[:2]
    assert [f.kind for f in imported.stacks[0].frames] == [
        FrameKind.INLINED,
        FrameKind.NATIVE,
        FrameKind.NATIVE,
    ]
    vec_sum = next(stat for stat in imported.lines if stat.path == HEADER)
    assert vec_sum.inlined and vec_sum.self_cost == 7


def test_kernel_frames_threads_time_and_columns_come_back(tmp_path: Path) -> None:
    profile = hand_profile()
    imported = _round_trip(profile, tmp_path)
    assert imported.stacks == profile.stacks  # frames, kinds, costs, threads and buckets alike
    assert imported.lines == profile.lines
    assert imported.functions == profile.functions
    assert imported.thread_names == profile.thread_names
    assert imported.time_bucket_ns == profile.time_bucket_ns
    assert imported.columns == profile.columns and imported.columns[1].unit is CostUnit.NANOSECONDS
    assert imported.totals == (13, 130_000_000)
    assert imported.rate_hz == 99
    flush = next(stat for stat in imported.lines if stat.function == "flush")
    assert flush.kernel_callees == {"do_syscall_64": 2}  # the line's time in the kernel, kept apart
    kernel = next(stat for stat in imported.functions if stat.function == "ksys_write")
    assert kernel.binary == "[kernel]" and kernel.self_costs == [5, 50_000_000]
    message = read_message(str(tmp_path / "profile.pb.gz"))
    strings = list(message.string_table)
    assert "[kernel]" in [strings[m.filename] for m in message.mapping]
    labels = [
        {
            strings[label.key]: (label.num, strings[label.str], strings[label.num_unit])
            for label in sample.label
        }
        for sample in message.sample
    ]
    assert labels[0] == {
        "thread": (11, "", "tid"),
        "thread_name": (0, "worker-1", ""),
        "time_bucket": (0, "", "bucket"),
    }
    assert labels[3]["thread"] == (0, "", "tid")  # tid 0 has a unit, or pprof would drop the label


def test_messages_are_made_after_a_garbage_collection() -> None:
    """The message classes outlive a collection (protobuf 4.22 holds sub-message classes weakly:
    adding a sub-message whose class was collected crashed the interpreter)."""
    gc.collect()
    message = pprof_message(hand_profile())
    assert len(message.sample) == 4 and len(message.sample_type) == 2


def test_a_profile_of_another_tool_is_read_with_its_default_sample_type_first(tmp_path: Path) -> None:
    """A Go-style CPU profile, not gzipped: samples/count and cpu in microseconds, no default
    sample type (pprof's rule: then the last one), no inline chains, no labels."""
    message = pprof_message(hand_profile())
    strings = list(message.string_table)
    message.string_table.extend(["samples", "cpu", "microseconds"])
    samples, cpu, microseconds = len(strings), len(strings) + 1, len(strings) + 2
    count = strings.index("count")
    del message.sample_type[:]
    message.sample_type.add(type=samples, unit=count)
    message.sample_type.add(type=cpu, unit=microseconds)
    message.default_sample_type = 0
    for sample in message.sample:
        sample.value[1] //= 1000
        del sample.label[:]
    del message.comment[:]
    path = tmp_path / "go.pprof"
    path.write_bytes(message.SerializeToString())
    imported = read_pprof(str(path))
    assert [(c.event, c.unit) for c in imported.columns] == [
        ("cpu", CostUnit.NANOSECONDS),
        ("samples", CostUnit.SAMPLES),
    ]
    assert imported.totals == (130_000_000, 13)  # microseconds made nanoseconds
    assert imported.header.exe == EXE and imported.header.comm == "app"
    assert imported.thread_names == {} and all(stack.thread is None for stack in imported.stacks)
    assert imported.time_bucket_ns == 0


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", 'no string table starting with ""'),
        (b"hello, this is text\n", "not a protocol buffer message"),
        (b"\x00\xff\x13garbage\x99" * 20, "not a protocol buffer message"),
        (gzip.compress(b"\x00\xff\x13garbage"), "not a protocol buffer message"),
        (gzip.compress(b"x" * 1000)[:-12], "gzip data that does not decompress"),
        (b"\x12\x00", 'no string table starting with ""'),  # a sample, and nothing else
    ],
    ids=["empty", "text", "binary", "gzipped-garbage", "truncated-gzip", "sample-only"],
)
def test_a_file_that_is_no_profile_is_refused_in_words(tmp_path: Path, content: bytes, why: str) -> None:
    path = tmp_path / "garbage.pb.gz"
    path.write_bytes(content)
    assert not is_pprof(str(path))
    with pytest.raises(PprofUnreadable) as refused:
        read_pprof(str(path))
    assert str(refused.value).startswith(f"{path}: not a pprof profile ({why}")
    assert isinstance(refused.value, ValueError)


def test_a_recording_a_missing_file_and_a_broken_profile_are_refused(tmp_path: Path) -> None:
    recording = RECORDINGS / "profile-primes.jsonl"
    with pytest.raises(PprofUnreadable, match=r"not a pprof profile \("):
        read_pprof(str(recording))
    missing = tmp_path / "missing.pb.gz"
    with pytest.raises(
        PprofUnreadable, match=r"missing\.pb\.gz: not a pprof profile \(cannot read it: No such file"
    ):
        read_pprof(str(missing))
    message = pprof_message(hand_profile())
    message.sample[0].location_id.append(999)
    broken = tmp_path / "broken.pb"
    broken.write_bytes(message.SerializeToString())
    with pytest.raises(PprofUnreadable, match="a sample names a location there is not"):
        read_pprof(str(broken))
    good = tmp_path / "good.pb.gz"
    write_pprof(hand_profile(), str(good))
    assert is_pprof(str(good)) and not is_pprof(str(recording))
