"""Target overhead of CPU sampling, side by side with no sampling and with bcc's profile.

Runs workloads/build/spin (fixed units of CPU work on one thread) for a fixed
wall time, repeatedly and interleaved:

  baseline   no tracing at all
  lineprobe  `lineprobe profile --pid` at the chosen frequency, for the whole run
  bcc        `profile-bpfcc -F HZ -p PID` (the reference tool), when installed

and compares work done per CPU-second of the target (units / (user+sys CPU
seconds)), which does not depend on how busy the rest of the machine is.
Overhead = 1 - (rate under tracing / baseline rate), medians over the rounds.

    python tests/benchmarks/overhead.py [--rounds 3] [--seconds 8] [--frequency 99] [--budget 1.0]

Exits 1 when lineprobe's overhead exceeds the budget (percent).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from traced_run import run_with_tracer  # this folder: the scripts run as `python tests/benchmarks/...`

ROOT = Path(__file__).resolve().parents[2]
SPIN = ROOT / "workloads" / "build" / "spin"


def run_spin(seconds: float, tracer: list[str] | None) -> float:
    """One run; returns work units per CPU-second of the target."""
    # Whole seconds: bcc's profile takes only an integer duration.
    out = run_with_tracer([str(SPIN), str(seconds)], seconds, tracer, int(seconds) + 2)
    m = re.search(r"units=(\d+) cpu_s=([\d.]+)", out)
    if not m:
        raise SystemExit(f"spin printed {out!r}")
    return int(m.group(1)) / float(m.group(2))


def bcc_environment() -> dict[str, str]:
    """profile-bpfcc needs kernel headers: point it at the ones lineprobe uses."""
    env = dict(os.environ)
    try:
        from lineprobe_agent.kernel_source import find_kernel_headers

        headers = find_kernel_headers()
        if not headers.how.startswith("/lib/modules"):
            env["BCC_KERNEL_SOURCE"] = str(headers.path)
    except Exception as exc:
        print(f"note: no kernel headers for bcc's profile ({exc})", file=sys.stderr)
    return env


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--frequency", type=int, default=99)
    parser.add_argument("--budget", type=float, default=1.0, help="maximum overhead, percent")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if not SPIN.exists():
        subprocess.run(["make", "-s", "-C", str(ROOT / "workloads")], check=True)

    lineprobe = [
        sys.executable,
        "-m",
        "lineprobe.cli",
        "profile",
        "--json",
        "--pid",
        "{pid}",
        "--duration",
        "{seconds}",
        "--frequency",
        str(args.frequency),
    ]
    configs: dict[str, list[str] | None] = {"baseline": None, "lineprobe": lineprobe}
    bcc_profile = shutil.which("profile-bpfcc")
    if bcc_profile:
        configs["bcc profile"] = [bcc_profile, "-F", str(args.frequency), "-p", "{pid}", "-f", "{seconds}"]
    os.environ.update(bcc_environment())

    rates: dict[str, list[float]] = {name: [] for name in configs}
    for round_index in range(args.rounds):
        for name, tracer in configs.items():
            rates[name].append(run_spin(args.seconds, tracer))
            print(f"round {round_index + 1} {name:12s} {rates[name][-1]:12.1f} units/cpu-s", file=sys.stderr)
            time.sleep(0.5)

    base = statistics.median(rates["baseline"])
    results = {"frequency_hz": args.frequency, "seconds": args.seconds, "rounds": args.rounds, "configs": {}}
    print(
        f"\nwork per CPU-second, median of {args.rounds} interleaved runs "
        f"of {args.seconds:.0f} s at {args.frequency} Hz"
    )
    print(f"{'config':14s} {'units/cpu-s':>14s} {'vs baseline':>12s} {'overhead':>9s}")
    for name, values in rates.items():
        median = statistics.median(values)
        overhead = 100.0 * (1.0 - median / base)
        results["configs"][name] = {"median_rate": median, "rates": values, "overhead_percent": overhead}
        print(f"{name:14s} {median:14.1f} {median / base:12.4f} {overhead:8.2f}%")
    lineprobe_overhead = results["configs"]["lineprobe"]["overhead_percent"]
    verdict = "within" if lineprobe_overhead <= args.budget else "OVER"
    print(f"\nlineprobe overhead {lineprobe_overhead:.2f}% ({verdict} the {args.budget:.1f}% budget)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0 if lineprobe_overhead <= args.budget else 1


if __name__ == "__main__":
    sys.exit(main())
