"""Several USDT traces on one process at once, ended by SIGKILL or by the process's own exit
(issue: least privilege, "a target is never left with a breakpoint"). The kernel logged
`failed to unregister, leaking uprobe` once on this machine kind while several traces ran at
once; this reproduces those conditions and counts what the kernel says and leaves.

Each round starts N CLIs counting the same probe of the same running `probes` workload (one
agent each), waits until every agent's uprobes are in (the int3 is seen in the target's code),
then ends them, in turn: SIGKILL to every agent at once; SIGKILL to every CLI at once (their
agents see the end of input and close); or the target itself killed under all the traces (its
mm torn down while the uprobes are still registered), after which a new target is started.
After the rounds it reads the kernel's log for uprobe warnings, compares the surviving target's
code with its file, and counts BPF programs, links, perf events and tracefs probes.

    python tests/benchmarks/concurrent_uprobes.py [--rounds 60] [--traces 3]

Exits 1 if the kernel warned or anything was left.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]
from kill_cycles import attached, breakpoints_left, children, kernel_warnings, leftovers  # noqa: E402

PROBES = ROOT / "workloads" / "build" / "probes"
ENDINGS = ("agents killed", "CLIs killed", "target killed")


def start_target() -> subprocess.Popen[bytes]:
    target = subprocess.Popen([str(PROBES), "100000000000000"], stdout=subprocess.DEVNULL)
    time.sleep(0.2)
    return target


def one_round(number: int, traces: int, target: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
    """One round; returns the target to use next (a new one after the target was killed)."""
    count = ["stackcount", "usdt:lineprobe_demo:request", "--pid", str(target.pid), "-d", "30"]
    clients = [
        subprocess.Popen(
            [sys.executable, "-m", "lineprobe.cli", *count],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(traces)
    ]
    try:
        deadline = time.monotonic() + 120
        # Each agent attaches its own uprobe on the same site: wait until every one holds a link.
        while len(attached([agent for c in clients for agent in children(c.pid)], "uprobe")) < traces:
            if time.monotonic() > deadline or any(c.poll() is not None for c in clients):
                raise AssertionError(f"round {number}: the traces did not all start")
            time.sleep(0.05)
        assert breakpoints_left(target.pid), f"round {number}: no breakpoint in the target"
        ending = ENDINGS[number % len(ENDINGS)]
        if ending == "agents killed":
            for agent in [agent for c in clients for agent in children(c.pid)]:
                os.kill(agent, signal.SIGKILL)
        elif ending == "CLIs killed":
            for client in clients:
                client.send_signal(signal.SIGKILL)
        else:
            target.kill()
            target.wait()
        if ending != "CLIs killed":  # each CLI ends: its agent lost, or its target gone
            for client in clients:
                client.wait(60)
        if ending == "target killed":
            target = start_target()
    finally:
        for client in clients:
            if client.poll() is None:
                client.kill()
            client.wait()
    return target


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--traces", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root")
    before = leftovers()
    dmesg_lines = len(subprocess.run(["dmesg"], capture_output=True, text=True).stdout.splitlines())
    started = time.monotonic()
    target = start_target()
    try:
        for number in range(args.rounds):
            target = one_round(number, args.traces, target)
        time.sleep(1.0)
        breakpoints = breakpoints_left(target.pid)
    finally:
        target.kill()
        target.wait()
    time.sleep(1.0)
    after = leftovers()
    warnings = kernel_warnings(dmesg_lines)
    print(
        f"{args.rounds} rounds of {args.traces} USDT traces at once on one process in "
        f"{time.monotonic() - started:.0f} s (ended by: {', '.join(ENDINGS)}, in turn)"
    )
    for name in before:
        print(f"  {name}: {before[name]} before, {after[name]} after")
    print(f"  bytes of the target's code that differ from its file (breakpoints left): {breakpoints}")
    print(f"  kernel uprobe warnings: {len(warnings)}", *warnings, sep="\n    ")
    left = {name: after[name] - before[name] for name in before if after[name] > before[name]}
    return 1 if left or breakpoints or warnings else 0


if __name__ == "__main__":
    sys.exit(main())
