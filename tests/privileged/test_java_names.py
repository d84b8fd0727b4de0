"""A JVM's compiled methods named with real BPF: attached, lineprobe asks the JVM for its perf
map (``jcmd PID Compiler.perfmap``) when the window ends; launched, java gets the flags that
write it at exit. Either way no perf map of lineprobe's making is left in /tmp."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.privileged.test_cli_profile import profile_json

pytestmark = pytest.mark.privileged

SLOWY = ["-cp", "workloads/build/slowy", "slowy.App"]


def java() -> str:
    found = shutil.which("java")
    assert found, "java missing: `make setup` installs openjdk-17-jdk-headless"
    return found


def test_a_running_jvm_s_methods_are_named_without_any_flag(spawn, workloads: Path) -> None:
    target = spawn(java(), "-XX:-Inline", *SLOWY, wait_s=3.0, cwd=workloads.parents[1])
    perf_map = Path(f"/tmp/perf-{target.pid}.map")
    assert not perf_map.exists()
    report = profile_json("--pid", str(target.pid), "--duration", "2")
    top = report["functions"][0]
    assert top["function"] == "boolean slowy.App.isDivisible(int, int)" and top["self_percent"] > 40, top
    assert not any("nothing names" in w for w in report["warnings"]), report["warnings"]
    assert not perf_map.exists(), "the perf map lineprobe asked for is removed after resolution"


def test_a_launched_jvm_gets_the_flags_and_its_methods_are_named(workloads: Path, tmp_path: Path) -> None:
    app = str(workloads / "slowy")
    report = profile_json(
        "--duration", "4", "--", java(), "-XX:-Inline", "-cp", app, "slowy.App", cwd=tmp_path
    )
    named = {f["function"]: f["self_percent"] for f in report["functions"]}
    assert named.get("boolean slowy.App.isDivisible(int, int)", 0) > 30, report["functions"][:3]
    assert not Path(f"/tmp/perf-{report['target']['pid']}.map").exists(), "written for lineprobe, removed"
