"""Node's JavaScript on its source lines, with real BPF: the jitdump V8 writes under
``--perf-prof`` puts each JIT sample on the line that ran, attached by PID (the service under
load, started as lineprobe says), launched (lineprobe adds the flags), in the CLI and as a
diagnostic in the ``.js`` file; a node started without the flags is told what to restart with."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lineprobe.symbolization import runtime_hints
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.conftest import BUILD, WORKLOADS, marked_line, node
from tests.privileged.test_cli_profile import profile_json

pytestmark = pytest.mark.privileged

SERVICE_JS = WORKLOADS / "node_service" / "service.js"
LOAD_JS = WORKLOADS / "node_service" / "load.js"
HOT_JS = WORKLOADS / "jit" / "hot.js"
HOT_TS = WORKLOADS / "jit_ts" / "hot.ts"
HOT_TS_JS = BUILD / "jit_ts" / "hot.js"
"""hot.ts as tsc compiled it, with hot.js.map beside it (workloads/Makefile)."""
NODE_FLAGS = list(runtime_hints.NODE_FLAGS)
"""What lineprobe tells a user to start node with (symbolization/runtime_hints.py)."""


def _hottest(report: dict) -> dict:
    return max(report["lines"], key=lambda line: line["self"])


@pytest.fixture
def service_under_load(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """service.js started with the flags lineprobe asks for, four requests always in flight."""
    service = subprocess.Popen(
        [node(), *NODE_FLAGS, str(SERVICE_JS), "0"], cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    load = None
    try:
        assert service.stdout is not None
        listening = re.fullmatch(r"listening (\d+)\n", service.stdout.readline())
        assert listening, "the service did not start"
        load = subprocess.Popen(
            [node(), str(LOAD_JS), listening[1], "0", "4"], stdout=subprocess.PIPE, text=True
        )
        time.sleep(2)  # TurboFan has compiled the handler by now
        assert load.poll() is None, "the load generator stopped"
        yield service
    finally:
        for process in (load, service):
            if process is not None:
                process.terminate()
                process.wait(timeout=10)
        Path(f"/tmp/perf-{service.pid}.map").unlink(missing_ok=True)  # --perf-basic-prof's, ours to clear


def test_the_node_service_s_hot_loop_line_is_the_hottest_attached_by_pid(
    service_under_load: subprocess.Popen[str], tmp_path: Path
) -> None:
    report = profile_json("--pid", str(service_under_load.pid), "--duration", "3")
    hottest = _hottest(report)
    assert (hottest["path"], hottest["line"]) == (str(SERVICE_JS), marked_line(SERVICE_JS, "HASH-LOOP")), (
        hottest
    )
    assert hottest["self_percent"] > 40, hottest
    # TurboFan inlined digest into the handler: V8's log (--log-code --log-source-code) names it,
    # an inlined frame under the handler's call.
    assert (hottest["function"], hottest["inlined"]) == ("digest", True), hottest
    calls = next(
        line
        for line in report["lines"]
        if (line["path"], line["line"]) == (str(SERVICE_JS), marked_line(SERVICE_JS, "CALLS-DIGEST"))
    )
    assert calls["function"] == "(anonymous)" and calls["total_percent"] >= hottest["self_percent"], calls
    in_js = sum(line["self"] for line in report["lines"] if line["path"].endswith(".js"))
    assert in_js > 0.6 * report["samples"], "most samples are the service's JavaScript, on its lines"
    assert not any("--perf-prof" in w or "V8 log" in w for w in report["warnings"]), report["warnings"]
    assert (tmp_path / f"jit-{service_under_load.pid}.dump").is_file(), (
        "a node started by the user keeps its files"
    )


async def test_the_hot_loop_line_is_a_diagnostic_in_the_js_file(
    client: LanguageClient, service_under_load: subprocess.Popen[str]
) -> None:
    request = {"pid": service_under_load.pid, "durationMs": 3000}
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="lineprobe.profile", arguments=[request])
    )
    assert result["ok"] is True, result
    diagnostics = client.diagnostics[SERVICE_JS.as_uri()]
    hottest = max(diagnostics, key=lambda d: d.data["self_percent"])
    assert hottest.range.start.line == marked_line(SERVICE_JS, "HASH-LOOP") - 1
    assert hottest.severity == types.DiagnosticSeverity.Information and "%" in hottest.message
    assert "in digest" in hottest.message, hottest.message
    related = [(r.location.uri, r.location.range.start.line) for r in hottest.related_information or []]
    assert (SERVICE_JS.as_uri(), marked_line(SERVICE_JS, "CALLS-DIGEST") - 1) in related, related


def test_a_launched_node_gets_the_flags_and_leaves_no_files(tmp_path: Path) -> None:
    report = profile_json("--", node(), str(HOT_JS), "2", cwd=tmp_path)
    hottest = _hottest(report)
    assert (hottest["path"], hottest["line"]) == (str(HOT_JS), marked_line(HOT_JS, "SPIN-LINE")), hottest
    assert hottest["function"] == "lineprobeHotSpin" and hottest["self_percent"] > 60
    assert list(tmp_path.iterdir()) == [], "the jitdump and V8's log, written for lineprobe, are removed"
    assert not Path(f"/tmp/perf-{report['target']['pid']}.map").exists(), "and the perf map"


def test_typescript_run_as_javascript_is_on_its_typescript_lines(tmp_path: Path) -> None:
    """node runs tsc's hot.js; the samples go back to hot.ts through hot.js.map, where the hot
    line is 10 lines further down than in the JavaScript (erased types move them)."""
    spin_js, spin_ts = marked_line(HOT_TS_JS, "SPIN-LINE"), marked_line(HOT_TS, "SPIN-LINE")
    assert spin_js != spin_ts, "the workload's lines must differ for this to show anything"
    report = profile_json("--", node(), str(HOT_TS_JS), "2", cwd=tmp_path)
    hottest = _hottest(report)
    assert (hottest["path"], hottest["line"]) == (str(HOT_TS), spin_ts), hottest
    assert hottest["function"] == "lineprobeTypedSpin" and hottest["self_percent"] > 60, hottest
    in_ts = sum(line["self"] for line in report["lines"] if line["path"] == str(HOT_TS))
    in_js = sum(line["self"] for line in report["lines"] if line["path"] == str(HOT_TS_JS))
    assert in_ts > 0.6 * report["samples"] and in_js < 0.02 * report["samples"], (in_ts, in_js)
    assert not any("source map" in warning for warning in report["warnings"]), report["warnings"]


async def test_the_typescript_hot_line_is_a_diagnostic_in_the_ts_file(client: LanguageClient) -> None:
    request = {"command": [node(), str(HOT_TS_JS), "3"], "durationMs": 2500}
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="lineprobe.profile", arguments=[request])
    )
    assert result["ok"] is True, result
    diagnostics = client.diagnostics[HOT_TS.as_uri()]
    hottest = max(diagnostics, key=lambda d: d.data["self_percent"])
    assert hottest.range.start.line == marked_line(HOT_TS, "SPIN-LINE") - 1
    assert HOT_TS_JS.as_uri() not in client.diagnostics or not client.diagnostics[HOT_TS_JS.as_uri()]


def test_a_node_started_without_flags_is_told_what_to_restart_with(spawn, tmp_path: Path) -> None:
    target = spawn(node(), HOT_JS, "30", wait_s=1.0, cwd=tmp_path)
    report = profile_json("--pid", str(target.pid), "--duration", "1")
    hint = next((w for w in report["warnings"] if "JavaScript of node" in w), None)
    assert hint is not None and f"node {' '.join(NODE_FLAGS)}" in hint, report["warnings"]


def test_code_compiled_last_is_on_its_lines_from_v8_s_log(spawn, tmp_path: Path) -> None:
    """hot.ts's loop, compiled on-stack (OSR) a couple of seconds in, is the last code V8 writes
    to its jitdump, through a 2 MB buffer: attached then, the jitdump does not hold it yet, and
    V8's log, written a line at a time, does (before the log was read: about 20% of samples on
    the hot line, the rest on the perf map's name without a line)."""
    target = spawn(node(), *NODE_FLAGS, HOT_TS_JS, "30", wait_s=2.5, cwd=tmp_path)
    try:
        report = profile_json("--pid", str(target.pid), "--duration", "1")
    finally:
        Path(f"/tmp/perf-{target.pid}.map").unlink(missing_ok=True)
    on_spin = sum(
        line["self"]
        for line in report["lines"]
        if (line["path"], line["line"]) == (str(HOT_TS), marked_line(HOT_TS, "SPIN-LINE"))
    )
    assert on_spin > 0.5 * report["samples"], sorted(report["lines"], key=lambda line: -line["self"])[:4]


def test_a_node_with_a_jitdump_and_no_v8_log_is_told_what_it_misses(spawn, tmp_path: Path) -> None:
    """Started with --perf-prof alone (lines, from the jitdump), node writes no V8 log: the
    functions TurboFan inlined stay unnamed, and the profile says which flags would name them."""
    target = spawn(node(), "--perf-prof", HOT_JS, "30", wait_s=1.0, cwd=tmp_path)
    report = profile_json("--pid", str(target.pid), "--duration", "1")
    assert any(line["path"] == str(HOT_JS) for line in report["lines"]), "lines from the jitdump"
    hint = next((w for w in report["warnings"] if "writes no V8 log" in w), "")
    assert "--log-code --log-source-code" in hint, report["warnings"]
