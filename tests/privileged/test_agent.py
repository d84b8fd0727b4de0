"""The agent process itself: capabilities, cleanup on every exit path, loss accounting."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lineprobe.capture.spawned import SpawnedAgent
from lineprobe_agent import protocol

pytestmark = pytest.mark.privileged


def start_agent() -> tuple[subprocess.Popen[bytes], socket.socket]:
    """The agent as lineprobe starts it: isolated, its stdin and stdout one end of a socket pair."""
    ours, theirs = socket.socketpair()
    agent = subprocess.Popen(
        [sys.executable, "-I", "-m", "lineprobe_agent"], stdin=theirs, stdout=theirs, cwd="/"
    )
    theirs.close()
    return agent, ours


def bpf_programs() -> list[dict]:
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout or "[]")


def programs_of(pid: int) -> set[int]:
    """IDs of the BPF programs a process holds open (other agents may run concurrently).

    Read from /proc/PID/fdinfo, where a BPF program's descriptor shows its
    ``prog_id`` (this bpftool build cannot list owning PIDs).
    """
    ids = set()
    for info in Path(f"/proc/{pid}/fdinfo").iterdir():
        try:
            text = info.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("prog_id:"):
                ids.add(int(line.split()[1]))
    return ids


def live_program_ids() -> set[int]:
    return {p["id"] for p in bpf_programs()}


def test_capability_report_matches_this_kernel() -> None:
    with SpawnedAgent() as agent:
        report = agent.capabilities()
    caps = {c.name: c for c in report.capabilities}
    assert caps["privileges"].available and caps["bcc"].available and caps["kernel-headers"].available
    assert caps["btf"].available == Path("/sys/kernel/btf/vmlinux").exists()
    kprobes = Path("/sys/kernel/tracing/kprobe_events").exists()
    assert caps["kprobes"].available == kprobes
    assert any("CPU profiling" in line for line in report.works)


@pytest.mark.parametrize("how", ["sigkill", "sigterm", "stdin-closed"])
def test_no_bpf_program_outlives_the_agent(workloads: Path, spawn, how: str) -> None:
    target = spawn(workloads / "primes", "200000", "0")
    agent, channel = start_agent()
    channel.settimeout(60)  # an agent that answers nothing more fails the test, never hangs it
    replies = channel.makefile("rb")
    assert isinstance(protocol.decode_message(replies.readline()), protocol.Hello)
    channel.sendall(protocol.encode(protocol.ProfileRequest(1, target.pid, 99, 30.0)))
    seen = []
    while True:  # wait until samples are being taken
        message = protocol.decode_message(replies.readline())
        seen.append(message)
        assert not isinstance(message, protocol.Failure | protocol.ProfileDone), seen
        if isinstance(message, protocol.Progress) and message.phase == "sampling" and message.samples:
            break
    ours = programs_of(agent.pid)
    assert ours, "the sampling program should be loaded while sampling"
    if how == "sigkill":
        agent.send_signal(signal.SIGKILL)
    elif how == "sigterm":
        agent.send_signal(signal.SIGTERM)
    else:
        channel.shutdown(socket.SHUT_WR)
    rest = replies.read()  # drain: a full buffer would block the agent's answer
    agent.wait(10)
    deadline = time.monotonic() + 5
    while ours & live_program_ids() and time.monotonic() < deadline:
        time.sleep(0.05)  # the kernel frees programs asynchronously after the last fd closes
    assert ours & live_program_ids() == set()
    if how == "stdin-closed":
        # A closed pipe ends sampling early but still answers with what was collected.
        messages = [protocol.decode_message(line) for line in rest.splitlines()]
        done = [m for m in messages if isinstance(m, protocol.ProfileDone)]
        assert done and done[0].result.counters.samples > 0
