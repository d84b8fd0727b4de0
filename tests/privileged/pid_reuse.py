"""PID reuse through the service: an unprivileged caller traces its own process, the process
exits, and the kernel gives its PID to another user's process. Not one event of the newcomer
may reach the caller.

Each attempt traces the system calls of a process of the caller's that calls only ``getuid``
and ``clock_nanosleep`` (its start-up is over before the trace begins), kills it, reaps it and
makes the kernel give its PID to ``nobody``'s Python, whose every call (``execve``, ``openat``,
``mmap``, then ``getppid`` in a loop) is one the target never makes. Its PID is chosen by
writing the kernel's last PID (``ns_last_pid``) just before the fork. The moment varies, in
turn:

- *before the request*: the caller names a PID that is already the newcomer's (it must be
  refused: the newcomer is not the caller's);
- *during set-up*: the target dies right after the request is sent, while the agent pins it,
  checks access and attaches;
- *mid-trace*: the target dies once the agent reports it is sampling.

The system-call tracer is the test's subject because it selects its target by tgid in the
kernel (a number that is reused), as the file, USDT, allocation and tracepoint programs do; the
CPU sampler's perf events are bound to the task itself.
"""

from __future__ import annotations

import collections
import contextlib
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from lineprobe_agent import protocol

from tests.privileged.agent_service import ServiceConnection

NS_LAST_PID = Path("/proc/sys/kernel/ns_last_pid")
NOBODY = 65534
SYSTEM_PYTHON = "/usr/bin/python3"
TARGET = "import os, time\nwhile True:\n    os.getuid()\n    time.sleep(0.002)\n"
NEWCOMER = "import os\nwhile True:\n    os.getppid()\n"
TARGET_CALLS = frozenset({"getuid", "clock_nanosleep"})
MOMENTS = ("before the request", "during set-up", "mid-trace")


@dataclass
class Tally:
    attempts: int = 0
    reuses: int = 0
    """Attempts in which the newcomer got the target's PID (another process may take it first)."""
    by_moment: collections.Counter[str] = field(default_factory=collections.Counter)
    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    """How each reuse ended, by moment: refused (and why), or traced (the target's calls seen or
    not)."""
    newcomer_events: int = 0
    held_by_gate: int = 0
    """Events the gate met and did not record (``held_events``): after a reuse, the newcomer's.
    That they are met at all shows the newcomer ran while the trace's programs were attached."""
    ended_at_reuse: int = 0
    """Mid-trace reuses whose trace ended as its target did (the gate saw the target exit, or the
    newcomer forked under its number): the programs were attached when the PID changed hands,
    even when the agent stopped before the newcomer's first event."""
    newcomer_calls: collections.Counter[str] = field(default_factory=collections.Counter)

    def summary(self) -> str:
        moments = ", ".join(f"{moment}: {self.by_moment[moment]}" for moment in MOMENTS)
        outcomes = ", ".join(f"{what}: {count}" for what, count in self.outcomes.most_common())
        return (
            f"{self.reuses} PID reuses by another user's process in {self.attempts} attempts ({moments}); "
            f"outcomes: {outcomes}; events of the newcomer recorded: {self.newcomer_events}, "
            f"held back by the gate: {self.held_by_gate}, mid-trace ends at the reuse: {self.ended_at_reuse}"
            + (f" {dict(self.newcomer_calls)}" if self.newcomer_calls else "")
        )


def take_pid(
    pid: int, argv: list[str], uid: int | None = None, gid: int | None = None
) -> subprocess.Popen[bytes] | None:
    """Start ``argv`` (as ``uid``/``gid``, else as this process) as PID ``pid`` (free now), by
    setting the kernel's last PID just before it; None when another process took the number
    first."""
    NS_LAST_PID.write_text(str(pid - 1))
    process = _started(argv, uid, gid)
    if process.pid == pid:
        return process
    _end(process)
    return None


def _started(argv: list[str], uid: int | None = None, gid: int | None = None) -> subprocess.Popen[bytes]:
    if uid is None:
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    return subprocess.Popen(argv, user=uid, group=gid, extra_groups=[], stdout=subprocess.DEVNULL, cwd="/")


def _end(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()


def _target(uid: int, gid: int) -> subprocess.Popen[bytes]:
    """The caller's process, once its start-up calls are over (it has slept at least once)."""
    target = _started([SYSTEM_PYTHON, "-c", TARGET], uid, gid)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{target.pid}/wchan").read_text() == "hrtimer_nanosleep":
                return target
        time.sleep(0.005)
    _end(target)
    raise AssertionError("the target did not start")


def _answer(connection: ServiceConnection, request_id: int) -> protocol.AgentMessage:
    while True:
        message = connection.next_message()
        if not isinstance(message, protocol.Progress) and getattr(message, "id", request_id) == request_id:
            return message


def attempt(connection: ServiceConnection, number: int, uid: int, gid: int, tally: Tally) -> None:
    """One attempt; the newcomer's events, if any, are counted in ``tally``."""
    moment = MOMENTS[number % len(MOMENTS)]
    target = _target(uid, gid)
    pid = target.pid
    newcomer: subprocess.Popen[bytes] | None = None

    def replace() -> subprocess.Popen[bytes] | None:
        _end(target)  # reaped: its PID is free
        return take_pid(pid, [SYSTEM_PYTHON, "-c", NEWCOMER], NOBODY, NOBODY)

    request = protocol.SyscallsRequest(number, pid, duration_s=5.0, exemplars=False)
    try:
        tally.attempts += 1
        if moment == "before the request":
            newcomer = replace()
            connection.send(request)
        elif moment == "during set-up":
            connection.send(request)
            newcomer = replace()
        else:
            connection.send(request)
            while True:
                message = connection.next_message()
                if isinstance(message, protocol.Failure):
                    raise AssertionError(f"the caller's own process was refused: {message}")
                if isinstance(message, protocol.Progress) and message.phase == "sampling":
                    break
            newcomer = replace()
        answer = _answer(connection, number)
        if newcomer is None:
            return  # another process took the PID: not a reuse by the newcomer
        tally.reuses += 1
        tally.by_moment[moment] += 1
        if isinstance(answer, protocol.Failure):
            tally.outcomes[f"{moment}: refused ({answer.code})"] += 1
            return
        assert isinstance(answer, protocol.SyscallsDone), answer
        strangers = {
            count.name: count.count for count in answer.result.counts if count.name not in TARGET_CALLS
        }
        tally.newcomer_events += sum(strangers.values())
        tally.held_by_gate += answer.result.header.held_events
        if moment == "mid-trace" and answer.result.header.target_exited:
            tally.ended_at_reuse += 1
        tally.newcomer_calls.update(strangers)
        seen = any(count.name in TARGET_CALLS for count in answer.result.counts)
        tally.outcomes[
            f"{moment}: traced, " + ("the target's calls seen" if seen else "nothing recorded")
        ] += 1
    finally:
        _end(target)
        if newcomer is not None:
            _end(newcomer)


def run_attempts(
    connection: ServiceConnection, reuses: int, uid: int, gid: int, progress: bool = False
) -> Tally:
    """Attempts until ``reuses`` PID reuses happened (at most half as many again in all)."""
    connection.send(protocol.PrepareRequest(0, ["syscalls"]))
    prepared = _answer(connection, 0)
    assert isinstance(prepared, protocol.Prepared), prepared
    tally = Tally()
    number = 1
    while tally.reuses < reuses and tally.attempts < reuses * 3 // 2:
        attempt(connection, number, uid, gid, tally)
        number += 1
        if progress and tally.attempts % 100 == 0:
            print(f"  {tally.summary()}", file=sys.stderr, flush=True)
    return tally
