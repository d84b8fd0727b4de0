"""``lineprobe diff`` on hand-made profiles (costs/diff.py, reports/diff_report.py) and on a replayed
recording (saved_profile.py): CPU time from samples and rate, per second of capture, shares,
sampling error, builds and moved sources, and what is refused."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest
from lineprobe.capture.agent_errors import AgentError
from lineprobe.costs.aggregate import stack_profile
from lineprobe.costs.diff import BuildMatch, DiffError, Normalisation, diff_profiles
from lineprobe.costs.model import CPU_SAMPLES, CostColumn, CostUnit, StackProfile, WeightedStack
from lineprobe.model.capture import CaptureHeader, Timings
from lineprobe.model.mapping import MappedFile
from lineprobe.reports.diff_report import diff_to_json, render_diff
from lineprobe.saved_profile import resolve_saved_profile, saved_values
from lineprobe.symbolization.frame import FrameKind, SourceFrame
from rich.console import Console

from tests.conftest import LINEPROBE

SOURCE = "/src/primes.c"
RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"
HOT, CALL, LOOP = 17, 25, 40
"""is_divisible's modulo, is_prime's call of it, main's call of is_prime."""


def frame(function: str, line: int, binary: str) -> SourceFrame:
    return SourceFrame(function, SOURCE, line, None, FrameKind.NATIVE, binary, SOURCE, line - 2)


def profile(
    hot: int,
    caller: int,
    rate_hz: int = 100,
    duration_s: float = 5.0,
    exited: bool = True,
    build_id: str | None = "aaaa",
    binary: str = "/bin/primes",
    stale: dict[str, str] | None = None,
    extra: list[WeightedStack] | None = None,
) -> StackProfile:
    """A primes-like CPU profile: ``hot`` samples on the modulo line, ``caller`` on is_prime's
    call of is_divisible (self), every stack under main."""
    stacks = [
        WeightedStack(
            (hot,),
            [
                frame("is_divisible", HOT, binary),
                frame("is_prime", CALL, binary),
                frame("main", LOOP, binary),
            ],
        ),
        WeightedStack((caller,), [frame("is_prime", CALL, binary), frame("main", LOOP, binary)]),
        *(extra or []),
    ]
    header = CaptureHeader(
        1, binary, "primes", duration_s, duration_s, 0.0, False, exited, duration_s if exited else None,
        (MappedFile(0x1000, 0x2000, 0, binary, build_id),), Timings(),
    )  # fmt: skip
    return stack_profile(
        header, (CPU_SAMPLES,), stacks, [], Timings(), rate_hz=rate_hz, stale_sources=dict(stale or {})
    )


def test_cpu_time_is_samples_over_the_rate_of_each_capture_and_only_the_changed_line_moves() -> None:
    # Before: 300 samples at 100 Hz on the hot line (3 s); after: 300 at 200 Hz (1.5 s). The
    # caller's own cost is the same CPU time at both rates (1 s).
    diff = diff_profiles(profile(300, 100, rate_hz=100), profile(300, 200, rate_hz=200))
    hot, caller = diff.lines[0], diff.lines[1]
    assert (hot.path, hot.line, hot.function) == (SOURCE, HOT, "is_divisible")
    assert hot.before.self_cost == pytest.approx(3.0) and hot.after.self_cost == pytest.approx(1.5)
    assert hot.self_delta == pytest.approx(-1.5)
    assert (hot.before.self_samples, hot.after.self_samples) == (300, 300)
    assert caller.line == CALL and caller.self_delta == pytest.approx(0.0)
    assert caller.total_delta == pytest.approx(-1.5)  # its total follows its callee
    # Shares are of each capture: the unchanged line's share grows as the other gets cheaper.
    assert caller.before.self_share == pytest.approx(25.0) and caller.after.self_share == pytest.approx(40.0)
    assert diff.total_delta == pytest.approx(-1.5)
    assert diff.colder_lines() == [hot] and diff.hotter_lines() == []
    functions = {change.function: change for change in diff.functions}
    assert functions["is_divisible"].self_delta == pytest.approx(-1.5)
    assert functions["is_prime"].self_delta == pytest.approx(0.0)
    assert functions["main"].total_delta == pytest.approx(-1.5)
    assert diff.functions[0].function == "is_divisible"
    assert diff.warnings == ()


def test_lines_and_functions_are_sorted_by_the_size_of_their_change_either_way() -> None:
    before = profile(100, 100)
    after = profile(140, 30)  # the hot line +0.4 s, the caller -0.7 s
    diff = diff_profiles(before, after)
    assert [(change.line, round(change.self_delta, 6)) for change in diff.lines] == [
        (CALL, -0.7),
        (HOT, 0.4),
        (LOOP, 0.0),
    ]
    assert [change.line for change in diff.hotter_lines()] == [HOT]
    assert [change.line for change in diff.colder_lines()] == [CALL]


def test_per_second_divides_by_each_capture_length_for_windows_of_running_processes() -> None:
    # The same process, attached twice, doing the same work per second: 2 s and 4 s windows.
    before = profile(200, 100, duration_s=2.0, exited=False)
    after = profile(400, 200, duration_s=4.0, exited=False)
    by_time = diff_profiles(before, after)
    assert by_time.lines[0].self_delta == pytest.approx(2.0)
    assert any("windows of 2.00 s and 4.00 s" in warning for warning in by_time.warnings)
    per_second = diff_profiles(before, after, Normalisation.PER_SECOND)
    assert per_second.normalisation.unit == "s/s"
    assert all(change.self_delta == pytest.approx(0.0) for change in per_second.lines)
    hot = next(change for change in per_second.lines if change.line == HOT)
    assert hot.before.self_cost == pytest.approx(1.0)  # 200 samples / 100 Hz / 2 s: one core
    assert per_second.warnings == ()
    # Launched commands run to their exit: the same work, whatever they took; no warning.
    assert diff_profiles(profile(200, 100, duration_s=2.0), profile(200, 100, duration_s=4.0)).warnings == ()


def test_the_sampling_error_is_the_square_root_of_each_count_at_its_rate() -> None:
    diff = diff_profiles(profile(100, 10, rate_hz=100), profile(121, 10, rate_hz=100))
    hot = diff.lines[0]
    assert hot.sampling_error == pytest.approx(math.hypot(10, 11) / 100)
    assert hot.within_noise  # +21 samples: within twice sqrt(100 + 121) = 29.7
    far = diff_profiles(profile(100, 10), profile(200, 10)).lines[0]
    assert not far.within_noise


def test_builds_are_compared_per_source_file_and_moved_sources_are_marked() -> None:
    same = diff_profiles(profile(10, 10, build_id="aaaa"), profile(5, 10, build_id="aaaa"))
    assert {change.build for change in same.lines} == {BuildMatch.SAME}
    assert same.rebuilt_sources == ()
    rebuilt = diff_profiles(
        profile(10, 10, build_id="aaaa"), profile(5, 10, build_id="bbbb", binary="/bin/primes-new")
    )
    assert {change.build for change in rebuilt.lines} == {BuildMatch.REBUILT}
    assert rebuilt.rebuilt_sources == (SOURCE,)
    # Functions of two binaries of one source pair up by name and source file.
    assert {change.function for change in rebuilt.functions} == {"is_divisible", "is_prime", "main"}
    assert rebuilt.functions[0].build is BuildMatch.REBUILT
    assert rebuilt.functions[0].binary == "/bin/primes-new"
    unknown = diff_profiles(profile(10, 10, build_id=None), profile(5, 10))
    assert {change.build for change in unknown.lines} == {BuildMatch.UNKNOWN}
    stale = {SOURCE: f"{SOURCE} was modified after /bin/primes was built: lines there may have moved"}
    moved = diff_profiles(profile(10, 10, stale=stale), profile(5, 10))
    assert all(change.source_moved for change in moved.lines)
    assert moved.moved_sources == (SOURCE,)
    assert any("line numbers may name different code" in warning for warning in moved.warnings)
    assert not any(change.source_moved for change in same.lines)


def test_a_line_in_one_capture_only_is_compared_with_nothing() -> None:
    libc = SourceFrame("memcpy", None, None, None, FrameKind.NATIVE, "/usr/lib/libc.so.6")
    new_line = WeightedStack(
        (50,), [frame("is_prime", 30, "/bin/primes"), frame("main", LOOP, "/bin/primes")]
    )
    in_libc = WeightedStack((20,), [libc, frame("main", LOOP, "/bin/primes")])
    diff = diff_profiles(profile(100, 10), profile(100, 10, extra=[new_line, in_libc]))
    added = next(change for change in diff.lines if change.line == 30)
    assert (added.before.self_samples, added.after.self_samples) == (0, 50)
    assert added.self_delta == pytest.approx(0.5)
    memcpy = next(change for change in diff.functions if change.function == "memcpy")
    assert (
        memcpy.path is None and memcpy.before.self_cost == 0 and memcpy.after.self_cost == pytest.approx(0.2)
    )
    assert memcpy.build is BuildMatch.UNKNOWN  # not in the before capture at all


def test_profiles_that_are_not_cpu_samples_at_a_known_rate_are_refused() -> None:
    off_cpu = profile(10, 10)
    off_cpu.columns = (CostColumn("off-CPU", CostUnit.NANOSECONDS),)
    with pytest.raises(DiffError, match="before profile is not of CPU samples at a known rate"):
        diff_profiles(off_cpu, profile(10, 10))
    with pytest.raises(DiffError, match="after profile is not of CPU samples"):
        diff_profiles(profile(10, 10), profile(10, 10, rate_hz=0))
    with pytest.raises(DiffError, match="no length to divide by"):
        diff_profiles(profile(10, 10, duration_s=0.0), profile(10, 10), Normalisation.PER_SECOND)


def test_the_json_shape_and_the_limit() -> None:
    diff = diff_profiles(profile(300, 100, rate_hz=100), profile(300, 200, rate_hz=200))
    document = json.loads(json.dumps(diff_to_json(diff)))
    assert (document["normalisation"], document["unit"]) == ("cpu-time", "s")
    assert document["total"] == {"before": 4.0, "after": 2.5, "delta": -1.5}
    assert document["before"]["cpu_s"] == 4.0 and document["after"]["frequency"] == 200
    hot = document["lines"][0]
    assert (hot["path"], hot["line"], hot["function"]) == (SOURCE, HOT, "is_divisible")
    assert hot["before"] == {
        "self_samples": 300, "total_samples": 300, "self": 3.0, "total": 3.0,
        "self_percent": 75.0, "total_percent": 75.0,
    }  # fmt: skip
    assert hot["delta"]["self"] == -1.5 and hot["delta"]["self_percent"] == pytest.approx(-15.0)
    assert hot["build"] == "same" and hot["source_moved"] is False and hot["within_noise"] is False
    assert len(document["lines"]) == 3 and len(document["functions"]) == 3
    limited = diff_to_json(diff, limit=1)
    assert len(limited["lines"]) == 1 and len(limited["functions"]) == 1


def test_the_terminal_report_names_the_movers_with_before_and_after() -> None:
    diff = diff_profiles(profile(300, 100, rate_hz=100), profile(300, 200, rate_hz=200))
    console = Console(record=True, width=200)
    render_diff(diff, console)
    text = console.export_text()
    assert "CPU time: 4.00 s → 2.50 s: -1.50 s (-37.5%)" in text
    assert "Colder lines" in text and "Colder functions" in text
    row = next(line for line in text.splitlines() if "primes.c:17" in line)
    assert "-1.500" in row and "3.000 → 1.500" in row and "is_divisible" in row
    assert "Hotter lines" not in text


def _saved(tmp_path: Path, recording: str, command: list[str]) -> Path:
    """A recording made for tests, with the saved command that ``--save`` would have kept, and
    its archived binaries beside it."""
    source = RECORDINGS / f"{recording}.jsonl"
    lines = source.read_text().splitlines()
    first = json.loads(lines[0])
    first["command"] = command
    saved = tmp_path / f"{recording}.lpcap"
    saved.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    archive = RECORDINGS / f"{recording}.jsonl.binaries"
    if archive.is_dir():
        shutil.copytree(archive, tmp_path / f"{recording}.lpcap.binaries")
    return saved


def test_a_saved_profile_resolves_as_lineprobe_open_reports_it_and_matches_itself(tmp_path: Path) -> None:
    saved = _saved(tmp_path, "profile-primes", ["profile", "--pid", "4242", "-d", "1", "-F30", "--json"])
    resolved = resolve_saved_profile(saved)
    opened = subprocess.run(
        [*LINEPROBE, "open", str(saved), "--json"], capture_output=True, text=True, timeout=120
    )
    assert opened.returncode == 0, opened.stderr
    report = json.loads(opened.stdout)
    assert resolved.total == report["samples"] > 0 and resolved.rate_hz == report["frequency"]
    assert [(s.path, s.line, s.self_cost) for s in resolved.lines] == [
        (line["path"], line["line"], line["self"]) for line in report["lines"]
    ]
    same = diff_profiles(resolved, resolve_saved_profile(saved))
    assert all(change.self_delta == 0 and change.total_delta == 0 for change in same.lines)
    assert {change.build for change in same.lines} == {BuildMatch.SAME}
    done = subprocess.run(
        [*LINEPROBE, "diff", str(saved), str(saved), "--json"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["total"]["delta"] == 0


def test_a_capture_of_another_command_is_refused_in_words(tmp_path: Path) -> None:
    saved = _saved(tmp_path, "syscalls-logger", ["syscalls", "--pid", "4242", "-d", "1"])
    with pytest.raises(AgentError, match="a capture of `lineprobe syscalls`, not a CPU profile"):
        resolve_saved_profile(saved)
    profile_saved = _saved(tmp_path, "profile-primes", ["profile", "--pid", "4242"])
    done = subprocess.run(
        [*LINEPROBE, "diff", str(profile_saved), str(saved)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "not a CPU profile: only captures of `lineprobe profile --save` are compared" in " ".join(
        done.stderr.split()
    )


@pytest.mark.parametrize(
    ("arguments", "values"),
    [
        (["--pid", "7", "--frequency", "999", "-d", "2"], {"pid": "7", "frequency": "999", "duration": "2"}),
        (["--frequency=49", "--duration=1.5"], {"frequency": "49", "duration": "1.5"}),
        (["-F999", "-p", "3", "-F", "10"], {"frequency": "10", "pid": "3"}),
        (["--thread", "x", "--json"], {}),
    ],
)
def test_saved_profile_options_in_every_spelling_click_takes(
    arguments: list[str], values: dict[str, str]
) -> None:
    assert saved_values(arguments) == values
