"""HotSpot's method probes counted by class and method, against bcc's argdist on the same JVM.

Ground truth: workloads/slowy's App calls isDivisible about a million times a second;
run with -XX:+ExtendedDTraceProbes (method probes on) and -XX:-Inline (C2 keeps it a
method), every call fires hotspot:method__entry with the class and method names as
pointer and length pairs (arguments 2 and 3, 4 and 5), unterminated. lineprobe reads
them with their lengths; argdist reads up to a NUL and shows what follows.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import LINEPROBE, have

pytestmark = pytest.mark.privileged

LIBJVM = Path("/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so")
JAVA_NAME = re.compile(r"[A-Za-z_$<>][\w$<>/+.]*")
"""A class or method name as HotSpot writes it (hidden classes: ``LambdaForm$MH+0x7fb8...``)."""
WINDOW_S = 5.0


def start_slowy(workloads: Path) -> subprocess.Popen[bytes]:
    java = subprocess.Popen(
        ["java", "-XX:+ExtendedDTraceProbes", "-XX:-Inline", "-cp", str(workloads / "slowy"), "slowy.App"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while str(LIBJVM) not in Path(f"/proc/{java.pid}/maps").read_text():
        assert java.poll() is None and time.monotonic() < deadline, "the JVM never mapped libjvm.so"
        time.sleep(0.1)
    time.sleep(3)  # past start-up: the loop is compiled and steady
    return java


@pytest.mark.skipif(
    shutil.which("java") is None or not LIBJVM.exists(), reason="needs OpenJDK 17: sudo make setup"
)
@pytest.mark.skipif(not have("argdist-bpfcc"), reason="needs bcc's argdist-bpfcc: sudo make setup")
def test_method_entry_counts_name_is_divisible_at_argdists_rate(workloads: Path) -> None:
    from lineprobe_agent.kernel_source import find_kernel_headers

    java = start_slowy(workloads)
    env = {**os.environ, "BCC_KERNEL_SOURCE": str(find_kernel_headers().path), "PYTHONUNBUFFERED": "1"}
    spec = f"u:{LIBJVM}:method__entry():char*:arg4"
    argdist = subprocess.Popen(
        ["argdist-bpfcc", "-p", str(java.pid), "-i", "1", "-c", "-C", spec],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    # (arrival time, cumulative isDivisible count) at each of argdist's one-second prints.
    prints: list[tuple[float, int]] = []

    def read() -> None:
        assert argdist.stdout is not None
        for line in argdist.stdout:
            parts = line.split()
            if len(parts) >= 4 and parts[1] == "arg4" and parts[3].startswith("b'isDivisible"):
                prints.append((time.monotonic(), int(parts[0])))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while len(prints) < 2:  # argdist attached and counting
            assert argdist.poll() is None, argdist.communicate()
            assert time.monotonic() < deadline, "argdist never counted"
            time.sleep(0.1)
        by_class_and_method = ["--by", "method", "hotspot:method__entry"]
        done = subprocess.run(
            [
                *LINEPROBE,
                "usdt",
                "count",
                "--pid",
                str(java.pid),
                "-d",
                str(WINDOW_S),
                "--json",
                *by_class_and_method,
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
        ended = time.monotonic()
        time.sleep(1.5)
    finally:
        argdist.send_signal(signal.SIGINT)
        java.kill()
        java.wait()
        argdist.wait(30)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    top = report["groups"][0]
    assert top["values"] == ["slowy/App", "isDivisible"], report["groups"][:3]
    # Exact names: every class and method name is a Java identifier path, no bytes after it.
    for group in report["groups"]:
        assert all(JAVA_NAME.fullmatch(value) for value in group["values"]), group
    assert report["lost"] == 0 and report["truncated"] == 0 and report["unreadable"] == 0

    # argdist's rate over its prints that fall inside lineprobe's window (its last WINDOW_S s).
    inside = [(t, n) for t, n in prints if ended - WINDOW_S - 0.5 <= t <= ended]
    assert len(inside) >= 3, prints
    (t0, n0), (t1, n1) = inside[0], inside[-1]
    reference_rate = (n1 - n0) / (t1 - t0)
    ours = top["per_s"]
    print(f"isDivisible: lineprobe {ours:,.0f}/s, argdist {reference_rate:,.0f}/s")
    assert abs(ours - reference_rate) <= 0.05 * reference_rate, (ours, reference_rate, inside)
