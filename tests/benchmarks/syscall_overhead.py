"""Target overhead of system-call tracing, side by side with no tracing and with libbpf-tools' syscount.

workloads/build/syscall_loop issues a steady 100,000 getppid() calls per
second; the figure compared is CPU seconds the target spends per call
(user + system, from getrusage), so pacing and machine load do not enter it.
Reported: CPU per call under tracing against untraced (the per-call cost,
dominated by two BPF programs on every system call, as for syscount), and
the throughput cost at that call rate: the share of each CPU-second tracing
takes from a target making that many calls (rate x extra CPU per call).
Medians of interleaved runs.

    python tests/benchmarks/syscall_overhead.py [--rounds 3] [--seconds 5] [--rate 100000] [--budget 10]

Exits 1 when lineprobe's throughput cost exceeds the budget (percent).
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from traced_run import run_with_tracer  # this folder: the scripts run as `python tests/benchmarks/...`

ROOT = Path(__file__).resolve().parents[2]
LOOP = ROOT / "workloads" / "build" / "syscall_loop"


def run_launched(seconds: float, rate: int) -> float:
    """lineprobe launches the loop itself, held until tracing runs: every call is traced."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lineprobe.cli",
            "syscalls",
            "--json",
            "--",
            str(LOOP),
            str(seconds),
            str(rate),
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    if done.returncode != 0:
        raise SystemExit(f"lineprobe failed: {done.stderr[-300:]}")
    # With --json the launched command's stdout goes to stderr.
    return _per_call(done.stderr)


def _per_call(out: str) -> float:
    m = re.search(r"calls=(\d+) cpu_s=([\d.]+)", out)
    if not m:
        raise SystemExit(f"syscall_loop printed {out!r}")
    return 1e6 * float(m.group(2)) / int(m.group(1))


def run(seconds: float, rate: int, tracer: list[str] | None) -> float:
    """CPU microseconds per system call for one run."""
    if tracer == ["launch"]:
        return run_launched(seconds, rate)
    out = run_with_tracer([str(LOOP), str(seconds), str(rate)], seconds, tracer, int(seconds + 3))
    return _per_call(out)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=int, default=100_000)
    parser.add_argument("--budget", type=float, default=10.0, help="maximum overhead, percent")
    args = parser.parse_args()
    if not LOOP.exists():
        subprocess.run(["make", "-s", "-C", str(ROOT / "workloads")], check=True)
    # lineprobe launches the loop and traces it from its first call; syscount
    # (the reference) attaches to it once running, so part of its run is
    # untraced and its figure is a slight underestimate.
    configs: dict[str, list[str] | None] = {"baseline": None, "lineprobe": ["launch"]}
    if shutil.which("syscount"):
        configs["syscount"] = ["syscount", "-p", "{pid}", "-d", "{seconds}"]
    results: dict[str, list[float]] = {name: [] for name in configs}
    for round_index in range(args.rounds):
        for name, tracer in configs.items():
            results[name].append(run(args.seconds, args.rate, tracer))
            print(
                f"round {round_index + 1} {name:10s} {results[name][-1]:.3f} us CPU per call", file=sys.stderr
            )
            time.sleep(0.5)
    base = statistics.median(results["baseline"])
    runs = f"{args.rounds} interleaved {args.seconds:.0f} s runs"
    print(f"\nCPU per call at {args.rate:,} calls/s, medians of {runs}")
    print(f"{'config':12s} {'us/call':>9s} {'overhead':>9s}")
    for name, values in results.items():
        median = statistics.median(values)
        print(f"{name:12s} {median:9.3f} {100 * (median / base - 1):8.1f}%")
    per_call = 100 * (statistics.median(results["lineprobe"]) / base - 1)
    # What a target making this many calls per second loses in throughput: the
    # share of each CPU-second that tracing takes from it.
    throughput_cost = args.rate * (statistics.median(results["lineprobe"]) - base) / 1e6 * 100
    print(f"\nlineprobe: CPU per system call +{per_call:.1f}%")
    print(
        f"lineprobe: throughput cost at {args.rate:,} calls/s {throughput_cost:.2f}% of a CPU-second "
        f"(budget {args.budget:.0f}%)"
    )
    return 0 if throughput_cost <= args.budget else 1


if __name__ == "__main__":
    sys.exit(main())
