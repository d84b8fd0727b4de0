"""Interrupt time by hard IRQ and softirq vector from the irq tracepoints, side by side with
libbpf-tools' hardirqs on the same interrupts: workloads/blocker's writes and fsyncs raise the
disk queue's interrupt a few hundred times while both count."""

from __future__ import annotations

import os
import re
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.privileged

HARDIRQS = Path("/usr/sbin/hardirqs")


@pytest.mark.skipif(not HARDIRQS.exists(), reason="needs libbpf-tools' hardirqs: sudo make setup")
def test_hard_irq_counts_agree_with_hardirqs(workloads: Path, tmp_path: Path) -> None:
    from lineprobe.capture import kinds
    from lineprobe.capture.runner import CaptureRunner

    os.sync()  # what earlier tests left dirty is written back now, not inside the windows

    runner = CaptureRunner()
    tracing = threading.Event()
    answer: list[Any] = []

    def on_progress(message: Any) -> None:
        if message.phase == "sampling":
            tracing.set()

    def trace() -> None:
        answer.append(runner.capture(kinds.IRQS, 0, 8.0, {}, on_progress))

    worker = threading.Thread(target=trace)
    worker.start()
    reference: subprocess.Popen[str] | None = None
    try:
        assert tracing.wait(90), "lineprobe never started tracing"
        reference = subprocess.Popen(
            ["stdbuf", "-oL", str(HARDIRQS), "-C", "5", "1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert reference.stdout is not None
        assert "Tracing hard irq" in reference.stdout.readline()
        argv = [str(workloads / "blocker"), "200", str(tmp_path / "data")]
        assert subprocess.run(argv, capture_output=True, timeout=60).returncode == 0
        theirs_text, _ = reference.communicate(timeout=60)
    finally:
        if reference is not None and reference.poll() is None:
            reference.kill()
        worker.join(60)
        runner.close()
    interrupts = answer[0]
    theirs = {name: int(count) for name, count in re.findall(r"^(\S+)\s+(\d+)$", theirs_text, re.MULTILINE)}
    ours = {entry.name: entry.count for entry in interrupts.hard}
    print(f"hard IRQs: lineprobe {ours} (8 s), hardirqs {theirs} (5 s within it)")
    busiest = max(theirs, key=lambda name: theirs[name])
    assert theirs[busiest] >= 200  # the disk's queue, one or more a request
    # lineprobe's window holds hardirqs' and a little idle time on each side.
    assert theirs[busiest] <= ours[busiest] <= theirs[busiest] * 1.05 + 10, (ours, theirs)
    assert set(theirs) <= set(ours)
    assert all(entry.time_ns > 0 for entry in interrupts.hard)
    assert {"sched", "timer"} <= {entry.name for entry in interrupts.soft}
