"""Kernel tracepoints (workshop lab 1) with real BPF: listed with their formats as tracefs has
them, and one traced for one process with each record's fields, against a program that blocks
a known number of times; nothing is left enabled or attached afterwards.

Ground truth: ``workloads/build/naps COUNT wait`` waits for a line on stdin, then sleeps COUNT
times (each a ``sched:sched_switch`` out of the CPU with ``prev_state`` 1, S) and exits.
"""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LINEPROBE

pytestmark = pytest.mark.privileged

NAPS = 2000
TRACEFS = Path("/sys/kernel/tracing")


def test_listing_matches_tracefs_formats() -> None:
    done = subprocess.run(
        [*LINEPROBE, "tracepoints", "list", "sched:*", "--json"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    listed = {t["name"]: t for t in json.loads(done.stdout)["tracepoints"]}
    on_disk = {
        f"sched:{p.name}" for p in (TRACEFS / "events" / "sched").iterdir() if (p / "format").is_file()
    }
    assert set(listed) == on_disk
    switch = listed["sched:sched_switch"]
    assert switch["id"] == int((TRACEFS / "events/sched/sched_switch/id").read_text())
    assert [f["name"] for f in switch["fields"]][:3] == ["prev_comm", "prev_pid", "prev_prio"]


def traced(
    kind_parameters: dict[str, Any],
    program: subprocess.Popen[str],
    live: list[Any],
    kind_name: str = "tracepoint-trace",
) -> Any:
    from lineprobe.capture import kinds
    from lineprobe.capture.runner import CaptureRunner

    runner = CaptureRunner()
    tracing = threading.Event()
    answer: list[Any] = []

    def on_progress(message: Any) -> None:
        if message.phase == "sampling":
            tracing.set()
        if message.live is not None:
            live.append(message.live)

    def trace() -> None:
        answer.append(
            runner.capture(kinds.KINDS[kind_name], program.pid, 120.0, kind_parameters, on_progress)
        )

    worker = threading.Thread(target=trace)
    worker.start()
    try:
        assert tracing.wait(90), "lineprobe never started tracing"
        assert program.stdin is not None
        program.stdin.write("go\n")
        program.stdin.flush()
        program.communicate(timeout=60)
    finally:
        worker.join(120)
        runner.close()
    return answer[0]


def test_sched_switch_records_of_one_process_with_their_fields(workloads: Path) -> None:
    program = subprocess.Popen(
        [str(workloads / "naps"), str(NAPS), "wait"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    live: list[Any] = []
    trace = traced(
        {"tracepoint": "sched:sched_switch", "rate_limit": 100_000, "max_events": 100_000}, program, live
    )
    assert program.returncode == 0
    assert trace.hits == len(trace.events) > 0
    assert trace.rate_limited == trace.ring_full == trace.dropped == trace.unreadable == 0
    outs = [e for e in trace.events if e.fields["prev_pid"] == program.pid]
    naps = [e for e in outs if e.fields["prev_state"] == 1]
    print(f"{trace.hits} records: {len(outs)} switches out of naps, {len(naps)} to sleep (S)")
    assert len(naps) == NAPS
    assert all(e.fields["prev_comm"] == "naps" and e.tid == program.pid for e in naps)
    # Every record is the process's: switched out of it, or into it.
    assert all(program.pid in (e.fields["prev_pid"], e.fields["next_pid"]) for e in trace.events)
    assert [e.at_s for e in trace.events] == sorted(e.at_s for e in trace.events)
    assert live and all(len(r.new_events) <= 200 for r in live)
    assert live[-1].layout.name == "sched:sched_switch"


def test_nothing_is_left_enabled_or_attached(workloads: Path) -> None:
    """The trace attaches a BPF program for its window only: tracefs shows the event disabled,
    no instance made, and no program of lineprobe's left loaded."""
    before = set((TRACEFS / "instances").iterdir())
    program = subprocess.Popen([str(workloads / "naps"), "100000"], stdout=subprocess.DEVNULL)
    try:
        done = subprocess.run(
            [*LINEPROBE, "tracepoints", "trace", "--pid", str(program.pid), "-d", "1", "sched:sched_switch"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        program.kill()
        program.wait()
    assert done.returncode == 0, done.stderr
    assert "sched:sched_switch in naps" in done.stdout and "prev_comm=naps" in done.stdout
    assert (TRACEFS / "events/sched/sched_switch/enable").read_text().strip() == "0"
    assert set((TRACEFS / "instances").iterdir()) == before
    loaded = subprocess.run(["bpftool", "prog", "show", "--json"], capture_output=True, text=True)
    if loaded.returncode == 0:
        assert "on_event" not in {p.get("name") for p in json.loads(loaded.stdout)}


def test_an_unknown_tracepoint_and_the_gate_s_own_are_refused_in_words(workloads: Path) -> None:
    program = subprocess.Popen([str(workloads / "naps"), "100000"], stdout=subprocess.DEVNULL)
    try:
        for tracepoint, words in (
            ("sched:nothing_here", "this kernel has no tracepoint 'sched:nothing_here'"),
            ("sched:sched_process_exec", "trace it for the whole system (--all)"),
        ):
            done = subprocess.run(
                [*LINEPROBE, "tracepoints", "trace", "--pid", str(program.pid), "-d", "1", tracepoint],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 1 and words in done.stderr, done.stderr
    finally:
        program.kill()
        program.wait()


CLOCK_NANOSLEEP = 230
"""x86-64's clock_nanosleep, which glibc's nanosleep() makes."""


def test_counting_by_a_field_in_the_kernel_matches_the_program(workloads: Path) -> None:
    """raw_syscalls:sys_enter counted by ``id``: each nap is one clock_nanosleep; and
    sched_switch by ``prev_state`` as a histogram puts the naps in the bucket of 1 (S)."""
    argv = [str(workloads / "naps"), str(NAPS), "wait"]
    program = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    counts = traced(
        {"tracepoint": "raw_syscalls:sys_enter", "field": "id", "histogram": False},
        program,
        [],
        "tracepoint-count",
    )
    by_id = {g.value: g.count for g in counts.groups}
    print(f"{counts.events} system calls: {sorted(by_id.items(), key=lambda kv: -kv[1])[:5]}")
    assert by_id[CLOCK_NANOSLEEP] == NAPS
    assert counts.events == sum(by_id.values()) and counts.lost == counts.unreadable == 0
    program = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    states = traced(
        {"tracepoint": "sched:sched_switch", "field": "prev_state", "histogram": True},
        program,
        [],
        "tracepoint-count",
    )
    assert dict((low, n) for low, _, n in states.buckets())[1] == NAPS  # bucket 1 holds the value 1


def test_a_field_that_cannot_be_counted_is_refused_in_words(workloads: Path) -> None:
    for tracepoint, field, words in (
        ("sched:sched_switch", "nope", "has no field 'nope' (its fields: prev_comm"),
        ("raw_syscalls:sys_enter", "args", "cannot be counted: count an integer field"),
    ):
        done = subprocess.run(
            [*LINEPROBE, "tracepoints", "count", "--all", "-d", "1", tracepoint, field],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 1 and words in done.stderr, done.stderr
    done = subprocess.run(
        [*LINEPROBE, "tracepoints", "count", "--all", "-d", "1", "--hist", "sched:sched_switch", "prev_comm"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "a histogram is of an integer field" in done.stderr, done.stderr
