"""Block I/O by process and by disk (biotop, biolatency -D) from the block tracepoints, side by
side with libbpf-tools' biolatency on the same requests.

workloads/blocker writes and fsyncs 64 KiB a round: data, journal and flush requests on the
disk that holds the test's scratch folder, issued by blocker itself and by the kernel's
writeback threads.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.privileged.capturing import capture_while

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


@contextlib.contextmanager
def biolatency_alongside(seconds: int) -> Iterator[dict[str, str]]:
    """libbpf-tools' ``biolatency -D SECONDS 1``, attached when the block starts; its report
    under "text" once the block has run and biolatency has ended."""
    # Line-buffered (stdbuf): its first line says it has attached; piped, it would come only at
    # the end, with the rest.
    reference = subprocess.Popen(
        ["stdbuf", "-oL", str(BIOLATENCY), "-D", str(seconds), "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    report: dict[str, str] = {}
    try:
        assert reference.stdout is not None
        assert "Tracing block device I/O" in reference.stdout.readline()
        yield report
        report["text"] = reference.communicate(timeout=60)[0]
    finally:
        if reference.poll() is None:
            reference.kill()
            reference.wait()


@pytest.mark.skipif(not BIOLATENCY.exists(), reason="needs libbpf-tools' biolatency: sudo make setup")
def test_requests_per_disk_agree_with_biolatency_and_the_writer_is_named(
    workloads: Path, tmp_path: Path
) -> None:
    from lineprobe.capture import kinds

    os.sync()  # what earlier tests left dirty is written back now, not inside the windows
    window: dict[str, float] = {}
    texts: list[str] = []

    def side_by_side() -> None:
        with biolatency_alongside(5) as report:
            window["biolatency"] = time.time()
            blocker = subprocess.run(
                [str(workloads / "blocker"), "300", str(tmp_path / "data")],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert blocker.returncode == 0
        texts.append(report["text"])
        window["biolatency ended"] = time.time()

    activity = capture_while(kinds.DISK, 0, 8.0, {"interval_s": 1.0}, side_by_side)
    theirs_text = texts[0]
    theirs = biolatency_totals(theirs_text)
    busiest = max(theirs, key=lambda disk: theirs[disk])
    # biosnoop's lines: every request lineprobe counted, one by one, with its completion time.
    assert activity.requests_not_listed == 0 and len(activity.requests) == activity.completed
    # The requests that completed while biolatency ran (lineprobe's window holds its 5 s; the
    # kernel's own writeback can fall in the seconds around them).
    started = activity.header.started_at
    during = [
        r
        for r in activity.requests
        if r.device == busiest and window["biolatency"] <= started + r.offset_s <= window["biolatency ended"]
    ]
    ours = activity.requests_by_device()
    print(
        f"requests on {busiest}: lineprobe {len(during)} while biolatency ran ({ours[busiest]} in its 8 s),"
        f" biolatency {theirs[busiest]}"
    )
    # Keyed by (device, sector), two flushes in flight at once count as one (one in a thousand).
    assert abs(len(during) - theirs[busiest]) <= theirs[busiest] * 0.05, (len(during), theirs)
    writers = [p for p in activity.processes if p.comm == "blocker" and p.op == "W"]
    assert writers and writers[0].ios >= 300 and writers[0].bytes >= 300 * 65536
    assert writers[0] == max(activity.processes, key=lambda p: p.bytes)  # the busiest writer
    mine = [r for r in activity.requests if r.comm == "blocker" and r.op == "W"]
    assert len(mine) == writers[0].ios and all(r.device == busiest and r.latency_ns > 0 for r in mine)
    # biolatency's intervals: a histogram per disk for each second that had requests, adding up.
    intervals = {d.interval for d in activity.devices if d.device == busiest}
    assert len(intervals) >= 2
    assert sum(d.requests for d in activity.devices if d.device == busiest) == ours[busiest]
