"""Stack counts at a tracepoint (the agent's StackCounter) against the logger's real block I/O.

Ground truth on this kind of machine (ext4 on virtio-blk, mq-deadline): the
logger's O_SYNC ``write`` and ``pwrite`` reach ``ext4_sync_file``, which writes
the data and the inode back and issues the requests in the logger's own task
context (``blk_finish_plug``/``__submit_bio`` -> ``blk_mq_start_request``), so
``block:block_rq_issue`` fires inside the system call, with the logger's user
stack below it. Requests requeued by the driver are issued again by a
``kworker/*H`` thread (``blk_mq_requeue_work``): those count for no process but
the kernel thread, as they do for bcc's stackcount.

The logger is held before its exec while every counter attaches, and killed
and reaped before any detaches, so that each counter sees exactly the same
events: the counts must agree with bcc's ``stackcount-bpfcc`` to the event.
Its files are read into the page cache first: a file evicted from it (seen in
CI) is read in the exec itself, before the gate opens at ``sched_process_exec``
(bcc's PID filter counts those reads for the logger, the gate for no one), and
in page faults at ``_start`` and in the loader, outside any write.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from lineprobe.symbolization.resolver import AddressSpace, ImageCache, MappedFile
from lineprobe.unwinding.stack_unwinder import StackCopy, UserRegisters, unwind
from lineprobe_agent.cpu_profiler import name_kernel_address
from lineprobe_agent.kernel_source import export_for_bcc, find_kernel_headers
from lineprobe_agent.proc_maps import read_maps
from lineprobe_agent.stack_counter import (
    CollectedStackCounts,
    StackCounter,
    UnknownTracepoint,
    tracepoint_format,
)
from lineprobe_agent.target import read_build_id

from tests.conftest import WORKLOADS, have, marked_line

pytestmark = pytest.mark.privileged

LOGGER_C = WORKLOADS / "logger" / "logger.c"
TRACEPOINT = "block:block_rq_issue"
SECONDS = 3.0
STACKCOUNT = "stackcount-bpfcc"


@pytest.fixture(scope="module")
def counters() -> Iterator[tuple[StackCounter, StackCounter]]:
    """Two compiled programs: one for the target, one system-wide (as one agent would hold one)."""
    export_for_bcc(find_kernel_headers())
    made: list[StackCounter] = []
    try:
        made.append(StackCounter())
        made.append(StackCounter())
        yield made[0], made[1]
    finally:
        for counter in made:
            counter.close()


@dataclass
class Run:
    logger_pid: int
    dd_pid: int
    target: CollectedStackCounts
    system: CollectedStackCounts
    mappings: list[MappedFile]
    reference_total: int | None
    reference_output: str


def held(argv: list[str]) -> subprocess.Popen[bytes]:
    """``argv`` with its PID known before it runs: a shell that execs it once told to.

    Returned once the shell waits in ``read``: its own exec (which Popen may return
    before the kernel finishes) is over, so a gate opened now counts only the next one.
    """
    shell = subprocess.Popen(
        ["sh", "-c", 'read -r _ && exec "$@"', "sh", *argv], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            state = Path(f"/proc/{shell.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if state == "S" and Path(f"/proc/{shell.pid}/wchan").read_text() != "0":
                return shell
        time.sleep(0.01)
    end(shell)
    pytest.fail("the holding shell never waited for its go")


def cached(paths: list[Path]) -> None:
    """Each of ``paths`` read whole, so that its pages are in the page cache."""
    for path in paths:
        with path.open("rb") as file:
            while file.read(1 << 20):
                pass


def release(shell: subprocess.Popen[bytes]) -> None:
    assert shell.stdin is not None
    shell.stdin.write(b"go\n")
    shell.stdin.close()


def ldd(program: Path) -> list[str]:
    done = subprocess.run(["ldd", str(program)], capture_output=True, text=True, check=True)
    return done.stdout.splitlines()


def read_mappings(pid: int) -> list[MappedFile]:
    """The logger's executable mappings, as the agent snapshots them."""
    return [
        MappedFile(m.start, m.end, m.offset, m.path, read_build_id(m.path) if m.inode else None)
        for m in read_maps(pid)
        if m.executable and m.path.startswith("/")
    ]


def start_reference(pid: int) -> subprocess.Popen[str]:
    """bcc's stackcount on the same tracepoint and PID; returns once it has attached."""
    reference = subprocess.Popen(
        [STACKCOUNT, "-p", str(pid), f"t:{TRACEPOINT}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert reference.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([reference.stdout], [], [], 1.0)
        if ready:
            line = reference.stdout.readline()
            if line.startswith("Tracing"):
                return reference
            if not line:
                break
    reference.kill()
    pytest.fail(f"{STACKCOUNT} did not start: {reference.communicate()[0]}")


def reference_total(output: str) -> int:
    """Events in stackcount's output: each stack ends with its count on a line of its own."""
    return sum(int(m.group(1)) for m in re.finditer(r"^\s+(\d+)$", output, re.MULTILINE))


def end(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()


@pytest.fixture(scope="module")
def run(
    counters: tuple[StackCounter, StackCounter], workloads: Path, tmp_path_factory: pytest.TempPathFactory
) -> Run:
    """The logger's block requests for a few seconds, counted three ways, next to a `dd` writer."""
    target_counter, system_counter = counters
    directory = tmp_path_factory.mktemp("logger")
    logger = held([str(workloads / "logger"), str(directory)])
    dd = None
    reference = None
    try:
        target_counter.gate.trusted = True  # root: the exec does not shut the gate
        target_counter.gate.start_at_exec = 1  # the shell before its exec is not the logger
        target_counter.start(logger.pid, TRACEPOINT, exemplars=True)
        system_counter.start(None, TRACEPOINT, exemplars=False)
        reference = start_reference(logger.pid) if have(STACKCOUNT) else None
        dd = subprocess.Popen(
            ["dd", "if=/dev/zero", f"of={directory / 'dd.data'}", "bs=4k", "count=1000000", "oflag=sync"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        cached([workloads / "logger", Path("/lib64/ld-linux-x86-64.so.2"), Path("/etc/ld.so.cache")])
        cached([Path(line.split()[2]) for line in ldd(workloads / "logger") if "=> /" in line])
        release(logger)
        mappings: list[MappedFile] = []
        deadline = time.monotonic() + SECONDS
        while time.monotonic() < deadline:
            target_counter.poll(0.1)
            system_counter.poll(0)
            if not mappings and target_counter.gate.exec_seen:
                time.sleep(0.2)  # the loader maps libc
                mappings = read_mappings(logger.pid)
        if not mappings:
            mappings = read_mappings(logger.pid)
        end(logger)  # its last requests are issued and counted before any counter detaches
        end(dd)
        output = ""
        if reference is not None:
            reference.send_signal(signal.SIGINT)
            output = reference.communicate(timeout=30)[0]
        target_counter.stop()
        system_counter.stop()
        return Run(
            logger.pid,
            dd.pid,
            target_counter.collect(name_kernel_address),
            system_counter.collect(name_kernel_address),
            mappings,
            reference_total(output) if reference is not None else None,
            output,
        )
    finally:
        for process in (logger, dd):
            if process is not None:
                end(process)
        if reference is not None and reference.poll() is None:
            reference.kill()
            reference.wait()
        with contextlib.suppress(Exception):
            target_counter.stop()
        with contextlib.suppress(Exception):
            system_counter.stop()


def test_tracepoint_names_are_checked(counters: tuple[StackCounter, StackCounter]) -> None:
    assert tracepoint_format("block:block_rq_issue").name == "block_rq_issue"
    for bad in ("block_rq_issue", "block:block_rq_issue:x", "block:../../x", "", "a b:c"):
        with pytest.raises(UnknownTracepoint, match="bad tracepoint name"):
            tracepoint_format(bad)
    with pytest.raises(UnknownTracepoint, match="no tracepoint 'block:no_such_event'"):
        counters[0].start(os.getpid(), "block:no_such_event", exemplars=False)
    counters[0].stop()  # nothing was attached: stopping is harmless


def test_the_logger_issues_block_requests_in_its_own_system_calls(run: Run) -> None:
    counted = run.target
    assert counted.counters.samples > 0
    assert counted.counters.lost == 0
    assert sum(s.count for s in counted.stacks) == counted.counters.samples
    assert set(counted.tgids) == {run.logger_pid}
    # A stack whose hash bucket holds another stack is counted as a collision, its event kept
    # under a key without that stack: rare (a few dozen stacks in 16384 buckets), never silent.
    unnamed = sum(s.count for s in counted.stacks if not s.kernel)
    assert unnamed <= counted.counters.kernel_stack_missing + counted.counters.stack_collisions
    assert counted.counters.stack_collisions <= counted.counters.samples // 20, counted.counters
    for stack in (s for s in counted.stacks if s.kernel):
        # The tracepoint's own site, then the path from the logger's system call.
        assert stack.kernel[0] == "blk_mq_start_request", stack.kernel
        assert "ext4_sync_file" in stack.kernel, stack.kernel
        assert stack.kernel[-1].startswith("entry_SYSCALL_64"), stack.kernel
    calls = {"ksys_write": 0, "__x64_sys_pwrite64": 0}
    for stack in counted.stacks:
        for call in calls:
            if call in stack.kernel:
                calls[call] += stack.count
    assert calls["ksys_write"] > 0 and calls["__x64_sys_pwrite64"] > 0, calls
    # The data and the inode are both written back from fsync's path inside the write.
    kernel = {frame for stack in counted.stacks for frame in stack.kernel}
    assert {"ext4_writepages", "ext4_write_inode", "file_write_and_wait_range"} <= kernel, kernel


def test_user_stacks_start_in_the_libc_write_wrappers(run: Run) -> None:
    space = AddressSpace(run.mappings, ImageCache())
    leaves = set()
    for stack in run.target.stacks:
        assert stack.user  # the leaf is kept even when the stack is not
        if stack.user_stack_missing:  # its user stack collided in the stack map (counted)
            assert run.target.counters.stack_collisions > 0
        frame = space.resolve_stack(stack.user[:1])[-1]
        assert frame.binary.endswith("/libc.so.6"), frame
        leaves.add(frame.function)
    # glibc 2.36 with its debug file names them write and __libc_pwrite (bcc: __GI_write, __pwrite64).
    assert any(name in {"write", "__libc_write", "__GI___libc_write"} for name in leaves), leaves
    assert any(name and "pwrite" in name for name in leaves), leaves


def test_exemplars_unwind_to_the_logger_lines_that_write(run: Run) -> None:
    exemplars = run.target.exemplars
    assert exemplars and run.target.counters.exemplars_lost == 0
    assert all(0 <= e.stack < len(run.target.stacks) for e in exemplars)
    space = AddressSpace(run.mappings, ImageCache())
    lines = set()
    for exemplar in exemplars:
        unwound = unwind(
            space, UserRegisters(exemplar.ip, exemplar.sp, exemplar.bp), StackCopy(exemplar.sp, exemplar.data)
        )
        for frame in space.resolve_stack(unwound.addresses):
            if frame.path and frame.path.endswith("logger/logger.c"):
                lines.add(frame.line)
    # The frame-pointer walk loses these callers (glibc has no frame pointers); CFI finds them.
    assert marked_line(LOGGER_C, "APPEND-WRITE") in lines, lines
    assert marked_line(LOGGER_C, "FLUSH-WRITE") in lines, lines


def test_pid_mode_counts_no_other_process(run: Run) -> None:
    system = run.system
    by_process: dict[int, int] = {}
    for tgid, stack in zip(system.tgids, system.stacks, strict=True):
        by_process[tgid] = by_process.get(tgid, 0) + stack.count
    # The dd writer really issued requests meanwhile, system-wide...
    assert by_process.get(run.dd_pid, 0) > 0, (by_process, system.comms)
    assert system.comms.get(run.dd_pid) == "dd"
    # ...and the logger's are the same events as in pid mode, which has none of dd's.
    assert by_process.get(run.logger_pid) == run.target.counters.samples
    assert run.dd_pid not in run.target.tgids
    assert sum(by_process.values()) == system.counters.samples


def test_counts_agree_with_bcc_stackcount(run: Run) -> None:
    if run.reference_total is None:
        pytest.skip(f"{STACKCOUNT} is missing: `apt-get install bpfcc-tools` (make setup installs it)")
    print(f"lineprobe {run.target.counters.samples} events, {STACKCOUNT} {run.reference_total}")
    assert run.reference_total == run.target.counters.samples, run.reference_output


def test_the_gates_own_tracepoint_can_be_counted_and_the_gate_keeps_it(
    counters: tuple[StackCounter, StackCounter],
) -> None:
    """sched:sched_process_exec is also where the gate learns of execs: counting stacks there
    (bcc keeps one descriptor per tracepoint name) must leave the gate's attachment working for
    the trace, and both detached after it."""
    counter = counters[0]
    name = b"sched:sched_process_exec"
    for _ in range(2):
        shell = held(["sleep", "0.2"])
        try:
            counter.gate.trusted, counter.gate.start_at_exec = True, 0
            counter.start(shell.pid, "sched:sched_process_exec", exemplars=True)
            gate_fd = counter._displaced_fd
            assert gate_fd is not None and counter._bpf.tracepoint_fds[name] != gate_fd
            os.fstat(gate_fd)  # the gate's own attachment, set aside while the trace has the name
            release(shell)
            shell.wait(10)
            counter.poll(0.2)
            counter.stop()
        finally:
            end(shell)
        counted = counter.collect(name_kernel_address)
        assert counter.gate.exec_seen  # the gate's program saw the exec too
        assert counted.counters.samples == 1, [
            (s.count, s.kernel[:4], [hex(a) for a in s.user]) for s in counted.stacks
        ]
        assert "bprm_execve" in counted.stacks[0].kernel, counted.stacks[0].kernel
        assert name not in counter._bpf.tracepoint_fds, "both attachments end with the trace"
