"""What counting a line's hits costs the counted program, side by side with perf probe.

The linecount workload (workloads/linecount) waits on stdin, then runs its DIVIDES line a known
number of times and prints the counts. Its compute phase is timed from the "go" written to it
to the line it prints, three ways in turn, each REPEAT times:

- nothing attached;
- ``lineprobe hits`` counting the line (its uprobes seen in place, the int3 in the process's
  code, before "go"), by stack as it always counts;
- ``perf probe`` on the same line and ``perf stat`` counting the event (launched under it).

Each hit's cost is the compute phase's growth over the hits counted (the median of each way's
times); the ratio lineprobe / perf is printed. Both trap into the kernel at every hit; lineprobe
also walks the user stack and copies the stack's top for unwinding.

    python tests/benchmarks/line_hits_cost.py [--limit 2000] [--repeat 5] [--program linecount-O2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "server"), str(ROOT / "tracers"), str(ROOT)]
from lineprobe.symbolization.line_sites import find_sites, parse_line_spec  # noqa: E402
from lineprobe.symbolization.resolver import ImageCache  # noqa: E402

from tests.conftest import marked_line  # noqa: E402
from tests.privileged.uprobe_witness import runtime_addresses, wait_armed  # noqa: E402

SOURCE = ROOT / "workloads" / "linecount" / "linecount.c"
DIVIDES = f"linecount.c:{marked_line(SOURCE, 'DIVIDES')}"


def _go(worker: subprocess.Popen[str]) -> float:
    """Seconds from "go" to the workload's report (checked to be one)."""
    assert worker.stdin is not None and worker.stdout is not None
    started = time.perf_counter()
    worker.stdin.write("go\n")
    worker.stdin.flush()
    words = worker.stdout.readline().split()
    elapsed = time.perf_counter() - started
    if not words or words[0] != "linecount":
        raise SystemExit(f"the workload printed {words}, not its counts")
    worker.stdin.write("end\n")
    worker.stdin.flush()
    return elapsed


def _start(argv: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def plain(binary: Path, limit: int) -> tuple[float, int]:
    worker = _start([str(binary), str(limit)])
    time.sleep(0.2)
    elapsed = _go(worker)
    worker.wait(30)
    return elapsed, 0


def with_lineprobe(binary: Path, limit: int) -> tuple[float, int]:
    worker = _start([str(binary), str(limit)])
    time.sleep(0.2)
    found = find_sites(worker.pid, [parse_line_spec(DIVIDES)], ImageCache())
    counter = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lineprobe.cli",
            "hits",
            "--json",
            "--pid",
            str(worker.pid),
            "-d",
            "60",
            DIVIDES,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'server'}:{ROOT / 'tracers'}"},
    )
    wait_armed(worker.pid, runtime_addresses(worker.pid, found), counter)
    elapsed = _go(worker)
    worker.wait(30)  # its exit ends the window
    out, err = counter.communicate(timeout=120)
    if counter.returncode != 0:
        raise SystemExit(f"lineprobe hits failed: {err}")
    report = json.loads(out)
    hits = report["line_hits"][0]["hits"]
    if hits != report["samples"]:  # a hit named on no counted line
        print(f"  lineprobe: {hits:,} of {report['samples']:,} hits on the line; {report['counters']}")
    return elapsed, hits


def with_perf(binary: Path, limit: int) -> tuple[float, int]:
    group = f"lp_bench_{os.getpid()}"
    subprocess.run(
        ["perf", "probe", "-q", "-x", str(binary), "--add", f"{group}:divides={DIVIDES}"],
        check=True,
        capture_output=True,
    )
    try:
        worker = _start(["perf", "stat", "-x,", "-e", f"{group}:divides", "--", str(binary), str(limit)])
        time.sleep(1.0)  # perf stat sets its counter up before it runs the command
        elapsed = _go(worker)
        _, err = worker.communicate(timeout=60)
    finally:
        subprocess.run(["perf", "probe", "-q", "-d", f"{group}:*"], capture_output=True)
    hits = next(int(line.split(",")[0]) for line in err.splitlines() if f"{group}:divides" in line)
    return elapsed, hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--program", default="linecount-O2")
    args = parser.parse_args()
    binary = ROOT / "workloads" / "build" / args.program
    subprocess.run(["make", "-s", "-C", str(ROOT / "workloads")], check=True)
    runs: dict[str, list[tuple[float, int]]] = {"plain": [], "lineprobe": [], "perf": []}
    for _ in range(args.repeat):  # interleaved: a slow spell of the machine touches each way
        runs["plain"].append(plain(binary, args.limit))
        runs["lineprobe"].append(with_lineprobe(binary, args.limit))
        runs["perf"].append(with_perf(binary, args.limit))
    base = statistics.median(t for t, _ in runs["plain"])
    print(f"{args.program} {args.limit}: compute phase {base * 1000:.1f} ms with nothing attached")
    costs: dict[str, float] = {}
    for way in ("lineprobe", "perf"):
        elapsed = statistics.median(t for t, _ in runs[way])
        hits = statistics.median(h for _, h in runs[way])
        costs[way] = (elapsed - base) / hits * 1e6
        print(f"  {way:9} {elapsed * 1000:8.1f} ms for {hits:,.0f} hits: {costs[way]:.2f} us a hit")
    print(f"  lineprobe / perf per hit: {costs['lineprobe'] / costs['perf']:.2f}")


if __name__ == "__main__":
    main()
