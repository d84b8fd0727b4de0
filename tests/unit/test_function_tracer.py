"""The function tracers of lab 1: refused here under lockdown (the recorded capabilities of this
machine kind), with what replaces them; where a kernel allows them, the tracefs steps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lineprobe.capture.function_tracer import function_tracer_advice
from lineprobe.capture.progress import Capability, CapabilityReport

ROOT = Path(__file__).resolve().parents[2]


def test_this_kernel_refuses_them_and_the_cli_says_what_replaces_them() -> None:
    env = {**os.environ, "LINEPROBE_REPLAY": str(ROOT / "tests/recordings/capabilities.jsonl")}
    done = subprocess.run(
        [sys.executable, "-m", "lineprobe.cli", "tracepoints", "functions", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["available"] is False and "lockdown" in answer["detail"]
    assert answer["how"] == []
    uses = " ".join(r["use"] for r in answer["replacements"])
    assert "lineprobe tracepoints" in uses and "offcpu --wall-clock" in uses


def test_a_kernel_that_allows_them_gets_the_tracefs_steps_in_an_instance_of_its_own() -> None:
    report = CapabilityReport("6.1", (Capability("function-tracer", True, "control files writable"),), (), ())
    advice = function_tracer_advice(report)
    assert advice.available and any("function_graph > " in step for step in advice.how)
    assert all("/instances/" in step for step in advice.how)  # never the global trace buffer
    unknown = function_tracer_advice(CapabilityReport("6.1", (), (), ()))
    assert not unknown.available and unknown.detail == "the agent did not check it"
