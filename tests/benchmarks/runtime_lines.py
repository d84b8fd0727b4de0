"""Node's and Java's lines, side by side with perf, and what the collection costs them.

workloads/node_service/service.js under its load generator (four requests in flight), started
with the flags lineprobe asks for (``runtime_hints.NODE_FLAGS``: --perf-prof --perf-basic-prof
--interpreted-frames-native-stack --log-code --log-source-code):

  lines     `lineprobe profile --pid` and `perf record -k 1 -g -p PID` over the same window, then
            `perf inject --jit` and `perf report --sort srcline` (the reference pipeline): the
            top line and its share of all samples, and the share of samples in JIT code that
            got a source line, for both
  overhead  requests per CPU-second of the service (requests / its user+sys CPU seconds, which
            does not depend on how busy the rest of the machine is): node without flags and
            nothing attached, against node with the flags and lineprobe sampling at 99 Hz for
            the whole window; interleaved rounds, medians

  java_lines  workloads/build/slowy started as lineprobe launches a JVM, with and without
            -XX:-Inline: lineprobe by PID and `perf record -k 1` over the same window, perf
            through `perf inject --jit` of the same jitdump: top lines and shares

  java      workloads/build/slowy (slowy.App ROUNDS): rounds per CPU-second of the JVM, plain
            against the JVM as lineprobe launches it (its JVMTI agent, -XX:+DebugNonSafepoints,
            -XX:+PreserveFramePointer, -XX:+DumpPerfMapAtExit) with lineprobe sampling at
            99 Hz; and where the hottest line is in the traced runs

    python tests/benchmarks/runtime_lines.py [--rounds 3] [--seconds 6] [--java-rounds 8000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from lineprobe.symbolization import runtime_hints

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ROOT / "workloads" / "node_service" / "service.js"
LOAD = ROOT / "workloads" / "node_service" / "load.js"
LINEPROBE = [sys.executable, "-m", "lineprobe.cli"]
NODE_FLAGS = list(runtime_hints.NODE_FLAGS)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def node() -> str:
    found = shutil.which("node") or shutil.which("nodejs")
    if not found:
        raise SystemExit("Node.js missing: `make setup` installs Debian's nodejs")
    return found


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class Service:
    """service.js in a scratch directory of its own, warmed by a first round of load."""

    def __init__(self, flags: list[str]) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="lineprobe-node-"))
        self.process = subprocess.Popen(
            [node(), *flags, str(SERVICE), "0"], cwd=self.folder, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        listening = re.fullmatch(r"listening (\d+)\n", self.process.stdout.readline())
        if not listening:
            raise SystemExit("service.js did not start")
        self.port = listening[1]
        self.load(3)  # compiled by TurboFan, warm

    @property
    def pid(self) -> int:
        return self.process.pid

    def load(self, seconds: float) -> tuple[int, float]:
        """Requests served in ``seconds`` of load (four in flight), and the service's CPU seconds."""
        cpu = cpu_seconds(self.pid)
        done = subprocess.run(
            [node(), str(LOAD), self.port, str(seconds), "4"],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
        )
        served = re.search(r"requests (\d+)", done.stdout)
        if not served:
            raise SystemExit(f"load.js printed {done.stdout!r} {done.stderr!r}")
        return int(served[1]), cpu_seconds(self.pid) - cpu

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)


def side_by_side(seconds: float) -> dict[str, dict[str, object]]:
    """lineprobe and perf over the same window of the loaded service: top line and shares."""
    service = Service(NODE_FLAGS)
    data = service.folder / "perf.data"
    try:
        lineprobe = subprocess.Popen(
            [*LINEPROBE, "profile", "--json", "--pid", str(service.pid), "-d", str(seconds + 4)],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(3)  # lineprobe's BPF compiled and sampling before perf starts
        perf = subprocess.Popen(
            [
                "perf",
                "record",
                "-q",
                "-k",
                "1",
                "-F",
                "99",
                "-g",
                "-p",
                str(service.pid),
                "-o",
                str(data),
                "--",
                "sleep",
                str(seconds),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        service.load(seconds + 1)
        perf.wait(timeout=60)
        report = json.loads(lineprobe.communicate(timeout=120)[0])
        listing = _perf_srclines(data)
    finally:
        service.stop()
    return {"lineprobe": _lineprobe_shares(report, ".js"), "perf": _perf_shares(listing)}


def _perf_srclines(data: Path) -> str:
    """``perf inject --jit`` of a perf.data, then its samples by binary and source line."""
    jitted = data.with_name("jitted.data")
    subprocess.run(
        ["perf", "inject", "--jit", "-i", str(data), "-o", str(jitted)], check=True, capture_output=True
    )
    report = ["perf", "report", "-i", str(jitted), "--no-children", "-g", "none", "--stdio"]
    return subprocess.run(
        [*report, "--sort", "dso,srcline"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _lineprobe_shares(report: dict, source_suffix: str) -> dict[str, object]:
    samples = report["samples"]
    top = max(report["lines"], key=lambda line: line["self"])
    in_jit = sum(f["self"] for f in report["functions"] if f["binary"] == "[jit]")
    on_lines = sum(
        line["self"]
        for line in report["lines"]
        if line["path"].endswith(source_suffix) or line["path"].startswith("node:")
    )
    return {
        "top": f"{Path(top['path']).name}:{top['line']}",
        "top_percent": round(100 * top["self"] / samples, 1),
        "jit_with_line_percent": round(100 * on_lines / max(in_jit, 1), 1),
        "samples": samples,
    }


def _has_line(srcline: str) -> bool:
    """perf's ``??:0`` is no source at all; ``FILE:0``, a source without a line."""
    return not srcline.startswith("??") and not srcline.endswith(":0")


def _perf_shares(listing: str) -> dict[str, object]:
    by_line: Counter[str] = Counter()
    in_jit = with_line = 0.0
    for row in listing.splitlines():
        # The Java agent's source names hold a tab: "App.java<TAB>slowy.App.isDivisible:14".
        match = re.match(r"\s*([\d.]+)%\s+(\S+)\s+(\S.*?)\s*$", row)
        if not match or row.lstrip().startswith("#"):
            continue
        percent, dso, srcline = float(match[1]), match[2], match[3].replace("\t", " ")
        by_line[srcline] += percent
        if dso.startswith("jitted-"):
            in_jit += percent
            if _has_line(srcline):
                with_line += percent
    known = sorted(((k, v) for k, v in by_line.items() if _has_line(k)), key=lambda kv: -kv[1])
    top, share = known[0]
    return {
        "top": top,
        "top_percent": round(share, 1),
        "jit_with_line_percent": round(100 * with_line / max(in_jit, 1e-9), 1),
        "top_lines": [f"{line} {round(percent, 1)}%" for line, percent in known[:3]],
    }


def overhead(rounds: int, seconds: float) -> dict[str, object]:
    """Requests per CPU-second of the service. Sampling: one service with the flags, windows
    with and without lineprobe attached in turn (one process, so TurboFan's choices, which vary
    from process to process by more than the cost measured, are the same in both). Flags: a
    service without them against one with them, fresh processes each round."""
    service = Service(NODE_FLAGS)
    alone: list[float] = []
    sampled: list[float] = []
    try:
        for _ in range(rounds):
            served, cpu = service.load(seconds)
            alone.append(served / cpu)
            lineprobe = subprocess.Popen(
                [*LINEPROBE, "profile", "--json", "--pid", str(service.pid), "-d", str(seconds + 5)],
                stdout=subprocess.DEVNULL,
            )
            time.sleep(3)  # sampling before the window
            served, cpu = service.load(seconds)
            sampled.append(served / cpu)
            lineprobe.wait(timeout=120)
    finally:
        service.stop()
    plain: list[float] = []
    flagged: list[float] = []
    for _ in range(rounds):
        for flags, rates in (([], plain), (NODE_FLAGS, flagged)):
            service = Service(flags)
            try:
                served, cpu = service.load(seconds)
                rates.append(served / cpu)
            finally:
                service.stop()
    return {
        "sampling_overhead_percent": round(
            100 * (1 - statistics.median(sampled) / statistics.median(alone)), 2
        ),
        "flags_overhead_percent": round(100 * (1 - statistics.median(flagged) / statistics.median(plain)), 2),
        "requests_per_cpu_s": {
            "flags_alone": [round(r, 1) for r in alone],
            "flags_sampled": [round(r, 1) for r in sampled],
            "plain_processes": [round(r, 1) for r in plain],
            "flagged_processes": [round(r, 1) for r in flagged],
        },
    }


SLOWY = ROOT / "workloads" / "build" / "slowy"


def _java_run(argv: list[str], traced: bool) -> tuple[float, dict | None]:
    """slowy.App to its end: rounds per CPU-second of the JVM (from its rusage), and lineprobe's
    report when ``traced`` (sampling it by PID from just after its start)."""
    rounds = int(argv[-1])
    java = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    tracer = None
    if traced:
        tracer = subprocess.Popen(
            [*LINEPROBE, "profile", "--json", "--pid", str(java.pid), "-d", "600"],
            stdout=subprocess.PIPE,
            text=True,
        )
    _, status, usage = os.wait4(java.pid, 0)
    java.returncode = os.waitstatus_to_exitcode(status)
    if java.returncode != 0:
        raise SystemExit(f"{argv} exited with {java.returncode}")
    report = json.loads(tracer.communicate(timeout=120)[0]) if tracer is not None else None
    return rounds / (usage.ru_utime + usage.ru_stime), report


def java_overhead(rounds: int, java_rounds: int) -> dict[str, object]:
    from lineprobe.capture.runtime_support import runtime_argv

    java = shutil.which("java") or "java"
    plain_argv = [java, "-cp", str(SLOWY), "slowy.App", str(java_rounds)]
    traced_argv, _, problem = runtime_argv(plain_argv)
    if problem is not None:
        raise SystemExit(problem)
    plain: list[float] = []
    traced: list[float] = []
    hottest: list[str] = []
    for _ in range(rounds):
        plain.append(_java_run(plain_argv, traced=False)[0])
        rate, report = _java_run(traced_argv, traced=True)
        traced.append(rate)
        assert report is not None
        top = max(report["lines"], key=lambda line: line["self"])
        hottest.append(f"{top['function']} {top['path']}:{top['line']} {top['self_percent']}%")
    base, under = statistics.median(plain), statistics.median(traced)
    return {
        "plain_rounds_per_cpu_s": round(base, 1),
        "agent_flags_and_lineprobe_rounds_per_cpu_s": round(under, 1),
        "overhead_percent": round(100 * (1 - under / base), 2),
        "rounds": {"plain": [round(r, 1) for r in plain], "traced": [round(r, 1) for r in traced]},
        "hottest_line_traced": hottest,
    }


def java_side_by_side(seconds: float) -> dict[str, object]:
    """slowy.App started as lineprobe launches a JVM (its JVMTI agent, exact lines, frame
    pointers), with and without -XX:-Inline: lineprobe by PID and `perf record -k 1` over the
    same window, perf's lines through `perf inject --jit` of the same jitdump (the agent, there
    since the JVM started, keeps it through lineprobe's attach). perf's line table holds one line
    per address, the outermost method's: an inlined isDivisible is isPrime's call line there."""
    from lineprobe.capture.runtime_support import runtime_argv

    java = shutil.which("java") or "java"
    found: dict[str, object] = {}
    for name, flags in (("inlined", []), ("no_inline", ["-XX:-Inline"])):
        argv, _, problem = runtime_argv([java, *flags, "-cp", str(SLOWY), "slowy.App"])
        if problem is not None:
            raise SystemExit(problem)
        folder = Path(tempfile.mkdtemp(prefix="lineprobe-java-"))
        jvm = subprocess.Popen(argv, cwd=folder, stdout=subprocess.DEVNULL)
        try:
            time.sleep(3)  # C2 has compiled the loop by now
            lineprobe = subprocess.Popen(
                [*LINEPROBE, "profile", "--json", "--pid", str(jvm.pid), "-d", str(seconds + 4)],
                stdout=subprocess.PIPE,
                text=True,
            )
            time.sleep(3)  # lineprobe's BPF compiled and sampling before perf starts
            data = folder / "perf.data"
            record = ["perf", "record", "-q", "-k", "1", "-F", "99", "-g", "-p", str(jvm.pid)]
            subprocess.run(
                [*record, "-o", str(data), "--", "sleep", str(seconds)],
                capture_output=True,
                check=True,
            )
            report = json.loads(lineprobe.communicate(timeout=120)[0])
            listing = _perf_srclines(data)
        finally:
            jvm.terminate()
            jvm.wait(timeout=10)
            shutil.rmtree(folder, ignore_errors=True)
            for leftover in Path("/tmp").glob(f"jit*-{jvm.pid}*"):  # the dump, methods, perf's ELFs
                leftover.unlink(missing_ok=True)
        lines = sorted(report["lines"], key=lambda line: -line["self"])[:3]
        found[name] = {
            "lineprobe": _lineprobe_shares(report, ".java"),
            "lineprobe_top_lines": [
                f"{line['function']} {line['path']}:{line['line']} {line['self_percent']}%"
                + (" (inlined)" if line["inlined"] else "")
                for line in lines
            ],
            "perf": _perf_shares(listing),
        }
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--java-rounds", type=int, default=8000, help="slowy.App rounds per run (about 4 s)")
    args = parser.parse_args()
    result = {
        "node_lines": side_by_side(args.seconds),
        "node_overhead": overhead(args.rounds, args.seconds),
        "java_lines": java_side_by_side(args.seconds),
        "java": java_overhead(args.rounds, args.java_rounds),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
