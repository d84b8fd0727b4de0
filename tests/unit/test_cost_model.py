"""The one cost model: typed units, several columns through one tally, and a leak trace as stacks
weighted by bytes in every stack output (folded, speedscope, JSON, hover)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from lineprobe.costs.aggregate import column_totals, tally
from lineprobe.costs.model import CPU_SAMPLES, CostColumn, CostUnit, StackProfile, WeightedStack
from lineprobe.leaks.model import AllocationPath, LeakSite, LeakTrace
from lineprobe.leaks.outstanding import outstanding_profile
from lineprobe.lsp.presentation import hover_markdown
from lineprobe.lsp.profile_view import ProfileView
from lineprobe.lsp.settings import Settings
from lineprobe.model.capture import CaptureHeader, Timings
from lineprobe.reports.folded import folded_lines
from lineprobe.reports.json_report import profile_to_json
from lineprobe.reports.speedscope import speedscope_document
from lineprobe.symbolization.frame import FrameKind, SourceFrame

REPO = Path(__file__).resolve().parents[2]
SOURCE = "/src/app.c"


def frame(function: str, line: int) -> SourceFrame:
    return SourceFrame(function, SOURCE, line, None, FrameKind.NATIVE, "/bin/app")


def kernel(function: str) -> SourceFrame:
    return SourceFrame(function, None, None, None, FrameKind.KERNEL, "[kernel]")


def header() -> CaptureHeader:
    return CaptureHeader(1, "/bin/app", "app", 2.0, 2.0, 0.0, False, False, None, (), Timings())


@pytest.mark.parametrize(
    ("unit", "value", "text"),
    [
        (CostUnit.SAMPLES, 1, "1 sample"),
        (CostUnit.SAMPLES, 1234, "1,234 samples"),
        (CostUnit.CALLS, 0, "0 calls"),
        (CostUnit.HITS, 2, "2 hits"),
        (CostUnit.BYTES, 512, "512 B"),
        (CostUnit.BYTES, 4096, "4.0 KiB"),
        (CostUnit.BYTES, 3 << 20, "3.0 MiB"),
        (CostUnit.NANOSECONDS, 900, "900 ns"),
        (CostUnit.NANOSECONDS, 14_200_000, "14.2 ms"),
        (CostUnit.NANOSECONDS, 2_500_000_000, "2.5 s"),
    ],
)
def test_units_format_values_for_people(unit: CostUnit, value: int, text: str) -> None:
    assert unit.format(value) == text


def test_speedscope_knows_time_and_memory_units() -> None:
    assert CostUnit.NANOSECONDS.speedscope == "nanoseconds"
    assert CostUnit.BYTES.speedscope == "bytes"
    assert CostUnit.SAMPLES.speedscope == "none"


def test_every_column_is_tallied_self_and_total_once_per_stack() -> None:
    # An off-CPU-like profile: time blocked (primary), and how many times it blocked.
    columns = (CostColumn("off-CPU", CostUnit.NANOSECONDS), CostColumn("off-CPU", CostUnit.CALLS))
    stacks = [
        # read() blocks on line 12, called from line 30: 3 ms over 2 switches.
        WeightedStack((3_000_000, 2), [kernel("schedule"), frame("load", 12), frame("main", 30)]),
        # Recursion through line 20: its total counts the stack once, not twice.
        WeightedStack((1_000_000, 5), [frame("walk", 20), frame("walk", 20), frame("main", 31)]),
    ]
    lines, functions = tally(columns, stacks)
    by_line = {stat.line: stat for stat in lines}
    assert column_totals(columns, stacks) == (4_000_000, 7)
    assert by_line[12].self_costs == [0, 0]  # the kernel frame is innermost
    assert by_line[12].total_costs == [3_000_000, 2]
    assert by_line[12].kernel_callees == {"schedule": 3_000_000}
    assert by_line[20].self_costs == [1_000_000, 5]
    assert by_line[20].total_costs == [1_000_000, 5]
    assert by_line[30].callees == {("load", SOURCE, 12): 3_000_000}
    assert lines[0].line == 20  # hottest self first
    walk = next(f for f in functions if f.function == "walk")
    assert (walk.self_cost, walk.total_cost) == (1_000_000, 1_000_000)
    with pytest.raises(ValueError, match="2 columns"):
        tally(columns, [WeightedStack((1,), [frame("main", 30)])])


def leak_trace() -> LeakTrace:
    held = AllocationPath((frame("malloc", 0), frame("grow", 40), frame("main", 50)), 4096.0, 4.0, 9.0)
    other = AllocationPath((frame("malloc", 0), frame("grow", 40), frame("main", 51)), 1024.0, 1.0, 1.0)
    freed = AllocationPath((frame("malloc", 0), frame("parse", 60), frame("main", 52)), 0.0, 0.0, 100.0)
    sites = [
        LeakSite(held.stack[1], list(held.stack), 5120.0, 5.0, 10.0, 2.0, 2560.0, paths=[held, other]),
        LeakSite(freed.stack[1], list(freed.stack), 0.0, 0.0, 100.0, None, 0.0, paths=[freed]),
    ]
    return LeakTrace(header(), sites, {}, estimated=False, lost=0, warnings=[], timings=Timings())


def test_a_leak_trace_is_stacks_weighted_by_bytes_held() -> None:
    profile = outstanding_profile(leak_trace())
    assert [column.title for column in profile.columns] == [
        "outstanding bytes",
        "outstanding blocks",
        "allocation calls",
    ]
    assert profile.totals == (5120, 5, 110)
    grow = next(stat for stat in profile.lines if stat.line == 40)
    assert grow.total_costs == [5120, 5, 10]
    assert profile.share(grow.total_cost) == 100.0

    # Collapsed stacks carry bytes, and leave out paths that hold nothing.
    assert folded_lines(profile) == [
        "app;main:50;grow:40;malloc 4096",
        "app;main:51;grow:40;malloc 1024",
    ]
    # Speedscope: one profile per column, each in its own unit.
    document = speedscope_document(profile)
    assert [(p["name"], p["unit"], p["endValue"]) for p in document["profiles"]] == [
        ("outstanding bytes", "bytes", 5120),
        ("outstanding blocks", "none", 5),
        ("allocation calls", "none", 110),
    ]
    # JSON: the primary column as self/total, the others by unit.
    report = profile_to_json(profile)
    assert report["unit"] == "bytes"
    assert report["columns"][1] == {"event": "outstanding", "unit": "blocks", "total": 5}
    line = next(entry for entry in report["lines"] if entry["line"] == 40)
    assert (line["total"], line["total_blocks"], line["total_calls"]) == (5120, 5, 10)


def test_a_hover_speaks_the_columns_units(tmp_path: Path) -> None:
    source = tmp_path / "app.c"
    source.write_text("".join(f"line {n}\n" for n in range(1, 61)))
    trace = leak_trace()
    for site in trace.sites:
        site.paths = [
            AllocationPath(
                tuple(f._replace(path=str(source)) for f in path.stack),
                path.outstanding_bytes,
                path.outstanding_count,
                path.allocations,
            )
            for path in site.paths
        ]
    profile = outstanding_profile(trace)
    view = ProfileView.build(profile, Settings(), [str(tmp_path)])
    doc = view.by_path[str(source)]
    text = hover_markdown(view, doc.lines[40])
    assert "**lineprobe: outstanding** (5.0 KiB of pid 1 `app`" in text
    assert "- total: **100.0%** (5.0 KiB)" in text
    assert "- outstanding blocks: 0 blocks self, 5 blocks total" in text
    assert "- allocation calls: 0 calls self, 10 calls total" in text


def test_a_cpu_profile_keeps_its_words() -> None:
    profile = StackProfile(
        header(), (CPU_SAMPLES,), (3,), [WeightedStack((3,), [frame("main", 30)])], [], [], [], Timings()
    )
    assert profile.cost.title == "CPU samples"
    assert CPU_SAMPLES.format(profile.total) == "3 samples"
    assert CPU_SAMPLES.code == "cpu-hot-line"


def test_leaks_cli_writes_stacks_by_bytes_from_a_recording(tmp_path: Path) -> None:
    """``lineprobe leaks --folded --speedscope`` on a recorded trace of wordcount, without root."""
    recording = REPO / "tests" / "recordings" / "leaks-wordcount.jsonl"
    folded, speedscope = tmp_path / "held.folded", tmp_path / "held.json"
    outputs = ["--json", "--folded", str(folded), "--speedscope", str(speedscope)]
    run = subprocess.run(
        [str(Path(sys.executable).with_name("lineprobe")), "leaks", "--pid", "1", *outputs],
        env={"PATH": "/usr/bin:/bin", "LINEPROBE_REPLAY": str(recording)},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    held = sum(site["outstanding_bytes"] for site in json.loads(run.stdout)["sites"])
    weights = [int(line.rsplit(" ", 1)[1]) for line in folded.read_text().splitlines()]
    assert weights and all(weight > 0 for weight in weights)
    assert sum(weights) == pytest.approx(held, abs=len(weights))  # whole bytes per path
    assert any("word_count:" in line for line in folded.read_text().splitlines())
    document = json.loads(speedscope.read_text())
    assert document["profiles"][0]["unit"] == "bytes"
    assert document["profiles"][0]["endValue"] == sum(weights)
