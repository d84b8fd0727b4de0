"""``lineprobe open``: which of a saved command's arguments run again (lineprobe.reopen), and
what a file that is not a saved capture gets."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from lineprobe.reopen import reopen_arguments

from tests.conftest import LINEPROBE

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"


def test_outputs_keeping_and_privileges_are_dropped_and_a_launched_command_becomes_its_pid() -> None:
    saved = [
        "profile",
        "-d",
        "2",
        "--save",
        "a.lpcap",
        "--json",
        "--launcher=sudo -n",
        "--",
        "./primes",
        "--json",
    ]
    assert reopen_arguments(saved, 4242, ["--folded", "out.folded"]) == [
        "profile", "-d", "2", "--pid", "4242", "--folded", "out.folded",
    ]  # fmt: skip
    saved = ["syscalls", "--pid", "7", "--slow-ms", "5", "--save=b.lpcap", "--speedscope", "s.json"]
    assert reopen_arguments(saved, 7, []) == ["syscalls", "--pid", "7", "--slow-ms", "5"]
    assert reopen_arguments(["usdt", "count", "p:q", "--pid", "9", "--launcher", "x"], 9, ["--json"]) == [
        "usdt", "count", "p:q", "--pid", "9", "--json",
    ]  # fmt: skip


def test_a_file_that_is_no_saved_capture_is_refused_in_words(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.lpcap"
    garbage.write_bytes(b"\x00\xffnot json\n")
    unsaved = RECORDINGS / "profile-primes.jsonl"  # a recording made for tests: no command kept
    foreign = tmp_path / "other.json"
    foreign.write_text(json.dumps({"hello": 1}) + "\n")
    for path, why in (
        (garbage, "not JSON lines"),
        (unsaved, "it names no command: it was not saved with `lineprobe ... --save`"),
        (foreign, "no lineprobe-recording header line"),
    ):
        done = subprocess.run([*LINEPROBE, "open", str(path)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert f"{path}: not a lineprobe recording ({why}" in " ".join(done.stderr.split()), done.stderr
