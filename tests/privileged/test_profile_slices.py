"""A CPU profile by thread and by time: counted in the kernel, sliced by `--thread` and `--time`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import LINEPROBE, WORKLOADS, marked_line

pytestmark = pytest.mark.privileged


def _json(command: str, *args: str, timeout: float = 90) -> dict:
    done = subprocess.run(
        [*LINEPROBE, command, "--json", *args], capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _tasks(pid: int) -> dict[int, str]:
    return {
        int(task.name): (task / "comm").read_text().strip() for task in Path(f"/proc/{pid}/task").iterdir()
    }


def test_every_thread_of_an_openmp_program_is_counted_apart(workloads: Path, spawn) -> None:
    target = spawn(workloads / "primes", "200000", "0", env={"OMP_NUM_THREADS": "3"}, wait_s=0.5)
    tasks = _tasks(target.pid)
    assert len(tasks) == 3, tasks  # the main thread and two OpenMP workers
    report = _json("profile", "--pid", str(target.pid), "--duration", "2")
    threads = {t["tid"]: t for t in report["threads"]}
    assert set(threads) == set(tasks), (threads, tasks)
    assert all(threads[tid]["name"] == tasks[tid] for tid in tasks)
    assert sum(t["self"] for t in threads.values()) == report["samples"]
    # Three busy threads on two CPUs: each gets a fair part of the samples.
    assert all(t["self"] > report["samples"] / 6 for t in threads.values()), threads

    worker = next(tid for tid in tasks if tid != target.pid)
    only = _json("profile", "--pid", str(target.pid), "--duration", "2", "--thread", str(worker))
    assert only["selection"] == f"thread {worker} ({tasks[worker]})"
    assert [t["tid"] for t in only["threads"]] == [worker]
    assert only["samples"] == only["threads"][0]["self"] > 0
    # The worker's work is primes.c's, the modulo line among its two hottest: one thread of three
    # on two CPUs gets about 130 samples in 2 s, and the timer's skid puts part of the modulo's on
    # the function's closing line or the caller's (in one CI run of 1 s, the closing line came first).
    source = WORKLOADS / "primes" / "primes.c"
    top = [(line["path"], line["line"], line["function"]) for line in only["lines"][:2]]
    assert (str(source), marked_line(source, "return n % d == 0;"), "is_divisible") in top, top
    assert all(path == str(source) for path, _, _ in top), top


def test_a_program_alternating_between_two_functions_shows_them_in_alternating_time(
    workloads: Path, tmp_path: Path
) -> None:
    capture = tmp_path / "phases.lpcap"
    whole = _json("profile", "--save", str(capture), "--", str(workloads / "phases"), "6", "1")
    timeline = whole["timeline"]
    assert timeline["bucket_ms"] == 100
    (row,) = timeline["threads"]
    assert sum(row["counts"]) == whole["samples"] - whole["counters"]["untimed"]
    assert 55 <= len(row["counts"]) <= 62  # six seconds in tenths
    for second in range(6):
        # The middle of each second (its edges may hold the other function's last samples).
        part = _json("open", str(capture), "--time", f"{second + 0.2}:{second + 0.8}")
        expected, other = ("churn_alpha", "churn_beta") if second % 2 == 0 else ("churn_beta", "churn_alpha")
        functions = {f["function"]: f["self"] for f in part["functions"]}
        assert functions.get(expected, 0) >= 0.9 * part["samples"], (second, functions)
        assert functions.get(other, 0) == 0, (second, functions)
        assert part["selection"] == f"from {second + 0.2:g} s to {second + 0.8:g} s"
