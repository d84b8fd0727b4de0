"""JIT-compiled code named from the runtime's perf map (Node's --perf-basic-prof), with real BPF."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import WORKLOADS, node
from tests.privileged.test_cli_profile import profile_json

pytestmark = pytest.mark.privileged


def test_node_jit_function_is_named_from_its_perf_map(spawn, tmp_path: Path) -> None:
    # Node's --perf-basic-prof also writes an isolate-*-v8.log into its working directory.
    target = spawn(node(), "--perf-basic-prof", WORKLOADS / "jit" / "hot.js", "30", wait_s=1.0, cwd=tmp_path)
    assert Path(f"/tmp/perf-{target.pid}.map").is_file(), "node wrote no perf map"
    report = profile_json("--pid", str(target.pid), "--duration", "2")
    jitted = [f for f in report["functions"] if f["binary"] == "[jit]"]
    hot = sum(f["self"] for f in jitted if "lineprobeHotSpin" in (f["function"] or ""))
    share = 100 * hot / max(report["samples"], 1)
    assert share >= 50, f"only {share:.1f}% of samples named lineprobeHotSpin: {jitted[:3]}"
    Path(f"/tmp/perf-{target.pid}.map").unlink(missing_ok=True)
