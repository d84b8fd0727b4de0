"""A saved capture is one file that opens anywhere: with the traced program deleted and the copies
kept beside the capture gone too (what arrives on another machine is the file alone), system
calls and allocations still unwind and resolve to the same lines, from the frames and unwinding
rules the capture kept."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import LINEPROBE, WORKLOADS, marked_line

pytestmark = pytest.mark.privileged

SERVER_C = WORKLOADS / "server" / "server.c"
WORDCOUNT_CC = WORKLOADS / "wordcount" / "wordcount.cc"


def _run_json(*args: str, cwd: Path) -> dict:
    done = subprocess.run([*LINEPROBE, *args], capture_output=True, text=True, timeout=180, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _copy(workloads: Path, name: str, folder: Path) -> Path:
    program = folder / name
    shutil.copy2(workloads / name, program)
    return program


def _alone(folder: Path, capture: str, program: Path) -> None:
    """Leave the capture file alone: the program and the copies beside the capture deleted."""
    program.unlink()
    shutil.rmtree(folder / f"{capture}.binaries")


def _sites(report: dict, key: str) -> list[tuple]:
    return [
        (entry["site"]["path"], entry["site"]["line"], entry["site"]["function"]) if entry["site"] else None
        for entry in report[key]
    ]


def test_system_calls_of_a_program_without_frame_pointers_reopen_from_the_file_alone(
    workloads: Path, tmp_path: Path
) -> None:
    program = _copy(workloads, "server-O2", tmp_path)
    saved = _run_json(
        "syscalls", "-d", "2", "--save", "calls.lpcap", "--json", "--", "./server-O2", cwd=tmp_path
    )
    failure = saved["failures"][0]
    assert failure["site"]["line"] == marked_line(SERVER_C, "CONFIG-OPEN") and failure["count"] > 1000
    _alone(tmp_path, "calls.lpcap", program)
    reopened = _run_json("open", "calls.lpcap", "--json", cwd=tmp_path)
    assert reopened["failures"][0]["site"] == failure["site"]
    assert [f["count"] for f in reopened["failures"]] == [f["count"] for f in saved["failures"]]
    assert _sites(reopened, "failures") == _sites(saved, "failures")
    assert [[frame["function"] for frame in f["stack"]] for f in reopened["failures"]] == [
        [frame["function"] for frame in f["stack"]] for f in saved["failures"]
    ]
    assert reopened["syscalls"] == saved["syscalls"]


def test_leaks_of_a_program_without_frame_pointers_reopen_from_the_file_alone(
    workloads: Path, tmp_path: Path
) -> None:
    program = _copy(workloads, "wordcount-O2", tmp_path)
    saved = _run_json(
        "leaks", "-d", "3", "--save", "heap.lpcap", "--json", "--", "./wordcount-O2", "200", cwd=tmp_path
    )
    suspects = {s["site"]["line"] for s in saved["sites"] if s["suspect"] and s["site"]}
    assert marked_line(WORDCOUNT_CC, "READER-WORDS") in suspects, sorted(suspects)
    _alone(tmp_path, "heap.lpcap", program)
    reopened = _run_json("open", "heap.lpcap", "--json", cwd=tmp_path)
    assert _sites(reopened, "sites") == _sites(saved, "sites")
    assert [(s["suspect"], s["outstanding_bytes"]) for s in reopened["sites"]] == [
        (s["suspect"], s["outstanding_bytes"]) for s in saved["sites"]
    ]


def test_interpreted_java_methods_reopen_from_the_file_alone(workloads: Path, tmp_path: Path) -> None:
    """The methods file the JVMTI agent wrote is removed once the capture is resolved: the methods
    the capture's interpreter frames ran are kept in it."""
    java = shutil.which("java")
    assert java, "java missing: `make setup` installs openjdk-17-jdk-headless"
    command = [java, "-Xint", "-cp", str(workloads / "slowy"), "slowy.App"]
    saved = _run_json("profile", "-d", "3", "--save", "jvm.lpcap", "--json", "--", *command, cwd=tmp_path)
    hottest = max(saved["lines"], key=lambda line: line["self"])
    assert hottest["function"] == "slowy.App.isDivisible", hottest
    assert not list(Path("/tmp").glob(f"jit-{saved['target']['pid']}.*")), "the agent's files are removed"
    reopened = _run_json("open", "jvm.lpcap", "--json", cwd=tmp_path)
    assert reopened["lines"] == saved["lines"]
    # (A reopened capture's native frames name the copies of the target's files kept beside it.)
    named = [{k: v for k, v in f.items() if k != "binary"} for f in saved["functions"]]
    assert [{k: v for k, v in f.items() if k != "binary"} for f in reopened["functions"]] == named
