"""Counting how many times source lines run (``lineprobe hits``), with real uprobes in a running
process: the linecount workload prints how many times its two marked lines ran, and ``perf
probe`` + ``perf stat`` count the same lines over a run of their own, in the same test.

lineprobe's window is lined up by the kernel's own witness: a uprobe in place is an int3 (0xCC)
at its address in the process's memory, read through ``/proc/PID/mem``; the workload waits on
stdin until lineprobe's probes are all there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from lineprobe.capture import kinds
from lineprobe.capture.agent_errors import AgentError
from lineprobe.symbolization.line_sites import find_sites, parse_line_spec
from lineprobe.symbolization.resolver import ImageCache
from lineprobe_agent.uprobe_sites import SiteRefused, checked_sites

from tests.conftest import LINEPROBE, WORKLOADS, marked_line
from tests.privileged.capturing import capture_while
from tests.privileged.conftest import ThrowawayUser
from tests.privileged.uprobe_witness import runtime_addresses, wait_armed

pytestmark = pytest.mark.privileged

LINECOUNT_C = WORKLOADS / "linecount" / "linecount.c"
DIVIDES = f"linecount.c:{marked_line(LINECOUNT_C, 'DIVIDES')}"
COUNT_PRIME = f"linecount.c:{marked_line(LINECOUNT_C, 'COUNT-PRIME')}"
LIMIT = 1000
"""168 primes and 78,021 divisions: each hit traps into the kernel (about 10 us here), so the
workload's run stays under a second while both tools count it."""


def _start(binary: Path) -> subprocess.Popen[str]:
    worker = subprocess.Popen(
        [str(binary), str(LIMIT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    time.sleep(0.2)  # its maps are whole once it waits on stdin
    return worker


def _end(worker: subprocess.Popen[str]) -> None:
    if worker.poll() is None:
        try:
            assert worker.stdin is not None
            worker.stdin.write("end\n")
            worker.stdin.flush()
            worker.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            worker.kill()
            worker.wait()


def _perf() -> str:
    found = shutil.which("perf")
    assert found, "perf missing: `make setup` installs linux-perf"
    return found


def _perf_probe(binary: Path, group: str) -> None:
    for event, spec in (("divides", DIVIDES), ("count_prime", COUNT_PRIME)):
        subprocess.run(
            [_perf(), "probe", "-q", "-x", str(binary), "--add", f"{group}:{event}={spec}"],
            check=True,
            capture_output=True,
            timeout=60,
        )


def _perf_counts(output: str, group: str) -> dict[str, int]:
    """``perf stat -x,`` lines: COUNT,,EVENT,..."""
    counts: dict[str, int] = {}
    for line in output.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2].startswith(f"{group}:"):
            counts[fields[2].removeprefix(f"{group}:")] = int(fields[0])
    return counts


def _counted_by_perf(binary: Path, group: str) -> dict[str, int]:
    """perf probe's count of the two lines over a run of the workload of its own (two tools'
    uprobes at one address do not mix here: perf stat's events are refused while lineprobe's
    are in place), through perf stat."""
    _perf_probe(binary, group)
    try:
        done = subprocess.run(
            [_perf(), "stat", "-x,", "-e", f"{group}:*", "--", str(binary), str(LIMIT)],
            input="go\nend\n",
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    finally:
        subprocess.run([_perf(), "probe", "-q", "-d", f"{group}:*"], capture_output=True, timeout=60)
    assert done.stdout.split() == ["linecount", "168", "78021"], done.stdout
    return _perf_counts(done.stderr, group)


@pytest.mark.parametrize("program", ["linecount", "linecount-O2"])
def test_a_line_s_hits_are_the_times_it_ran_side_by_side_with_perf_probe(
    workloads: Path, program: str
) -> None:
    binary = workloads / program
    worker = _start(binary)
    try:
        found = find_sites(worker.pid, [parse_line_spec(DIVIDES), parse_line_spec(COUNT_PRIME)], ImageCache())
        lineprobe = subprocess.Popen(
            [*LINEPROBE, "hits", "--json", "--pid", str(worker.pid), "-d", "6", DIVIDES, COUNT_PRIME],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_armed(worker.pid, runtime_addresses(worker.pid, found), lineprobe)
        assert worker.stdin is not None and worker.stdout is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
        printed = worker.stdout.readline().split()
        out, err = lineprobe.communicate(timeout=90)
        assert lineprobe.returncode == 0, err
    finally:
        _end(worker)
    assert printed == ["linecount", "168", "78021"], "the workload's own count"
    primes, divisions = int(printed[1]), int(printed[2])
    report = json.loads(out)
    hits = {entry["line"]: entry for entry in report["line_hits"]}
    # 13,000 hits a second over the window, each a trap into the kernel: the cost is said.
    assert (
        [w for w in report["warnings"] if " times a second: each hit traps" in w]
        == [w for w in report["warnings"] if w.startswith(f"{DIVIDES} ran ")]
        != []
    ), report["warnings"]
    perf = _counted_by_perf(binary, f"lp_hits_{os.getpid()}")
    print(
        f"{program}: truth {divisions} divisions, {primes} primes; lineprobe {hits[DIVIDES]['hits']}, "
        f"{hits[COUNT_PRIME]['hits']}; perf probe {perf}"
    )
    assert hits[DIVIDES]["hits"] == divisions, hits
    assert hits[COUNT_PRIME]["hits"] == primes, hits
    assert hits[DIVIDES]["sources"] == [str(LINECOUNT_C)]
    # perf probe agrees on the line run once per prime; on the division's line it places a probe
    # at each statement row of the line, which -O0 splits in two (so it counts each run twice).
    assert perf["count_prime"] == primes, perf
    assert perf["divides"] == divisions * (2 if program == "linecount" else 1), perf


def test_the_stacks_that_reached_a_line_are_its_callers_lines(workloads: Path) -> None:
    worker = _start(workloads / "linecount")
    try:
        found = find_sites(worker.pid, [parse_line_spec(DIVIDES)], ImageCache())
        sites = [[path, address] for path, at in found[0].addresses.items() for address in at]

        def run() -> None:
            assert worker.stdin is not None and worker.stdout is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
            worker.stdout.readline()

        profile = capture_while(kinds.LINE_HITS, worker.pid, 4, {"sites": sites, "lines": DIVIDES}, run)
    finally:
        _end(worker)
    by_line = {(line.path, line.line): line for line in profile.lines}
    calls = by_line[(str(LINECOUNT_C), marked_line(LINECOUNT_C, "if (divides(d, n))"))]
    assert calls.total_costs[0] == 78021 and calls.self_costs[0] == 0, calls
    assert profile.total == 78021


def test_a_site_outside_the_process_s_code_is_refused(workloads: Path) -> None:
    binary = str(workloads / "linecount")
    worker = _start(workloads / "linecount")
    try:
        found = find_sites(worker.pid, [parse_line_spec(DIVIDES)], ImageCache())
        address = found[0].addresses[binary][0]
        assert checked_sites(worker.pid, [(binary, address)]) == [
            (f"/proc/{worker.pid}/root{binary}", address)
        ]
        with pytest.raises(SiteRefused, match="is not in code of"):
            checked_sites(worker.pid, [(binary, 0x40)])  # the ELF header's bytes: not executable
        with pytest.raises(SiteRefused, match="maps no executable code of /bin/true"):
            checked_sites(worker.pid, [("/bin/true", address)])
        with pytest.raises(AgentError, match="is not in code of"):
            capture_while(kinds.LINE_HITS, worker.pid, 2, {"sites": [[binary, 0x40]], "lines": "x.c:1"})
    finally:
        _end(worker)


def test_a_line_that_is_not_there_is_explained_before_any_tracing(workloads: Path) -> None:
    worker = _start(workloads / "linecount")
    try:
        for line, said in (
            ("nosuch.c:3", "no source file 'nosuch.c' in the debug information of linecount"),
            ("linecount.c:1", "no code on line 1 of"),
            ("linecount.c", "is not FILE:LINE"),
        ):
            done = subprocess.run(
                [*LINEPROBE, "hits", "--pid", str(worker.pid), "-d", "1", line],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode != 0 and said in done.stderr, done.stderr
            assert "Traceback" not in done.stderr
    finally:
        _end(worker)
    done = subprocess.run(
        [*LINEPROBE, "hits", "--pid", str(worker.pid), "-d", "1", DIVIDES],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and f"no process {worker.pid}" in done.stderr, done.stderr


def _started_as(user: ThrowawayUser, argv: list[str]) -> tuple[subprocess.Popen[str], int]:
    """``argv`` run as ``user`` with its stdin and stdout ours; the runuser process and the PID
    of the program itself (runuser -> env -> the program, which env execs)."""
    runner = subprocess.Popen(user.argv(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    for _ in range(500):
        pids = subprocess.run(
            ["pgrep", "-u", user.name, "-x", Path(argv[0]).name], capture_output=True, text=True
        )
        if pids.stdout.split():
            return runner, int(pids.stdout.split()[0])
        time.sleep(0.02)
    runner.kill()
    raise AssertionError(f"{argv} did not start as {user.name}")


def test_a_user_counts_their_own_process_and_not_root_s(
    throwaway_user: ThrowawayUser, workloads: Path
) -> None:
    """Through the installed agent and sudo's rule for it: the user's own process is counted
    exactly; root's is refused before anything is traced (its map is not theirs to read)."""
    copy = throwaway_user.home / "linecount"
    shutil.copyfile(workloads / "linecount", copy)
    os.chown(copy, throwaway_user.uid, throwaway_user.gid)
    copy.chmod(0o755)
    runner, pid = _started_as(throwaway_user, [str(copy), str(LIMIT)])
    roots = _start(workloads / "linecount")
    try:
        found = find_sites(pid, [parse_line_spec(DIVIDES)], ImageCache())
        counting = subprocess.Popen(
            throwaway_user.argv(
                throwaway_user.lineprobe("hits", "--json", "--pid", str(pid), "-d", "8", DIVIDES)
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=throwaway_user.home,
        )
        wait_armed(pid, runtime_addresses(pid, found), counting)
        assert runner.stdin is not None and runner.stdout is not None
        runner.stdin.write("go\n")
        runner.stdin.flush()
        printed = runner.stdout.readline().split()
        out, err = counting.communicate(timeout=90)
        refused = throwaway_user.run(
            throwaway_user.lineprobe("hits", "--pid", str(roots.pid), "-d", "1", DIVIDES)
        )
    finally:
        _end(roots)
        if runner.poll() is None and runner.stdin is not None:
            runner.stdin.write("end\n")
            runner.stdin.flush()
        runner.wait(10)
    assert counting.returncode == 0, err
    assert printed == ["linecount", "168", "78021"], printed
    (counted,) = json.loads(out)["line_hits"]
    assert counted["hits"] == 78021, counted
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert f"cannot read the memory map of process {roots.pid}" in refused.stderr, refused.stderr


def test_the_inlined_copies_of_a_line_are_counted_by_site(spawn, workloads: Path) -> None:
    """primes-O2 inlines is_divisible into is_prime and that into main's OpenMP loop: the modulo
    line has a site in each copy; the hits are on the copies main runs, named so."""
    target = spawn(workloads / "primes-O2", "200000", "0")
    modulo = f"primes.c:{marked_line(WORKLOADS / 'primes' / 'primes.c', 'return n % d == 0;')}"
    done = subprocess.run(
        [*LINEPROBE, "hits", "--json", "--pid", str(target.pid), "-d", "1", modulo],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    (counted,) = report["line_hits"]
    assert counted["sites"] >= 3 and counted["hits"] == report["samples"] > 1000, counted
    # Each named by its functions, innermost first: the division's copy, and the even test gcc
    # made of is_divisible(n, 2), whose instruction the line tables end in is_prime's line.
    places = {site["where"] for site in counted["by_site"]}
    assert "is_divisible in is_prime in main._omp_fn.0" in places, places
    assert all(place.endswith(" in main._omp_fn.0") for place in places), places
