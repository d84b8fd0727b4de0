"""Block I/O by process and by disk (biotop, biolatency -D) from the block tracepoints, side by
side with libbpf-tools' biolatency on the same requests.

workloads/blocker writes and fsyncs 64 KiB a round: data, journal and flush requests on the
disk that holds the test's scratch folder, issued by blocker itself and by the kernel's
writeback threads.
"""

from __future__ import annotations

import re
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.privileged

BIOLATENCY = Path("/usr/sbin/biolatency")


def biolatency_totals(output: str) -> dict[str, int]:
    """Requests per disk in biolatency -D's report."""
    totals: dict[str, int] = {}
    disk = None
    for line in output.splitlines():
        heading = re.match(r"disk = (\S+)", line.strip())
        if heading:
            disk = heading.group(1)
            totals.setdefault(disk, 0)
            continue
        row = re.match(r"\s*\d+ -> \d+\s*: (\d+)", line)
        if row and disk is not None:
            totals[disk] += int(row.group(1))
    return totals


@pytest.mark.skipif(not BIOLATENCY.exists(), reason="needs libbpf-tools' biolatency: sudo make setup")
def test_requests_per_disk_agree_with_biolatency_and_the_writer_is_named(
    workloads: Path, tmp_path: Path
) -> None:
    from lineprobe.capture import kinds
    from lineprobe.capture.runner import CaptureRunner

    runner = CaptureRunner()
    tracing = threading.Event()
    answer: list[Any] = []

    def on_progress(message: Any) -> None:
        if message.phase == "sampling":
            tracing.set()

    worker = threading.Thread(
        target=lambda: answer.append(runner.capture(kinds.DISK, 0, 8.0, {}, on_progress))
    )
    worker.start()
    reference: subprocess.Popen[str] | None = None
    try:
        assert tracing.wait(90), "lineprobe never started tracing"
        # Line-buffered (stdbuf): its first line says it has attached; piped, it would come only
        # at the end, with the rest.
        reference = subprocess.Popen(
            ["stdbuf", "-oL", str(BIOLATENCY), "-D", "5", "1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert reference.stdout is not None
        assert "Tracing block device I/O" in reference.stdout.readline()
        blocker = subprocess.run(
            [str(workloads / "blocker"), "300", str(tmp_path / "data")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert blocker.returncode == 0
        theirs_text, _ = reference.communicate(timeout=60)
    finally:
        if reference is not None and reference.poll() is None:
            reference.kill()
        worker.join(60)
        runner.close()
    activity = answer[0]
    theirs = biolatency_totals(theirs_text)
    ours = {d.device: d.requests for d in activity.devices}
    print(f"requests per disk: lineprobe {ours} (8 s), biolatency {theirs} (5 s within it)")
    busiest = max(theirs, key=lambda disk: theirs[disk])
    # lineprobe's window holds biolatency's and a little idle time on each side.
    assert theirs[busiest] <= ours[busiest] <= theirs[busiest] * 1.05 + 5, (ours, theirs)
    writers = [p for p in activity.processes if p.comm == "blocker" and p.op == "W"]
    assert writers and writers[0].ios >= 300 and writers[0].bytes >= 300 * 65536
    assert writers[0] == max(activity.processes, key=lambda p: p.bytes)  # the busiest writer
