"""The process list: a node running a workspace script is the workspace's, and says what a
profile of it would miss without --perf-prof, with its command line with the flags."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lineprobe.process_list import list_processes

from tests.conftest import ROOT, WORKLOADS, node


def _started(process: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
    """``process`` once it runs node: right after the fork, /proc shows the forking Python, and
    during the exec node's executable before its arguments."""
    deadline = time.monotonic() + 10
    while (
        os.path.basename(os.readlink(f"/proc/{process.pid}/exe")) not in ("node", "nodejs")
        or not Path(f"/proc/{process.pid}/cmdline").read_bytes()
    ):
        assert time.monotonic() < deadline, "node did not start"
        time.sleep(0.01)
    return process


@pytest.fixture
def plain_node() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([node(), "workloads/jit/hot.js", "30"], cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        yield _started(process)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_node_running_a_workspace_script_is_listed_with_what_it_would_miss(
    plain_node: subprocess.Popen[bytes],
) -> None:
    listed = {p.pid: p for p in list_processes([str(WORKLOADS)])}
    entry = listed[plain_node.pid]
    assert entry.in_workspace, "its script (a relative path, from its directory) is in the workspace"
    assert entry.runtime_hint is not None and "--perf-prof" in entry.runtime_hint
    assert entry.restart_command == [
        node(),
        "--perf-prof",
        "--perf-basic-prof",
        "--interpreted-frames-native-stack",
        "--log-code",
        "--log-source-code",
        "workloads/jit/hot.js",
        "30",
    ]
    assert entry.cwd == str(ROOT), "a restart runs where it ran: its script path is relative"
    stat = Path(f"/proc/{plain_node.pid}/stat").read_text()
    assert entry.start_time == int(stat.rsplit(")", 1)[1].split()[19]) and entry.start_time > 0
    elsewhere = {p.pid: p for p in list_processes(["/nonexistent"])}
    assert not elsewhere[plain_node.pid].in_workspace


def test_a_node_with_the_flags_has_nothing_to_add(tmp_path) -> None:
    process = subprocess.Popen(
        [node(), "--perf-prof", str(WORKLOADS / "jit" / "hot.js"), "30"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
    )
    try:
        _started(process)
        entry = {p.pid: p for p in list_processes([str(WORKLOADS)])}[process.pid]
        assert entry.in_workspace and entry.runtime_hint is None and entry.restart_command is None
        assert entry.cwd is None
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_an_empty_argument_is_kept_for_the_restart(tmp_path: Path) -> None:
    process = subprocess.Popen([node(), "-e", "setInterval(() => {}, 1000)", "", "x"], cwd=tmp_path)
    try:
        _started(process)
        # A starting node's /proc/PID/cmdline read empty once in CI after it had read whole (its
        # memory being set up): the listing is read again, for a while, until it names the command.
        deadline = time.monotonic() + 10
        while not (entry := {p.pid: p for p in list_processes()}[process.pid]).command_line:
            assert time.monotonic() < deadline, "the command line of node stayed empty"
            time.sleep(0.05)
        assert entry.command_line[-2:] == ["", "x"]
        assert entry.restart_command is not None and entry.restart_command[-2:] == ["", "x"]
    finally:
        process.terminate()
        process.wait(timeout=10)
