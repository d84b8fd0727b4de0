"""The kernel's own witness that uprobes are in place: each is an int3 (0xCC) written at its
address in the traced process's memory, read through ``/proc/PID/mem`` (root). Tests and
benchmarks start the workload's counted work only once every site of a line has one."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from lineprobe.symbolization.line_sites import LineSites


def runtime_addresses(pid: int, found: list[LineSites]) -> list[int]:
    """Where each site is in the process: its file's load base plus its ELF address (PIE)."""
    bases: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split()
        if len(parts) == 6 and int(parts[2], 16) == 0:
            bases.setdefault(parts[5], int(parts[0].split("-")[0], 16))
    return [
        bases[path] + address for sites in found for path, at in sites.addresses.items() for address in at
    ]


def armed(pid: int, addresses: list[int]) -> bool:
    """Whether a uprobe is in place at every address (the kernel wrote its int3 there)."""
    with open(f"/proc/{pid}/mem", "rb") as memory:
        for address in addresses:
            memory.seek(address)
            if memory.read(1) != b"\xcc":
                return False
    return True


def wait_armed(pid: int, addresses: list[int], tool: subprocess.Popen[str], timeout_s: float = 60) -> None:
    """Until every address has its uprobe, then half a second more: the int3 is written when a
    uprobe is registered, before its BPF program is attached to it (bcc: the perf event first,
    then its program), and hits in between would not be counted. Fails if ``tool`` ends first."""
    deadline = time.monotonic() + timeout_s
    while not armed(pid, addresses):
        assert tool.poll() is None, f"the counting tool ended first: {tool.communicate()}"
        assert time.monotonic() < deadline, f"no uprobe in place after {timeout_s:g} s"
        time.sleep(0.05)
    time.sleep(0.5)
