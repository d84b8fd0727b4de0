"""Leak tracking cost, side by side: no tracing, bcc's memleak, and lineprobe's default.

workloads/build/allocstorm allocates and frees a buffer per iteration (about
4 million pairs a second here) and leaks 512 bytes every 1000 iterations at
a known line. Each run lasts SECONDS; the figure compared is CPU time per
iteration (user+system from getrusage), as extra microseconds over the
untraced run, and the slowdown factor. Both tracers see the whole run: the
program is held at a gate until memleak prints that it is attached, and
lineprobe launches it itself.

    python tests/benchmarks/leak_overhead.py [--rounds 2] [--seconds 8]

Exits 1 unless lineprobe's extra cost is at most a tenth of memleak's and
lineprobe reports the planted leak at its line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STORM = ROOT / "workloads" / "build" / "allocstorm"
SOURCE = ROOT / "workloads" / "allocs" / "allocstorm.c"


def per_iteration_us(out: str) -> float:
    m = re.search(r"iterations=(\d+) cpu_s=([\d.]+)", out)
    if not m:
        raise SystemExit(f"allocstorm printed {out!r}")
    return 1e6 * float(m.group(2)) / int(m.group(1))


def baseline(seconds: float) -> float:
    out = subprocess.run([str(STORM), str(seconds)], capture_output=True, text=True, check=True).stdout
    return per_iteration_us(out)


def memleak(seconds: float) -> float:
    from lineprobe_agent.kernel_source import find_kernel_headers

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    headers = find_kernel_headers()
    if not headers.how.startswith("/lib/modules"):
        env["BCC_KERNEL_SOURCE"] = str(headers.path)
    gate = subprocess.Popen(
        ["/bin/sh", "-c", 'read _; exec "$@"', "gate", str(STORM), str(seconds)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    tool = subprocess.Popen(
        ["memleak-bpfcc", "-p", str(gate.pid), str(int(seconds) + 60)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert tool.stdout is not None and gate.stdin is not None
    banner = tool.stdout.readline()
    if "Attaching" not in banner:
        raise SystemExit(f"memleak did not attach: {banner!r}")
    gate.stdin.write("go\n")
    gate.stdin.flush()
    out, _ = gate.communicate(timeout=seconds * 60 + 60)
    tool.terminate()
    tool.wait()
    return per_iteration_us(out)


def lineprobe(seconds: float) -> tuple[float, dict]:
    done = subprocess.run(
        [sys.executable, "-m", "lineprobe.cli", "leaks", "--json", "--", str(STORM), str(seconds)],
        capture_output=True,
        text=True,
        timeout=seconds * 10 + 120,
    )
    if done.returncode != 0:
        raise SystemExit(f"lineprobe failed: {done.stderr[-400:]}")
    return per_iteration_us(done.stderr), json.loads(done.stdout)


def leak_line() -> int:
    for number, text in enumerate(SOURCE.read_text().splitlines(), start=1):
        if "LEAK-ALLOC" in text and "malloc" in text:
            return number
    raise SystemExit("LEAK-ALLOC marker missing")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    if not STORM.exists():
        subprocess.run(["make", "-s", "-C", str(ROOT / "workloads")], check=True)
    results: dict[str, list[float]] = {"baseline": [], "memleak": [], "lineprobe": []}
    reports = []
    for round_index in range(args.rounds):
        results["baseline"].append(baseline(args.seconds))
        results["memleak"].append(memleak(args.seconds))
        cost, report = lineprobe(args.seconds)
        results["lineprobe"].append(cost)
        reports.append(report)
        line = ", ".join(f"{k} {v[-1]:.3f}" for k, v in results.items())
        print(f"round {round_index + 1}: us CPU per iteration: {line}", file=sys.stderr)
        time.sleep(0.5)
    base = statistics.median(results["baseline"])
    runs = f"{args.rounds} runs of {args.seconds:.0f} s"
    print(f"\nCPU per iteration of allocstorm (one malloc+free), medians of {runs}")
    print(f"{'config':10s} {'us/iter':>9s} {'extra us':>9s} {'slowdown':>9s}")
    extra = {}
    for name, values in results.items():
        median = statistics.median(values)
        extra[name] = median - base
        print(f"{name:10s} {median:9.3f} {extra[name]:9.3f} {median / base:8.1f}x")
    ratio = extra["memleak"] / extra["lineprobe"] if extra["lineprobe"] > 0 else float("inf")
    print(f"\nmemleak's extra cost is {ratio:.1f} times lineprobe's (target: at least 10)")
    expected = leak_line()
    found = []
    for report in reports:
        suspects = [s for s in report["sites"] if s["suspect"] and s["site"]]
        found.append(any(s["site"]["line"] == expected for s in suspects))
        sampling = report["sampling"]
        print(
            f"lineprobe tracked {100 * sampling['tracked_share']:.1f}% of the time; suspects: "
            + ", ".join(f"{s['site']['function']}:{s['site']['line']}" for s in suspects)
        )
    print(f"planted leak (line {expected}) found in {sum(found)} of {len(found)} runs")
    return 0 if ratio >= 10 and all(found) else 1


if __name__ == "__main__":
    sys.exit(main())
