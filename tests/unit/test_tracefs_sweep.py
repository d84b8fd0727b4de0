"""The sweep of stale bcc probe events (lineprobe_agent.tracefs_sweep), on a stand-in for
tracefs: which events it asks the kernel to remove. (tests/privileged/test_service.py has the
service remove a real one.)"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from lineprobe_agent.tracefs_sweep import sweep_stale_probes


def _exited_pid() -> int:
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


def test_only_events_of_exited_bcc_processes_are_removed(tmp_path: Path) -> None:
    dead, alive = _exited_pid(), os.getpid()
    listed = [
        f"p:uprobes/p__bin_true_0x1000_bcc_{dead} /bin/true:0x0000000000001000",
        f"r:uprobes/r__bin_true_0x2000_bcc_{dead} /bin/true:0x0000000000002000",
        f"p:uprobes/p__bin_true_0x1000_bcc_{alive} /bin/true:0x0000000000001000",
        "p:uprobes/someone_elses /bin/true:0x0000000000001000",
    ]
    (tmp_path / "uprobe_events").write_text("\n".join(listed) + "\n")
    sweep = sweep_stale_probes(tmp_path)
    assert sweep.removed == [
        f"uprobes/p__bin_true_0x1000_bcc_{dead}",
        f"uprobes/r__bin_true_0x2000_bcc_{dead}",
    ]
    written = (tmp_path / "uprobe_events").read_text().splitlines()[len(listed) :]
    assert written == [f"-:uprobes/p__bin_true_0x1000_bcc_{dead}", f"-:uprobes/r__bin_true_0x2000_bcc_{dead}"]
    assert sweep.report() == [f"removed 2 stale probe events from tracefs: {', '.join(sweep.removed)}"]


def test_a_kernel_without_the_files_has_nothing_to_sweep(tmp_path: Path) -> None:
    sweep = sweep_stale_probes(tmp_path)
    assert (sweep.removed, sweep.kept, sweep.report()) == ([], [], [])
