"""Wall-clock time per line with real BPF: CPU samples (as time) and off-CPU time taken over one
window by two programs behind one group of gates, added per stack.

Ground truth: a single-threaded program is always either on the CPU or off it, so its
wall-clock total is the window's length; workloads/blocker measures how long its nap line kept
it off the CPU; workloads/hotloop-O2 never waits.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import WORKLOADS, marked_line
from tests.privileged.capturing import capture_while

pytestmark = pytest.mark.privileged

BLOCKER_C = WORKLOADS / "blocker" / "blocker.c"


def wall_clock(pid: int, seconds: float, during: Callable[[], None] | None = None) -> Any:
    from lineprobe.capture import kinds

    return capture_while(kinds.WALL_CLOCK, pid, seconds, {"frequency": 99}, during)


def test_a_waiting_program_adds_up_to_the_window_and_its_nap_line_to_what_it_measured(
    workloads: Path, tmp_path: Path
) -> None:
    program = subprocess.Popen(
        [str(workloads / "blocker"), "300", str(tmp_path / "data"), "wait"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    output: list[str] = []
    try:
        profile = wall_clock(
            program.pid, 120.0, lambda: output.append(program.communicate("go\n", timeout=120)[0])
        )
    finally:
        if program.poll() is None:
            program.kill()
    words = output[0].split()
    truth = {words[i]: int(words[i + 1]) for i in range(0, 6, 2)}
    assert [c.event for c in profile.columns] == ["wall-clock time", "on-CPU time", "off-CPU time"]
    window_ns = profile.header.duration_s * 1e9
    wall, on, off = profile.totals
    print(
        f"window {window_ns / 1e6:.0f} ms: wall {wall / 1e6:.0f} ms = on {on / 1e6:.0f} + off {off / 1e6:.0f}"
    )
    assert abs(wall - window_ns) <= 0.10 * window_ns  # one thread, always on or off the CPU
    nap = next(
        s for s in profile.lines if s.path == str(BLOCKER_C) and s.line == marked_line(BLOCKER_C, "NAP-LINE")
    )
    print(
        f"nap line: wall {nap.total_cost / 1e6:.1f} ms,"
        f" measured off-CPU {truth['nap_waited_ns'] / 1e6:.1f} ms"
    )
    assert truth["nap_waited_ns"] * 0.9 <= nap.total_cost <= truth["nap_waited_ns"] * 1.1 + 30e6


def test_a_cpu_bound_program_is_on_the_cpu_all_its_wall_clock_time(workloads: Path) -> None:
    program = subprocess.Popen([str(workloads / "hotloop-O2"), "0"], stdout=subprocess.DEVNULL)
    try:
        profile = wall_clock(program.pid, 2.0)
    finally:
        program.kill()
        program.wait()
    window_ns = profile.header.duration_s * 1e9
    wall, on, off = profile.totals
    print(
        f"window {window_ns / 1e6:.0f} ms: wall {wall / 1e6:.0f} ms = on {on / 1e6:.0f} + off {off / 1e6:.0f}"
    )
    assert abs(wall - window_ns) <= 0.10 * window_ns
    assert on >= 0.9 * wall
