"""Every recording the LSP suite replays still decodes under the wire schema: a schema change
that a recording predates fails here, by name, with what to run, not deep in an LSP test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lineprobe.capture.agent_errors import AgentError
from lineprobe.capture.wire.convert import WireSession

RECORDINGS = sorted((Path(__file__).resolve().parents[1] / "recordings").glob("*.jsonl"))


@pytest.mark.parametrize("recording", RECORDINGS, ids=lambda path: path.stem)
def test_the_recording_decodes_under_todays_schema(recording: Path) -> None:
    wire = WireSession()
    lines = recording.read_text().splitlines()[1:]
    answers = 0
    for line in lines:
        entry = json.loads(line)
        if entry.get("from") != "agent":
            continue
        try:
            wire.decode(json.dumps(entry["message"]).encode())
        except AgentError as exc:
            if exc.code == "internal":
                pytest.fail(
                    f"{recording.name} no longer decodes ({exc.message[:200]}): record it again, "
                    f"as root: .venv/bin/python tests/recordings/record.py {recording.stem}"
                )
        answers += 1
    assert answers > 0


def test_a_recording_named_by_a_relative_path_resolves_its_archived_binaries() -> None:
    """``LINEPROBE_REPLAY=tests/recordings/X.jsonl`` from the checkout, as the README shows it:
    the archived binary is found and named as with the absolute path."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "LINEPROBE_REPLAY": "tests/recordings/offcpu-blocker.jsonl"}
    done = subprocess.run(
        [sys.executable, "-m", "lineprobe.cli", "offcpu", "--pid", "1", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    functions = {f["function"] for f in json.loads(done.stdout)["functions"]}
    assert "nap" in functions and not any(name.startswith("[unknown in") for name in functions), functions
