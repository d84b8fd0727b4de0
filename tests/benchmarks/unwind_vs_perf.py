"""Stacks from lineprobe's CFI unwinding against `perf record --call-graph dwarf`, on the same programs.

perf copies the user stack at each sample and unwinds it with libunwind/libdw
(the reference); lineprobe copies it in BPF and unwinds it with its own CFI
reader. The two runs sample different instants of the same deterministic
workload, so their stacks are compared as distributions: each stack is
reduced to the physical frames in the program's own binary, root first
(unwinding finds physical frames; inlined frames are the symbolizer's work,
checked against llvm-symbolizer in tests/unit), clone suffixes such as
``.constprop.0`` removed, and the agreement is the overlap of the two
distributions (the sum over stacks of the smaller of the two shares), 100%
when both see the same stacks in the same proportions.

    python tests/benchmarks/unwind_vs_perf.py [--seconds 3] [--frequency 499]

Exits 1 when the agreement on any workload is below 95%.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from lineprobe.capture import kinds
from lineprobe.capture.runner import CaptureRunner, Launch
from lineprobe.symbolization.frame import FrameKind

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "workloads" / "build"
WORKLOADS = {
    "inlined-O2": ["{seconds}"],
    "hotloop-O2": ["{seconds}"],
    "primes-O2": ["60000", "0"],
    "allocstorm-O2": ["{seconds}"],
}
CLONE = re.compile(r"\.(constprop|isra|part|cold|lto_priv)\.\d+")


def normalize(name: str) -> str:
    name = name.replace(" (inlined)", "")
    name = CLONE.sub("", name)
    return name.split("(")[0]  # C++ signatures: perf prints them, lineprobe gives plain names


def perf_stacks(binary: Path, argv: list[str], seconds: float, frequency: int) -> Counter[tuple[str, ...]]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "perf.data"
        subprocess.run(
            [
                "timeout",
                "-s",
                "INT",
                str(seconds),
                "perf",
                "record",
                "-q",
                "-e",
                "cpu-clock",
                "-F",
                str(frequency),
                "--call-graph",
                "dwarf,16384",
                "-o",
                str(data),
                "--",
                str(binary),
                *argv,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        out = subprocess.run(
            ["perf", "script", "--no-inline", "-i", str(data), "-F", "ip,sym,dso"],
            capture_output=True,
            text=True,
        ).stdout
    stacks: Counter[tuple[str, ...]] = Counter()
    for block in out.split("\n\n"):
        frames = []
        for line in block.strip().splitlines():
            m = re.match(r"\s*[0-9a-f]+\s+(.+?)\s+\((.+)\)\s*$", line)
            if m and Path(m.group(2)).name == binary.name and m.group(1) != "[unknown]":
                frames.append(normalize(m.group(1)))
        if frames:
            stacks[tuple(reversed(frames))] += 1
    return stacks


def lineprobe_stacks(
    binary: Path, argv: list[str], seconds: float, frequency: int
) -> Counter[tuple[str, ...]]:
    runner = CaptureRunner()
    try:
        profile = runner.capture(
            kinds.PROFILE,
            Launch([str(binary), *argv], None, subprocess.DEVNULL),
            seconds,
            {"frequency": frequency},
        )
    finally:
        runner.close()
    stacks: Counter[tuple[str, ...]] = Counter()
    for stack in profile.stacks:
        frames = [
            normalize(f.function)
            for f in stack.frames
            if f.binary == str(binary) and f.function and f.kind is not FrameKind.INLINED
        ]
        if frames:
            stacks[tuple(reversed(frames))] += stack.count
    return stacks


def overlap(a: Counter[tuple[str, ...]], b: Counter[tuple[str, ...]]) -> float:
    total_a, total_b = sum(a.values()), sum(b.values())
    if not total_a or not total_b:
        return 0.0
    return sum(min(a[s] / total_a, b[s] / total_b) for s in set(a) | set(b))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--frequency", type=int, default=499)
    args = parser.parse_args()
    worst = 1.0
    print(f"{'workload':14s} {'perf':>6s} {'lineprobe':>9s} {'agreement':>9s}  top stack (lineprobe)")
    for name, template in WORKLOADS.items():
        binary = BUILD / name
        argv = [a.replace("{seconds}", str(args.seconds + 5)) for a in template]
        theirs = perf_stacks(binary, argv, args.seconds, args.frequency)
        ours = lineprobe_stacks(binary, argv, args.seconds, args.frequency)
        agreement = overlap(theirs, ours)
        worst = min(worst, agreement)
        top = ";".join(ours.most_common(1)[0][0]) if ours else "-"
        print(f"{name:14s} {sum(theirs.values()):6d} {sum(ours.values()):9d} {100 * agreement:8.1f}%  {top}")
    print(f"\nlowest agreement {100 * worst:.1f}% (target: at least 95%)")
    return 0 if worst >= 0.95 else 1


if __name__ == "__main__":
    sys.exit(main())
