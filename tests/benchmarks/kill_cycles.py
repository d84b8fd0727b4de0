"""What SIGKILL leaves behind: cycles of the lineprobe service and its clients killed mid-trace,
then the kernel's own count of what is left (issue: least privilege, "nothing left behind").

Each cycle starts the installed service on a socket of its own and the CLI as its client, whose
agent samples a running workload (a USDT probe count every fifth cycle: uprobes, whose int3 is
then seen in the target's code); once the agent's programs are attached, SIGKILL goes, in turn,
to the CLI (the agent reads the end of its input), the service (the agent must answer the CLI
in full, which Ctrl-C then ends early), both, or the agent itself. After all cycles, with every
process gone, it counts BPF programs and links (bpftool), perf events held by any process, and
the uprobe and kprobe entries in tracefs, against their counts before the first cycle; it
compares the USDT target's executable code in memory with its files (a uprobe not taken out
leaves an int3 behind) and reads the kernel's log for uprobe warnings.

    python tests/benchmarks/kill_cycles.py [--cycles 100]

Exits 1 if anything is left.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tracers")]

from tests.privileged.agent_service import INSTALLED_PYTHON, start_service, stop_service  # noqa: E402

TRACEFS = Path("/sys/kernel/tracing")


def bpftool(kind: str) -> int:
    out = subprocess.run(["bpftool", "-j", kind, "show"], capture_output=True, text=True).stdout
    return len(json.loads(out or "[]"))


def perf_events_held() -> int:
    """Descriptors of perf events open in any process (anon_inode:[perf_event])."""
    held = 0
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            for fd in fd_dir.iterdir():
                try:
                    held += os.readlink(fd) == "anon_inode:[perf_event]"
                except OSError:
                    continue
        except OSError:
            continue
    return held


def tracefs_probes() -> int:
    count = 0
    for name in ("uprobe_events", "kprobe_events"):
        try:
            count += len([line for line in (TRACEFS / name).read_text().splitlines() if line.strip()])
        except OSError:
            continue
    return count


def leftovers() -> dict[str, int]:
    return {
        "programs": bpftool("prog"),
        "links": bpftool("link"),
        "perf events": perf_events_held(),
        "tracefs probes": tracefs_probes(),
    }


def children(pid: int) -> list[int]:
    """The processes ``pid`` started (a service's agents, a CLI's agent)."""
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def attached(pids: list[int], fd_type: str | None = None) -> set[int]:
    """Which of ``pids`` have BPF programs attached to perf events (of ``fd_type``: ``uprobe``,
    ``tracepoint``...; any without it), as bpftool lists them by process."""
    out = subprocess.run(["bpftool", "-j", "perf", "show"], capture_output=True, text=True).stdout
    return {
        entry["pid"]
        for entry in json.loads(out or "[]")
        if entry.get("pid") in pids and fd_type in (None, entry.get("fd_type"))
    }


KILLED = ("client", "service", "both", "agent")
"""Who gets SIGKILL, cycle by cycle (with a USDT count every fifth cycle, each meets each)."""


def breakpoints_left(pid: int) -> int:
    """Bytes of the target's executable code that differ from its files: a uprobe the kernel
    failed to take out leaves its breakpoint (int3) in the process's copy of the page."""
    differing = 0
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", buffering=0) as memory:
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) < 6 or "x" not in fields[1] or not fields[5].strip().startswith("/"):
                continue
            start, end = (int(value, 16) for value in fields[0].split("-"))
            with open(fields[5].strip(), "rb") as backing:
                backing.seek(int(fields[2], 16))
                expected = backing.read(end - start)
            memory.seek(start)
            actual = memory.read(len(expected))
            differing += sum(a != b for a, b in zip(actual, expected, strict=True))
    return differing


def kernel_warnings(since: int) -> list[str]:
    """The kernel's uprobe warnings ("failed to unregister, leaking uprobe") after line ``since``."""
    lines = subprocess.run(["dmesg"], capture_output=True, text=True).stdout.splitlines()
    return [line for line in lines[since:] if "uprobe" in line]


def one_cycle(number: int, folder: Path, target: int, usdt_target: int) -> None:
    """One cycle: the CLI traces through a fresh service; once the agent's programs are attached,
    SIGKILL goes to the CLI, the service, both or the agent. A cycle that fails still ends the
    service and the CLI it started."""
    path = folder / f"agent-{number}.sock"
    if number % 5 == 4:
        what = ["stackcount", "usdt:lineprobe_demo:request", "--pid", str(usdt_target)]
    else:
        what = ["profile", "--pid", str(target)]
    service = start_service(path)
    env = {**os.environ, "LINEPROBE_LAUNCHER": "service", "LINEPROBE_AGENT_SOCKET": str(path)}
    client = subprocess.Popen(
        [sys.executable, "-m", "lineprobe.cli", *what, "-d", "30"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _kill_mid_trace(number, what, service, client, usdt_target)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
        stop_service(service)
        path.unlink(missing_ok=True)


def _kill_mid_trace(
    number: int,
    what: list[str],
    service: subprocess.Popen[bytes],
    client: subprocess.Popen[bytes],
    usdt_target: int,
) -> None:
    deadline = time.monotonic() + 60
    usdt = what[0] == "stackcount"
    # Attached: the gate's tracepoints (attached first for every request), then (for USDT) the
    # probe's int3 in the target's code.
    while not attached(children(service.pid)) or (usdt and not breakpoints_left(usdt_target)):
        if client.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"cycle {number}: the trace never started: {client.stderr.read()!r}")  # type: ignore[union-attr]
        time.sleep(0.02)
    time.sleep(0.1)  # the sampling events are attached right after the gate's
    agents = children(service.pid)
    how = KILLED[number % len(KILLED)]
    if how in ("service", "both"):
        service.send_signal(signal.SIGKILL)
    if how in ("client", "both"):  # its socket closes with it
        client.send_signal(signal.SIGKILL)
    elif how == "agent":  # the kernel tears its probes down as it exits
        for agent in agents:
            os.kill(agent, signal.SIGKILL)
        client.send_signal(signal.SIGKILL)
    else:  # the service killed alone: the agent answers the CLI in full (Ctrl-C stops it early)
        client.send_signal(signal.SIGINT)
    client.wait(60)
    assert client.stderr is not None
    errors = client.stderr.read().decode(errors="replace")
    client.stderr.close()
    if how == "service" and client.returncode != 0:
        raise AssertionError(f"cycle {number}: the CLI lost its trace with the service: {errors}")
    for agent in agents:
        for _ in range(400):
            if (
                not Path(f"/proc/{agent}").exists()
                or b"lineprobe_agent" not in Path(f"/proc/{agent}/cmdline").read_bytes()
            ):
                break
            time.sleep(0.025)
        else:
            raise AssertionError(f"cycle {number}: agent {agent} still runs")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, default=100)
    args = parser.parse_args()
    if os.geteuid() != 0 or not INSTALLED_PYTHON.exists():
        raise SystemExit("run as root after `make install-agent`")
    build = ROOT / "workloads" / "build"
    workload = subprocess.Popen([str(build / "primes"), "200000", "0"], stdout=subprocess.DEVNULL)
    probes = subprocess.Popen([str(build / "probes"), "100000000000000"], stdout=subprocess.DEVNULL)
    before = leftovers()
    dmesg_lines = len(subprocess.run(["dmesg"], capture_output=True, text=True).stdout.splitlines())
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="lineprobe-kill-cycles-") as scratch:
            for number in range(args.cycles):
                one_cycle(number, Path(scratch), workload.pid, probes.pid)
                if (number + 1) % 100 == 0:  # between cycles nothing of lineprobe's may be left
                    time.sleep(1.0)
                    print(f"after {number + 1} cycles: {leftovers()}", flush=True)
            breakpoints = breakpoints_left(probes.pid)
    finally:
        for process in (workload, probes):
            process.kill()
            process.wait()
    time.sleep(1.0)  # the kernel frees programs after the last descriptor closes
    after = leftovers()
    elapsed = time.monotonic() - started
    warnings = kernel_warnings(dmesg_lines)
    print(
        f"{args.cycles} cycles in {elapsed:.0f} s"
        " (SIGKILL to the CLI, the service, both, or the agent in turn; every 5th a USDT count)"
    )
    for name in before:
        print(f"  {name}: {before[name]} before, {after[name]} after")
    print(f"  bytes of the USDT target's code that differ from its files (breakpoints left): {breakpoints}")
    print(f"  kernel uprobe warnings: {len(warnings)}", *warnings, sep="\n    ")
    left = {name: after[name] - before[name] for name in before if after[name] > before[name]}
    if breakpoints:
        left["breakpoints"] = breakpoints
    if warnings:
        left["kernel warnings"] = len(warnings)
    if left:
        print(f"FAILED: left behind: {left}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
