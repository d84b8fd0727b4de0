"""lineprobe's pprof export read by pprof itself (``go tool pprof``): the same top functions and
lines, with the same flat and cumulative figures, as lineprobe's own report of the profile.

An independent reader of the file is what checks the wire format: the message classes are
built from a descriptor written in code (lineprobe.reports.pprof), and a wrong field number
would read back fine in lineprobe and wrong in every other tool."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from lineprobe.costs.model import StackProfile
from lineprobe.reports.pprof import write_pprof

from tests.unit.test_pprof import hand_profile, primes_profile

Figures = dict[str, tuple[int, int]]

# "  15 48.39% 48.39%  15 48.39%  is_divisible /work/main/workloads/primes/primes.c:17"
ROW = re.compile(r"^\s*(\S+)\s+\S+%\s+\S+%\s+(\S+)\s+\S+%\s+(.+?)\s*$")


def go_pprof(tmp_path: Path, *arguments: str) -> str:
    """The output of ``go tool pprof ARGUMENTS``, with every place it may write or fetch from
    kept in ``tmp_path`` and the network out of reach (it needs none for a local file)."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("go tool pprof is not installed: apt-get install golang-go (make setup installs it)")
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    environment = {
        **os.environ,
        "HOME": str(home),
        "PPROF_TMPDIR": str(home / "pprof"),
        "GOCACHE": str(home / "go-build"),
        "GOPATH": str(home / "go"),
        "GOTOOLCHAIN": "local",  # never download a newer toolchain
        "GOPROXY": "off",
        "GOFLAGS": "",
    }
    done = subprocess.run(
        [go, "tool", "pprof", *arguments],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def top(tmp_path: Path, profile_file: Path, *options: str) -> Figures:
    """``-top``'s rows: node name -> (flat, cum), every node (no fraction or count cut-off)."""
    output = go_pprof(tmp_path, "-top", "-nodefraction=0", "-nodecount=100000", *options, str(profile_file))
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["flat", "flat%"]) + 1
    figures: Figures = {}
    for line in lines[start:]:
        row = ROW.match(line)
        assert row is not None, f"an unexpected line in go tool pprof -top: {line!r}"
        flat, cum, name = row.groups()
        name = name.removesuffix(" (inline)")
        assert name not in figures, f"{name} twice in go tool pprof -top: the comparison needs one row each"
        figures[name] = (_number(flat), _number(cum))
    return figures


def _number(text: str) -> int:
    return int(text.removesuffix("ns"))  # -unit=ns: "70000000ns"; counts are bare numbers


def lines_by_pprof(figures: Figures) -> Figures:
    """``-lines`` rows named "FUNCTION FILE:LINE" by their FILE:LINE. Rows without a line are
    functions with no source (a libc without debug information); lineprobe keeps only lines
    whose file is an absolute path, so those are the ones to compare."""
    by_line: Figures = {}
    for name, values in figures.items():
        location = name.rpartition(" ")[2]
        path, _, line = location.rpartition(":")
        if path.startswith("/") and line.isdigit():
            assert location not in by_line, f"{location} in two functions"
            by_line[location] = values
    return by_line


def lineprobe_lines(profile: StackProfile, column: int = 0) -> Figures:
    return {f"{s.path}:{s.line}": (s.self_costs[column], s.total_costs[column]) for s in profile.lines}


def lineprobe_functions(profile: StackProfile, column: int = 0) -> Figures:
    """Functions by name as pprof names them: a frame nothing named is "[unknown in libX.so]" in
    lineprobe and "[libX.so]" (its mapping's file name) in pprof."""
    figures: Figures = {}
    for stat in profile.functions:
        name = stat.function
        if name.startswith("[unknown in ") and name.endswith("]"):
            name = "[" + name.removeprefix("[unknown in ")
        assert name not in figures, f"{name} in two binaries"
        figures[name] = (stat.self_costs[column], stat.total_costs[column])
    return figures


def test_go_tool_pprof_finds_the_same_hot_lines_and_functions_in_the_primes_profile(tmp_path: Path) -> None:
    profile = primes_profile()
    exported = tmp_path / "primes.pb.gz"
    write_pprof(profile, str(exported))
    # No -symbolize option: the export says its mappings are symbolized, and pprof must keep its
    # names (a re-symbolization at address 0 from the local binaries would change them).
    assert "Type: CPU samples" in go_pprof(tmp_path, "-top", str(exported))
    functions = top(tmp_path, exported)
    lines = lines_by_pprof(top(tmp_path, exported, "-lines"))
    assert functions == lineprobe_functions(profile)
    assert lines == lineprobe_lines(profile)
    # The top of each list, as a reader of either report sees it.
    hottest = max(stat.self_cost for stat in profile.functions)
    assert max(flat for flat, _ in functions.values()) == hottest == profile.functions[0].self_cost
    assert functions[profile.functions[0].function][0] == hottest
    first_line = profile.lines[0]
    assert lines[f"{first_line.path}:{first_line.line}"][0] == first_line.self_cost
    assert first_line.self_cost == max(flat for flat, _ in lines.values())


def test_go_tool_pprof_reads_inline_chains_kernel_frames_labels_and_every_column(tmp_path: Path) -> None:
    profile = hand_profile()
    exported = tmp_path / "hand.pb.gz"
    write_pprof(profile, str(exported))
    assert top(tmp_path, exported) == lineprobe_functions(profile)
    assert lines_by_pprof(top(tmp_path, exported, "-lines")) == lineprobe_lines(profile)
    assert top(tmp_path, exported, "-sample_index=on-CPU time", "-unit=ns") == lineprobe_functions(profile, 1)
    traces = go_pprof(tmp_path, "-traces", str(exported))
    # pprof's marker of a frame inlined into the next: the chain is one location with two lines.
    assert re.search(r"\bvec_sum \(inline\)\n\s+compute\n", traces), traces
    tags = go_pprof(tmp_path, "-tags", str(exported))
    for tag in ("worker-1", "flusher", "swapper/3"):
        assert tag in tags, tags
    # Labels of value 0 (tid 0, the first time bucket) survive pprof's reading: they carry a unit.
    assert re.search(r"^\s*thread:\s+0\s*$", traces, re.MULTILINE), traces
    assert re.search(r"^\s*time_bucket:\s+0\s*$", traces, re.MULTILINE), traces
