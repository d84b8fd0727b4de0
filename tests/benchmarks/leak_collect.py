"""What collecting a leak trace costs as outstanding blocks grow: 100k against 1.5M, side by side.

workloads/build/hoard COUNT allocates COUNT blocks at one line and holds them.
lineprobe launches it, tracks every allocation (``sample_fraction=1``), and
collects: reading the tracked blocks (their ages) and the sites, then
emptying the tables for the next trace. The figure is the agent's collection
time per outstanding block; it must not grow with the count (bcc's per-key
``clear()`` rescanned a million-bucket map after every delete: 100k blocks
took 142 s, 1.5M never finished).

    python tests/benchmarks/leak_collect.py [--counts 100000 1500000]

Exits 1 unless 1.5M blocks collect in under 10 s, every block is reported
outstanding at its line, and the cost per block at the largest count is at
most twice that at the smallest.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOARD = ROOT / "workloads" / "build" / "hoard"


def collect_once(count: int, duration_s: float) -> dict[str, float]:
    from lineprobe.capture.runner import LaunchedCommand
    from lineprobe.capture.spawned import SpawnedAgent

    with SpawnedAgent() as agent:
        agent.prepare(["leaks"])
        command = LaunchedCommand([str(HOARD), str(count)])

        def release(message: object) -> None:
            if getattr(message, "phase", "") == "sampling":
                command.release()

        try:
            raw = agent.trace(
                "leaks",
                command.pid,
                duration_s,
                {"interval_s": 1.0, "budget_percent": 5.0, "sample_fraction": 1.0},
                release,
                command.execs_to_command,
            )
        finally:
            command.end()
    outstanding = sum(site.outstanding_count for site in raw.sites)
    return {
        "count": count,
        "outstanding": outstanding,
        "collect_s": raw.header.timings.collect_s,
        "us_per_block": 1e6 * raw.header.timings.collect_s / max(outstanding, 1),
        "lost": float(raw.sampling.get("lost", 0)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--counts", type=int, nargs="+", default=[100_000, 1_500_000])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    rows = []
    for count in args.counts:
        # Tracking costs about 4 us per allocation: leave the hoard time to finish.
        duration = 2.0 + count * 6e-6
        row = collect_once(count, duration)
        rows.append(row)
        print(
            f"{count:>9} blocks: {row['outstanding']:>9} outstanding, collected in {row['collect_s']:.2f} s "
            f"({row['us_per_block']:.2f} us per block), {row['lost']:.0f} not tracked",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    smallest, largest = rows[0], rows[-1]
    ratio = largest["us_per_block"] / max(smallest["us_per_block"], 1e-9)
    print(f"cost per block, {largest['count']} against {smallest['count']}: {ratio:.2f}x")
    # The C library holds a few blocks of its own (stdio's buffer): at most a handful more.
    failures = [r for r in rows if not r["count"] <= r["outstanding"] <= r["count"] + 100]
    if failures or largest["collect_s"] >= 10 or ratio > 2:
        print("FAILED: blocks missing, collection too slow, or cost growing with the count", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
