"""`lineprobe diff` with real BPF: two builds of primes that differ in one line's cost, each profiled
to completion and timed, and the diff's figure for that line checked against the time measured.

``primes-dear`` is ``primes`` with its hot line made twice as dear and nothing else changed: the
line takes the remainder twice in a row, ``(n % d + d) % d`` (two dependent ``idivl``), compiled
from a copy that keeps primes.c's name and line numbers (workloads/Makefile). Only the hot line's
code differs, so the change of the whole program's CPU time is that line's change, and the diff
must give it for that line. (``primes-wide``, a 64-bit division, also changes the call's and the
prologue's code: the timer's samples then move between those lines and the hot line by as much as
a tenth of the change, seen in CI runs.)

The CPU time of each profiled run is measured in the run itself, outside the profiler: a
preloaded library writes the process's own getrusage when it exits. The machine's speed drifts
from run to run (a VM shares its cores) and moves the unchanged lines too, which no line's figure
can undo: in one pair of a CI run the cheaper build even ran slower. So the pair is profiled five
times and the changes are summed over the pairs, the diff's for the hot line against the CPU time
measured, so that the machine's drifts, which fall either way, cancel out where no single pair's
figure could undo them. Each program is also timed plainly between the profiled runs, and a pair
that ran far off the programs' usual speed (``DRIFT``), or while other work kept the machine busy
(``FOREIGN``), is replaced by another.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import LINEPROBE, WORKLOADS, marked_line

pytestmark = pytest.mark.privileged

LIMIT = "150000"
"""About 2 s of CPU for primes and 4 s for primes-dear, on one thread."""
FREQUENCY = "499"
"""A line's count varies like the square root of itself: 499 Hz keeps the hot line's change
(about 600 samples) within a few percent of its own noise."""
PAIRS = 5
"""Pairs of profiled runs judged: over them all, the hot line's change summed must be the CPU time
measured summed, within ``TOLERANCE``."""
MAX_PAIRS = 8
DRIFT = 0.25
"""A profiled run more than this off its program's median plain run ran while the machine was
not itself (a VM shares its cores), which moves the unchanged lines too."""
FOREIGN = 0.75 * (os.cpu_count() or 1)
"""CPUs busy with other work while a run was profiled, on average, beyond which its pair is not
judged. With the machine that full, lineprobe's counts of the target ran over its CPU time (by
10 to 20%, where ``perf record -a`` counted it right), whatever its lines; other tests' loads of
about one CPU in two did not change the figures."""
TOLERANCE = 0.10
"""The issue's target, for is_divisible, the function of the one changed line: its change within
10% of the CPU time the program saved."""
LINE_TOLERANCE = 0.15
"""The hot line's own change. On Intel VMs it was within 2-5% of the CPU time saved; on an AMD
EPYC VM the line took 89% of the change (10.6% short over 5 pairs, 4.8-15% per pair), is_divisible
92%, the rest falling on is_prime's lines: where a CPU's timer samples land after a long division
is the CPU's (see test_java_lines.LOOP_LINES), so the line alone is held to 15% here."""
ONE_THREAD = {"OMP_NUM_THREADS": "1"}
"""One thread: a run's CPU time is not also a matter of how the two threads shared the CPUs."""

CPU_AT_EXIT = r"""
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

/* The process's own CPU time, written where CPU_AT_EXIT says when it exits. */
__attribute__((destructor)) static void cpu_at_exit(void)
{
    const char *path = getenv("CPU_AT_EXIT");
    struct rusage usage;
    FILE *out;
    if (path == NULL || getrusage(RUSAGE_SELF, &usage) != 0 || (out = fopen(path, "w")) == NULL)
        return;
    fprintf(out, "%ld.%06ld %ld.%06ld\n", (long)usage.ru_utime.tv_sec, (long)usage.ru_utime.tv_usec,
            (long)usage.ru_stime.tv_sec, (long)usage.ru_stime.tv_usec);
    fclose(out);
}
"""


@pytest.fixture
def cpu_at_exit(tmp_path: Path) -> Path:
    source = tmp_path / "cpu_at_exit.c"
    source.write_text(CPU_AT_EXIT)
    library = tmp_path / "cpu_at_exit.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(library), str(source)], check=True)
    return library


def plain_cpu_s(program: Path) -> float:
    """User + system CPU seconds of one run, from wait4."""
    process = subprocess.Popen(
        [str(program), LIMIT], stdout=subprocess.DEVNULL, env={**os.environ, **ONE_THREAD}
    )
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0, f"{program} exited with {process.returncode}"
    return usage.ru_utime + usage.ru_stime


def busy_cpu_s() -> float:
    """CPU seconds every CPU has spent busy since boot (/proc/stat: all but idle and iowait)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProfiledRun:
    report: dict
    cpu_s: float
    """The run's CPU time, as the run measured it."""
    foreign: float
    """CPUs kept busy by other work while it was profiled, on average: the machine's busy time less
    lineprobe's own (the CLI, the agent and the run, all reaped by the CLI)."""


def profiled_run(program: Path, saved: Path, library: Path) -> ProfiledRun:
    """A run of ``program`` profiled to its exit, kept in ``saved`` (and as pprof beside it)."""
    measured, output = saved.with_suffix(".cpu"), saved.with_suffix(".json")
    busy, started = busy_cpu_s(), time.monotonic()
    with output.open("w") as stdout:
        cli = subprocess.Popen(
            [
                *LINEPROBE, "profile", "-F", FREQUENCY, "--save", str(saved), "--json",
                "--pprof", str(saved.with_suffix(".pb.gz")), "--",
                "env", f"LD_PRELOAD={library}", f"CPU_AT_EXIT={measured}",
                *(f"{name}={value}" for name, value in ONE_THREAD.items()), str(program), LIMIT,
            ],
            stdout=stdout,
            stderr=subprocess.DEVNULL,
            cwd=saved.parent,
        )  # fmt: skip
        _, status, usage = os.wait4(cli.pid, 0)
    cli.returncode = os.waitstatus_to_exitcode(status)
    elapsed, busy = time.monotonic() - started, busy_cpu_s() - busy
    assert cli.returncode == 0, f"lineprobe profile exited with {cli.returncode}"
    user, system = measured.read_text().split()
    foreign = max(0.0, busy - usage.ru_utime - usage.ru_stime) / elapsed
    return ProfiledRun(json.loads(output.read_text()), float(user) + float(system), foreign)


@dataclass(frozen=True)
class Pair:
    number: int
    top: tuple[str, int, str]
    """The diff's biggest mover: path, line, function."""
    line: float
    """The hot line's change of self CPU time."""
    within_noise: bool
    """Whether the hot line's change is within the sampler's luck."""
    function: float
    """is_divisible's change of self CPU time (reported beside it)."""
    before: ProfiledRun
    after: ProfiledRun
    drift: float

    @property
    def measured(self) -> float:
        return self.after.cpu_s - self.before.cpu_s

    @property
    def error(self) -> float:
        return abs(self.line - self.measured) / abs(self.measured)

    @property
    def judged(self) -> bool:
        return self.drift <= DRIFT and max(self.before.foreign, self.after.foreign) <= FOREIGN

    def __repr__(self) -> str:
        sampled = [run.report["samples"] / run.report["frequency"] for run in (self.before, self.after)]
        return (
            f"pair {self.number}: top line {self.top[1]}, hot line {self.line:+.3f} s, is_divisible "
            f"{self.function:+.3f} s, measured {self.measured:+.3f} s "
            f"({self.before.cpu_s:.3f} → {self.after.cpu_s:.3f}; "
            f"sampled {sampled[0]:.3f} → {sampled[1]:.3f}), "
            f"error {100 * self.error:.1f}%, drift {100 * self.drift:.1f}%, other work "
            f"{self.before.foreign:.2f} and {self.after.foreign:.2f} CPUs"
        )


def diff_json(before: str, after: str, cwd: Path) -> dict:
    done = subprocess.run(
        [*LINEPROBE, "diff", before, after, "--json"], capture_output=True, text=True, timeout=120, cwd=cwd
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_hot_line_made_cheaper_is_colder_by_the_cpu_time_the_program_saved(
    workloads: Path, tmp_path: Path, cpu_at_exit: Path
) -> None:
    dear, narrow = workloads / "primes-dear", workloads / "primes"
    source = WORKLOADS / "primes" / "primes.c"
    hot_line = marked_line(source, "return n % d == 0;")
    plain: dict[Path, list[float]] = {dear: [plain_cpu_s(dear)], narrow: [plain_cpu_s(narrow)]}
    judged, set_aside = [], []
    for pair in range(MAX_PAIRS):
        if len(judged) == PAIRS:
            break
        for program, times in plain.items():  # interleaved: a drift of the machine falls on both
            times.append(plain_cpu_s(program))
        before = profiled_run(dear, tmp_path / f"dear-{pair}.lpcap", cpu_at_exit)
        after = profiled_run(narrow, tmp_path / f"primes-{pair}.lpcap", cpu_at_exit)
        assert before.report["target_exited"] and after.report["target_exited"]
        compared = diff_json(f"dear-{pair}.lpcap", f"primes-{pair}.lpcap", tmp_path)
        top = compared["lines"][0]
        hot = next(
            line for line in compared["lines"] if (line["path"], line["line"]) == (str(source), hot_line)
        )
        divisible = next(f for f in compared["functions"] if f["function"] == "is_divisible")
        drift = max(
            abs(run.cpu_s / statistics.median(plain[program]) - 1)
            for program, run in ((dear, before), (narrow, after))
        )
        where = (top["path"], top["line"], top["function"])
        run = Pair(
            pair,
            where,
            hot["delta"]["self"],
            hot["within_noise"],
            divisible["delta"]["self"],
            before,
            after,
            drift,
        )
        (judged if run.judged else set_aside).append(run)

    summary = f"judged: {judged}; set aside: {set_aside}; plain runs: {plain}"
    print(summary)
    assert len(judged) == PAIRS, f"the machine was not steady for {PAIRS} pairs of runs: {summary}"
    measured, line = sum(run.measured for run in judged), sum(run.line for run in judged)
    function = sum(run.function for run in judged)
    print(f"over {PAIRS} pairs: hot line {line:+.3f} s, is_divisible {function:+.3f} s", end="")
    print(f", measured {measured:+.3f} s")
    assert measured < 0, summary  # primes is the cheaper program
    # The hot line is colder in every pair, beyond the sampler's luck, and the biggest mover of
    # most (a pair the machine slowed down moves every line); over the pairs, by the CPU time the
    # program saved (is_divisible's change; the line's within LINE_TOLERANCE).
    assert all(run.line < 0 and not run.within_noise for run in judged), summary
    assert sum(run.top[1] == hot_line for run in judged) > PAIRS // 2, summary
    assert abs(function - measured) <= TOLERANCE * abs(measured), summary
    assert abs(line - measured) <= LINE_TOLERANCE * abs(measured), summary
    shown = next(run for run in judged if run.line < 0 and not run.within_noise)
    first = shown.number
    diff = diff_json(f"dear-{first}.lpcap", f"primes-{first}.lpcap", tmp_path)
    hot = next(line for line in diff["lines"] if line["line"] == hot_line)

    # Both builds come from one source file: the diff says its code differs, not that it moved.
    assert diff["rebuilt_sources"] == [str(source)] and hot["build"] == "rebuilt"
    assert diff["moved_sources"] == [] and not hot["source_moved"]
    assert diff["unit"] == "s" and diff["normalisation"] == "cpu-time"
    report = subprocess.run(
        [*LINEPROBE, "diff", f"dear-{first}.lpcap", f"primes-{first}.lpcap", "--limit", "3"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert report.returncode == 0, report.stderr
    colder = report.stdout.split("Colder lines", 1)[1].split("\n\n", 1)[0]
    row = next(line for line in colder.splitlines() if f"primes.c:{hot_line}" in line)
    assert f"{shown.line:+.3f}" in row and "return n % d == 0;" in row

    # The same two profiles exported as pprof compare the same, line for line.
    exported = diff_json(f"dear-{first}.pb.gz", f"primes-{first}.pb.gz", tmp_path)

    def per_line(compared: dict) -> dict:
        return {
            (line["path"], line["line"]): (line["before"]["self_samples"], line["after"]["self_samples"])
            for line in compared["lines"]
        }

    assert per_line(exported) == per_line(diff)
