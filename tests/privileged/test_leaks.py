"""`lineprobe leaks` with real BPF: outstanding allocations on the line that allocated them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import LINEPROBE, WORKLOADS, marked_line

pytestmark = pytest.mark.privileged

WORDCOUNT_CC = WORKLOADS / "wordcount" / "wordcount.cc"
ALLOCSTORM_C = WORKLOADS / "allocs" / "allocstorm.c"


def leaks_json(*args: str, timeout: float = 120) -> dict:
    done = subprocess.run(
        [*LINEPROBE, "leaks", "--json", *args], capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def suspect_lines(report: dict, path: Path) -> dict[int, dict]:
    return {
        s["site"]["line"]: s
        for s in report["sites"]
        if s["suspect"] and s["site"] and s["site"]["path"] == str(path)
    }


def test_wordcount_cycle_is_found_at_make_shared_and_the_copy(workloads: Path, spawn) -> None:
    target = spawn(workloads / "wordcount", "200")
    report = leaks_json("--pid", str(target.pid), "--duration", "4")
    suspects = suspect_lines(report, WORDCOUNT_CC)
    for marker in ("MAKE-SHARED-READER", "MAKE-SHARED-COUNTER", "WORDS-COPY"):
        assert marked_line(WORDCOUNT_CC, marker) in suspects, (marker, sorted(suspects))
    copy = suspects[marked_line(WORDCOUNT_CC, "WORDS-COPY")]
    assert copy["site"]["function"] == "word_count"
    assert copy["outstanding_count"] > 100 and copy["growth_bytes_per_s"] > 1000
    assert copy["oldest_age_s"] > 2
    assert report["sampling"]["estimated"] is False  # a light allocator: everything is tracked
    sizes = [s["outstanding_bytes"] for s in report["sites"]]
    assert sizes == sorted(sizes, reverse=True)


def test_fixed_wordcount_has_no_suspect(workloads: Path, spawn) -> None:
    target = spawn(workloads / "wordcount", "200", "--fixed")
    report = leaks_json("--pid", str(target.pid), "--duration", "3")
    suspects = [s for s in report["sites"] if s["suspect"]]
    assert suspects == [], suspects


def test_held_out_o2_program_reports_the_leaking_line_only(workloads: Path, spawn) -> None:
    """-O2 without frame pointers, 4 million allocations a second: the governor samples."""
    target = spawn(workloads / "allocstorm-O2", "0")
    report = leaks_json("--pid", str(target.pid), "--duration", "4")
    suspects = suspect_lines(report, ALLOCSTORM_C)
    assert list(suspects) == [marked_line(ALLOCSTORM_C, "LEAK-ALLOC")], sorted(suspects)
    assert suspects[marked_line(ALLOCSTORM_C, "LEAK-ALLOC")]["site"]["function"].startswith("remember")
    churn = [
        s
        for s in report["sites"]
        if s["site"] and s["site"]["line"] == marked_line(ALLOCSTORM_C, "CHURN-ALLOC")
    ]
    assert churn and not churn[0]["suspect"]
    assert report["sampling"]["estimated"] is True and report["sampling"]["tracked_share"] < 0.5


def test_wordcount_without_frame_pointers_keeps_the_sites_apart(workloads: Path, spawn) -> None:
    """-O2 without frame pointers: the copy in word_count and the reader's words are separate suspects."""
    target = spawn(workloads / "wordcount-O2", "200")
    report = leaks_json("--pid", str(target.pid), "--duration", "4")
    suspects = suspect_lines(report, WORDCOUNT_CC)
    assert marked_line(WORDCOUNT_CC, "WORDS-COPY") in suspects, sorted(suspects)
    assert marked_line(WORDCOUNT_CC, "READER-WORDS") in suspects, sorted(suspects)
    assert {
        marked_line(WORDCOUNT_CC, "MAKE-SHARED-READER"),
        marked_line(WORDCOUNT_CC, "MAKE-SHARED-COUNTER"),
    } & set(suspects)


def test_a_target_that_exits_while_the_probes_attach_is_said_to_have_exited() -> None:
    """The allocator probes are placed after compiling (seconds): a target gone by then used to end
    with `cannot attach the allocator probes: [Errno 2] ... /proc/PID/root/...libc.so.6`."""
    from lineprobe.capture.agent_errors import AgentError
    from lineprobe.capture.progress import Progress
    from lineprobe.capture.spawned import SpawnedAgent

    target = subprocess.Popen(["sleep", "30"])
    phases = []
    try:

        def on_progress(message: Progress) -> None:
            phases.append(message.phase)
            if message.phase == "compiling":
                target.kill()
                target.wait()  # gone (and reaped) before the probes are attached

        with SpawnedAgent() as agent, pytest.raises(AgentError) as caught:
            agent.trace(
                "leaks",
                target.pid,
                2.0,
                {"interval_s": 1.0, "budget_percent": 5.0, "sample_fraction": None},
                on_progress,
            )
    finally:
        target.kill()
        target.wait()
    assert phases == ["compiling"]
    assert caught.value.code == "no-such-process", caught.value
    assert f"process {target.pid} exited" in caught.value.message
    assert "Errno" not in caught.value.message


@pytest.mark.parametrize("fixed", [False, True])
def test_blocks_allocated_once_are_held_never_suspects(workloads: Path, fixed: bool) -> None:
    """Launched, wordcount allocates std::cout's 4 KiB buffer once (at the line that prints) and
    libstdc++ its emergency pool (no user frame): both still held at the end, neither growing.
    They are `held`; only the reference cycle's sites (when not --fixed) are suspects."""
    # Every allocation tracked (--sample 1): the buffer is allocated once, and a governor that
    # happened not to be tracking at that instant would never see it.
    report = leaks_json(
        "-d", "4", "--sample", "1", "--", str(workloads / "wordcount"), "200", *(["--fixed"] if fixed else [])
    )
    verdicts = {
        (s["site"]["line"] if s["site"] else None): s["verdict"]
        for s in report["sites"]
        if s["outstanding_count"]
    }
    printing = marked_line(WORDCOUNT_CC, 'std::cout << "round " << round << ": " << best << std::endl;')
    # On failure, every site with its figures and frames: what the report said, not a summary.
    said = (verdicts, report["warnings"], report["sampling"], report["sites"])
    assert verdicts.get(printing) == "held", said
    assert verdicts.get(None) in (None, "held"), verdicts  # the emergency pool, if it was allocated
    suspects = {line for line, verdict in verdicts.items() if verdict == "suspect"}
    if fixed:
        assert suspects == set()
    else:
        cycle = {
            marked_line(WORDCOUNT_CC, m) for m in ("MAKE-SHARED-READER", "MAKE-SHARED-COUNTER", "WORDS-COPY")
        }
        assert cycle <= suspects, (cycle, suspects)
