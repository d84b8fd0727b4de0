"""What SIGKILL leaves behind: cycles of the lineprobe service and its clients killed mid-trace,
then the kernel's own count of what is left (issue: least privilege, "nothing left behind").

Each cycle starts the installed service on a socket of its own, connects as a client, has its
agent sample a running workload (a USDT probe count every fourth cycle: uprobes), and once it
samples kills, in turn, the client (the agent reads the end of its input), the service (the
agent must finish and leave with its client), or both. After all cycles, with every process
gone, it counts BPF programs and links (bpftool), perf events held by any process, and the
uprobe and kprobe entries in tracefs, against their counts before the first cycle.

    python tests/benchmarks/kill_cycles.py [--cycles 100]

Exits 1 if anything is left.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tracers"))
from lineprobe_agent import protocol  # noqa: E402

INSTALLED_PYTHON = Path("/usr/local/lib/lineprobe-agent/venv/bin/python")
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


def one_cycle(number: int, folder: Path, target: int, usdt_target: int) -> None:
    path = folder / f"agent-{number}.sock"
    service = subprocess.Popen(
        [str(INSTALLED_PYTHON), "-I", "-m", "lineprobe_agent.service", "--socket", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd="/",
    )
    for _ in range(400):
        if path.exists():
            break
        time.sleep(0.025)
    client = socket.socket(socket.AF_UNIX)
    client.connect(str(path))
    client.settimeout(60)
    replies = client.makefile("rb")
    hello = protocol.decode_message(replies.readline())
    assert isinstance(hello, protocol.Hello), hello
    if number % 4 == 3:
        request: protocol.Request = protocol.StackCountRequest(
            id=1, pid=usdt_target, tracepoint="usdt:lineprobe_demo:request", duration_s=30.0
        )
    else:
        request = protocol.ProfileRequest(id=1, pid=target, frequency=99, duration_s=30.0)
    client.sendall(protocol.encode(request))
    while True:
        message = protocol.decode_message(replies.readline())
        assert not isinstance(message, protocol.Failure), message
        if isinstance(message, protocol.Progress) and message.phase == "sampling":
            break
    how = number % 3
    if how in (1, 2):
        service.send_signal(signal.SIGKILL)
    if how in (0, 2):  # the client killed: its socket closes with it
        replies.close()
        client.close()
    else:  # the service killed alone: the agent answers its caller in full, then the caller goes
        client.sendall(protocol.encode(protocol.StopRequest(1)))
        while not isinstance(
            protocol.decode_message(replies.readline()), protocol.ProfileDone | protocol.StackCountDone
        ):
            pass
        replies.close()
        client.close()
    agent = hello.agent_pid
    for _ in range(400):
        if (
            not Path(f"/proc/{agent}").exists()
            or b"lineprobe_agent" not in Path(f"/proc/{agent}/cmdline").read_bytes()
        ):
            break
        time.sleep(0.025)
    else:
        raise AssertionError(f"cycle {number}: agent {agent} still runs")
    if service.poll() is None:
        service.send_signal(signal.SIGTERM)
    service.wait(30)
    path.unlink(missing_ok=True)


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
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="lineprobe-kill-cycles-") as scratch:
            for number in range(args.cycles):
                one_cycle(number, Path(scratch), workload.pid, probes.pid)
                if (number + 1) % 100 == 0:  # between cycles nothing of lineprobe's may be left
                    time.sleep(1.0)
                    print(f"after {number + 1} cycles: {leftovers()}", flush=True)
    finally:
        for process in (workload, probes):
            process.kill()
            process.wait()
    time.sleep(1.0)  # the kernel frees programs after the last descriptor closes
    after = leftovers()
    elapsed = time.monotonic() - started
    print(
        f"{args.cycles} cycles in {elapsed:.0f} s"
        " (client, service, both killed in turn; every 4th a USDT count)"
    )
    for name in before:
        print(f"  {name}: {before[name]} before, {after[name]} after")
    left = {name: after[name] - before[name] for name in before if after[name] > before[name]}
    if left:
        print(f"FAILED: left behind: {left}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
