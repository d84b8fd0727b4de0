"""The process list: a node running a workspace script is the workspace's, and says what a
profile of it would miss without --perf-prof, with its command line with the flags."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from lineprobe.process_list import list_processes

from tests.conftest import ROOT, WORKLOADS, node


@pytest.fixture
def plain_node() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([node(), "workloads/jit/hot.js", "30"], cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        yield process
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
        "workloads/jit/hot.js",
        "30",
    ]
    assert entry.cwd == str(ROOT), "a restart runs where it ran: its script path is relative"
    elsewhere = {p.pid: p for p in list_processes(["/nonexistent"])}
    assert not elsewhere[plain_node.pid].in_workspace


def test_a_node_with_the_flags_has_nothing_to_add(tmp_path) -> None:
    process = subprocess.Popen(
        [node(), "--perf-prof", str(WORKLOADS / "jit" / "hot.js"), "30"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
    )
    try:
        entry = {p.pid: p for p in list_processes([str(WORKLOADS)])}[process.pid]
        assert entry.in_workspace and entry.runtime_hint is None and entry.restart_command is None
        assert entry.cwd is None
    finally:
        process.terminate()
        process.wait(timeout=10)
