"""HotSpot's GC pauses and class loads, watched with real uprobes on libjvm.so's standard probes,
against the JVM's own accounts of the same run.

Ground truth: ``workloads/churn`` (``Churn ROUNDS wait``) waits for a line on stdin, then each
round defines churn.Loaded in a class loader of its own, allocates 8 MiB of short-lived arrays,
and every 10th round calls System.gc(); at the end it prints the classes it defined, its
System.gc() calls and the collections its GarbageCollectorMXBeans counted meanwhile. Its JVM
also writes every class it loads to a ``-Xlog:class+load`` file: the classes loaded after the
release are the lines added after it (nothing loads while it waits).

bcc's own tools are no reference here: javagc-bpfcc (ugc) prints "None" for every Java event
(its formatter returns nothing) and mixes memory-pool events with collections, and
javastat-bpfcc counts memory-pool events as GCs.
"""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LINEPROBE, have

pytestmark = [
    pytest.mark.privileged,
    pytest.mark.skipif(not have("java"), reason="needs a JDK (java): sudo make setup installs openjdk-17"),
]

ROUNDS = 200


def churn(workloads: Path, log: Path, rounds: int = ROUNDS) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            "java",
            "-XX:+UseSerialGC",
            "-Xmx64m",
            f"-Xlog:class+load=info:file={log}",
            "-cp",
            str(workloads / "churn"),
            "churn.Churn",
            str(rounds),
            "wait",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def watched(
    program: subprocess.Popen[str], log: Path, live: list[Any]
) -> tuple[Any, dict[str, int], list[str]]:
    """The JVM watched by a real agent from before its release to its exit; its own counts; the
    classes its log names after the release."""
    from lineprobe.capture import kinds
    from lineprobe.capture.runner import CaptureRunner

    runner = CaptureRunner()
    watching = threading.Event()
    answer: list[Any] = []

    def on_progress(message: Any) -> None:
        if message.phase == "sampling":
            watching.set()
        if message.live is not None:
            live.append(message.live)

    def watch() -> None:
        answer.append(
            runner.capture(kinds.JVM_EVENTS, program.pid, 120.0, {"max_events": 100_000}, on_progress)
        )

    worker = threading.Thread(target=watch)
    worker.start()
    try:
        assert watching.wait(90), "lineprobe never started watching"
        logged_before = len(log.read_text().splitlines())
        assert program.stdin is not None
        program.stdin.write("go\n")
        program.stdin.flush()
        output, _ = program.communicate(timeout=60)
    finally:
        worker.join(120)
        runner.close()
    words = output.split()
    truth = {words[i]: int(words[i + 1]) for i in range(0, 8, 2)}
    logged = [line.split()[1] for line in log.read_text().splitlines()[logged_before:]]
    [events] = answer
    return events, truth, logged


def test_gc_pauses_and_class_loads_match_the_jvm_s_own_accounts(workloads: Path, tmp_path: Path) -> None:
    log = tmp_path / "class-load.log"
    program = churn(workloads, log)
    try:
        live: list[Any] = []
        events, truth, logged = watched(program, log, live)
    finally:
        if program.poll() is None:
            program.kill()
            program.wait()
    print(
        f"lineprobe: {events.gc_count} GCs ({sum(g.full for g in events.gcs)} full), "
        f"{events.classes_loaded} classes; the JVM: {truth['collections']} collections, "
        f"{truth['full']} System.gc(), {len(logged)} classes in -Xlog:class+load"
    )
    assert truth["rounds"] == truth["classes"] == ROUNDS
    # Every collection the JVM counted, each pause kept, the System.gc() ones marked full.
    assert events.gc_count == truth["collections"] == len(events.gcs) > 0
    assert sum(1 for gc in events.gcs if gc.full) == truth["full"] == ROUNDS // 10
    assert all(0 < gc.duration_s < 5 for gc in events.gcs)
    starts = [gc.at_s for gc in events.gcs]
    assert starts == sorted(starts)
    # Every class the JVM logged, in its order, with its exact name (no bytes past its length).
    assert [c.java_name for c in events.classes] == logged
    assert events.classes_loaded == len(logged)
    assert sum(1 for c in events.classes if c.name == "churn/Loaded") == ROUNDS
    assert events.unmatched_gc_ends == events.ring_full == events.dropped == 0
    # While it ran, about once a second: the counts so far, growing; each pause reported once.
    assert len(live) >= 2
    assert [r.gc_count for r in live] == sorted(r.gc_count for r in live)
    reported = [gc.at_s for report in live for gc in report.new_gcs]
    assert reported == sorted(set(reported)) and set(reported) <= set(starts)


def test_the_cli_reports_pauses_and_classes_and_refuses_a_process_that_is_no_jvm(
    workloads: Path, tmp_path: Path
) -> None:
    log = tmp_path / "class-load.log"
    program = churn(workloads, log, rounds=1_000_000)  # until killed
    try:
        assert program.stdin is not None
        program.stdin.write("go\n")
        program.stdin.flush()
        done = subprocess.run(
            [*LINEPROBE, "usdt", "jvm", "--pid", str(program.pid), "-d", "1.5", "--json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["gc_count"] == len(report["gcs"]) > 0
        assert report["pauses"]["max_ms"] >= report["pauses"]["p50_ms"] > 0
        assert "churn.Loaded" in {c["name"] for c in report["classes"]}
        text = subprocess.run(
            [*LINEPROBE, "usdt", "jvm", "--pid", str(program.pid), "-d", "1"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert text.returncode == 0, text.stderr
        assert "GC pauses" in text.stdout and "classes loaded" in text.stdout
    finally:
        program.kill()
        program.wait()
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        refused = subprocess.run(
            [*LINEPROBE, "usdt", "jvm", "--pid", str(sleeper.pid), "-d", "1"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        sleeper.kill()
        sleeper.wait()
    assert refused.returncode == 1
    assert "hotspot:gc__begin" in refused.stderr, refused.stderr
