"""Stale probe events in tracefs, removed when the service starts.

bcc attaches uprobes through the kernel's perf PMU, which leaves nothing in tracefs and whose
probes go with their file descriptors. Where that PMU is refused, bcc falls back to writing an
event into ``uprobe_events`` (``kprobe_events``) named ``..._bcc_<PID>`` after the process
that made it, and removes it at exit: a process killed with SIGKILL leaves it behind, and the
next attach of the same probe by the same PID fails with EEXIST. The sweep removes the events
of bcc processes that no longer run. An event still in use (a perf event holds it) cannot be
removed: the kernel says EBUSY and it stays.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

TRACEFS = Path("/sys/kernel/tracing")
PROBE_FILES = ("uprobe_events", "kprobe_events")
_BCC_EVENT = re.compile(r"^[pr]:(?P<event>[\w./-]+_bcc_(?P<pid>\d+))\s")


@dataclass(frozen=True)
class Sweep:
    removed: list[str]
    kept: list[str]
    """Stale events the kernel would not remove (in use), with its reason."""

    def report(self) -> list[str]:
        """What a log says of it (nothing when there was nothing stale)."""
        lines = []
        if self.removed:
            lines.append(
                f"removed {len(self.removed)} stale probe events from tracefs: {', '.join(self.removed)}"
            )
        if self.kept:
            lines.append(f"stale probe events the kernel keeps (in use): {', '.join(self.kept)}")
        return lines


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_command(events: Path, command: str) -> None:
    """One command to a tracefs probe file, in one write. Opened for appending (truncating would
    remove every probe) but not through Python's append mode, whose seek to the end tracefs
    refuses (EINVAL)."""
    fd = os.open(events, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, f"{command}\n".encode())
    finally:
        os.close(fd)


def sweep_stale_probes(tracefs: Path = TRACEFS) -> Sweep:
    """Remove every bcc probe event whose process has exited."""
    removed: list[str] = []
    kept: list[str] = []
    for name in PROBE_FILES:
        events = tracefs / name
        try:
            lines = events.read_text().splitlines()
        except OSError:
            continue  # this kind of probe is not built into the kernel
        for line in lines:
            match = _BCC_EVENT.match(line)
            if match is None or _running(int(match["pid"])):
                continue
            try:
                write_command(events, f"-:{match['event']}")
            except OSError as exc:
                kept.append(f"{match['event']} ({exc.strerror})")
            else:
                removed.append(match["event"])
    return Sweep(removed, kept)
