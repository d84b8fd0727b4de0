"""`lineprobe stackcount`, end to end through the capture pipeline, on real block I/O.

Ground truth: the logger opens its files O_SYNC, so every `write` (APPEND-WRITE)
and `pwrite` (FLUSH-WRITE) issues block requests in its own system call
(`ext4_sync_file` ... `blk_mq_start_request`, see tests/privileged/test_stack_counter.py).
The counts come back as weighted stacks; resolved, the kernel path and the
logger's two writing lines must both be on them.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import LINEPROBE, WORKLOADS, marked_line
from tests.privileged.conftest import ThrowawayUser

pytestmark = pytest.mark.privileged

LOGGER_C = WORKLOADS / "logger" / "logger.c"
TRACEPOINT = "block:block_rq_issue"


def stackcount(*args: str, cwd: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LINEPROBE, "stackcount", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd
    )


def test_block_requests_lead_to_the_logger_lines_that_write(workloads: Path, tmp_path: Path) -> None:
    done = stackcount("--json", "-d", "3", TRACEPOINT, "--", str(workloads / "logger"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["event"] == TRACEPOINT and report["unit"] == "hits"
    assert report["samples"] > 50, report["samples"]  # ~190 requests a second here
    functions = {f["function"]: f["total"] for f in report["functions"]}
    for kernel_function in ("blk_mq_start_request", "ext4_sync_file", "do_syscall_64"):
        assert functions.get(kernel_function, 0) > 0.9 * report["samples"], (kernel_function, functions)
    totals = {s["line"]: s["total"] for s in report["lines"] if s["path"] == str(LOGGER_C)}
    append, flush = marked_line(LOGGER_C, "APPEND-WRITE"), marked_line(LOGGER_C, "FLUSH-WRITE")
    assert totals.get(append, 0) > 0 and totals.get(flush, 0) > 0, totals
    # Appends (one 4 KiB record every 10 ms) issue far more requests than the 2 Hz flush.
    assert totals[append] > totals[flush], totals
    # Unwound through glibc (no frame pointers) by the exemplars: nearly every hit reaches a line.
    assert totals[append] + totals[flush] >= 0.9 * report["samples"], (totals, report["samples"])


def test_every_task_is_counted_under_its_process_for_root(workloads: Path, spawn, tmp_path: Path) -> None:
    spawn(workloads / "logger", cwd=tmp_path)
    done = stackcount("--json", "--all", "-d", "2", TRACEPOINT, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["target"]["pid"] == 0
    functions = {f["function"]: f for f in report["functions"]}
    assert functions["logger"]["total"] > 0 and functions["logger"]["binary"] == "[process]", functions.keys()
    assert functions["blk_mq_start_request"]["total"] == report["samples"]


def test_every_task_is_root_only(throwaway_user: ThrowawayUser) -> None:
    done = throwaway_user.run(throwaway_user.lineprobe("stackcount", "--all", "-d", "1", TRACEPOINT))
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "tracing every task needs root" in done.stderr, done.stderr


def test_an_unknown_tracepoint_is_named(tmp_path: Path, spawn) -> None:
    sleeper = spawn("sleep", "30")
    done = stackcount("--pid", str(sleeper.pid), "block:no_such_event", cwd=tmp_path)
    assert done.returncode == 1
    assert "no tracepoint 'block:no_such_event'" in done.stderr, done.stderr
    done = stackcount("--pid", str(sleeper.pid), "not a tracepoint", cwd=tmp_path)
    assert done.returncode == 1
    assert "bad tracepoint name" in done.stderr, done.stderr
