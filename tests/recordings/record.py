"""Record the captures that ``tests/lsp/`` replays: ``sudo make record-fixtures``.

Run as root (it traces with the real agent)::

    sudo .venv/bin/python tests/recordings/record.py [NAME...]

Each recording is one or more short captures (about a second each) of a
workload from ``workloads/build/``, made by the real CLI with
``LINEPROBE_RECORD`` set: every line the live agent exchanged, in
``tests/recordings/<NAME>.jsonl``, and the traced workload binary (with its
DWARF) in ``<NAME>.jsonl.binaries/``. A recording is kept only when its replay
(``LINEPROBE_REPLAY``, as the tests use it) shows the workload's documented
ground truth on the lines that carry its markers; a capture that misses it
(a short window can) is taken again.

A recording of several captures is the recording of each, one after the
other (the header line once): replayed, each request is answered by the next
recorded exchange of its type, so a session can run that many captures.

``manifest.json`` says where the recordings were made: the archived binaries'
DWARF names this checkout's absolute paths (``root``), which the tests map to
the checkout they run from with the LSP setting ``pathMappings``. It also
lists each recording's command and options.

The archived binaries are the workloads'; the system's libraries (libc,
libgomp, libstdc++) are not archived: the recordings replay on a machine with
the same Debian release as the one they were made on.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lineprobe.symbolization.runtime_hints import NODE_FLAGS  # noqa: E402

from tests.conftest import BUILD, LINEPROBE, WORKLOADS, marked_line  # noqa: E402

HERE = Path(__file__).resolve().parent
MANIFEST = "manifest.json"
MAX_BYTES = 400_000
"""Per recording: a fixture that is committed to the repository stays small."""
ATTEMPTS = 5

PRIMES_C = WORKLOADS / "primes" / "primes.c"
SERVER_C = WORKLOADS / "server" / "server.c"
LOGGER_C = WORKLOADS / "logger" / "logger.c"
WORDCOUNT_CC = WORKLOADS / "wordcount" / "wordcount.cc"
PROBES_C = WORKLOADS / "probes" / "probes.c"
BLOCKER_C = WORKLOADS / "blocker" / "blocker.c"
APP_JAVA = WORKLOADS / "slowy" / "slowy" / "App.java"
CONFIG_JAVA = WORKLOADS / "jconfig" / "jconfig" / "Config.java"
HOT_TS = WORKLOADS / "jit_ts" / "hot.ts"
INLINED_JS = WORKLOADS / "jit" / "inlined.js"
MISSING_CONFIG = "/etc/tracing-server-example.conf"

Check = Callable[[dict[str, Any]], list[str]]
"""The problems of a replayed capture's JSON report against the workload's ground truth."""


def _site(entry: dict[str, Any] | None) -> tuple[str, int] | None:
    site = entry.get("site") if entry else None
    return (site["path"], site["line"]) if site else None


def check_primes(report: dict[str, Any]) -> list[str]:
    problems = []
    if report["samples"] < 25:
        problems.append(f"only {report['samples']} samples")
    hottest = max(report["lines"], key=lambda line: line["self"])
    want = (str(PRIMES_C), marked_line(PRIMES_C, "return n % d == 0;"), "is_divisible")
    if (hottest["path"], hottest["line"], hottest["function"]) != want:
        problems.append(f"hottest line {hottest}, not {want}")
    caller = marked_line(PRIMES_C, "if (is_prime(n))")
    if not any(line["line"] == caller and line["total"] > 0 for line in report["lines"]):
        problems.append(f"no samples under main's call of is_prime (line {caller})")
    return problems


def check_phases(report: dict[str, Any]) -> list[str]:
    """Both of phases' functions, each in time of its own: the timeline has something to slice."""
    functions = {f["function"]: f["self"] for f in report["functions"]}
    problems = [
        f"{name} has {functions.get(name, 0)} samples"
        for name in ("churn_alpha", "churn_beta")
        if functions.get(name, 0) < 5
    ]
    timeline = report.get("timeline") or {}
    if timeline.get("bucket_ms") != 100 or len(timeline.get("threads", [])) != 1:
        problems.append(f"the timeline is {timeline}")
    return problems


def check_server(report: dict[str, Any]) -> list[str]:
    if not report["failures"]:
        return ["no failed call"]
    failure = report["failures"][0]
    problems = []
    if (failure["syscall"], failure["errno"], failure["path"]) != ("openat", "ENOENT", MISSING_CONFIG):
        problems.append(f"first failure {failure}")
    if _site(failure) != (str(SERVER_C), marked_line(SERVER_C, "CONFIG-OPEN")):
        problems.append(f"failure at {failure['site']}, not at CONFIG-OPEN")
    return problems


def check_logger(report: dict[str, Any]) -> list[str]:
    by_file = {Path(s["file"]).name: s for s in report["slow"] if s["file"]}
    if not {"flush.data", "log.data"} <= set(by_file):
        return [f"I/O on {sorted(by_file)}"]
    flush, log = by_file["flush.data"], by_file["log.data"]
    problems = []
    if _site(flush) != (str(LOGGER_C), marked_line(LOGGER_C, "FLUSH-WRITE")):
        problems.append(f"flush at {flush['site']}")
    if _site(log) != (str(LOGGER_C), marked_line(LOGGER_C, "APPEND-WRITE")):
        problems.append(f"append at {log['site']}")
    if not flush["p99_us"] > max(log["p99_us"], 1000.0):
        problems.append(f"flush p99 {flush['p99_us']} us, appends' {log['p99_us']} us")
    if flush["bytes"] != flush["count"] * (1 << 20):
        problems.append(f"flush wrote {flush['bytes']} bytes in {flush['count']} calls")
    return problems


def check_logger_stacks(report: dict[str, Any]) -> list[str]:
    totals = {s["line"]: s["total"] for s in report["lines"] if s["path"] == str(LOGGER_C)}
    problems = [
        f"no hits on {marker}"
        for marker in ("APPEND-WRITE", "FLUSH-WRITE")
        if not totals.get(marked_line(LOGGER_C, marker))
    ]
    if report.get("event") != "block:block_rq_issue":
        problems.append(f"event {report.get('event')}")
    return problems


def check_prime_hits(report: dict[str, Any]) -> list[str]:
    """``hits`` of primes.c's ``++count;``: once per prime found, from its OpenMP threads."""
    counted = report.get("line_hits", [])
    if len(counted) != 1 or counted[0]["hits"] < 100:
        return [f"line hits {counted}"]
    return [] if counted[0]["hits"] == report["samples"] else [f"{report['samples']} stacks counted"]


def check_wordcount(report: dict[str, Any]) -> list[str]:
    suspects = {_site(s) for s in report["sites"] if s["suspect"]}
    return [
        f"no suspect at {marker}"
        for marker in ("MAKE-SHARED-READER", "MAKE-SHARED-COUNTER", "WORDS-COPY")
        if (str(WORDCOUNT_CC), marked_line(WORDCOUNT_CC, marker)) not in suspects
    ]


def check_slowy(report: dict[str, Any]) -> list[str]:
    top = report["groups"][0]["values"] if report.get("groups") else None
    problems = [] if top == ["slowy/App", "isDivisible"] else [f"the top method is {top}"]
    if report.get("events", 0) < 100_000:
        problems.append(f"only {report.get('events')} method entries")
    return problems


def check_slowy_lines(report: dict[str, Any]) -> list[str]:
    """Java on its lines: the JIT code named from the agent's jitdump, which the replay has only in
    the capture's frame archive (the dump is removed once the capture is resolved)."""
    if report["samples"] < 20:
        return [f"only {report['samples']} samples"]
    hottest = max(report["lines"], key=lambda line: line["self"])
    want = ("slowy/App.java", marked_line(APP_JAVA, "IS-DIVISIBLE"), "slowy.App.isDivisible")
    got = (hottest["path"], hottest["line"], hottest["function"])
    return [] if got == want else [f"hottest line {hottest}, not {want}"]


def check_jconfig(report: dict[str, Any]) -> list[str]:
    """A Java line as a failing call's site: the interpreted frame named from the agent's methods
    file, which the replay has only in the capture's frame archive."""
    failure = next((f for f in report["failures"] if f["path"].endswith("/never.conf")), None)
    if failure is None:
        return [f"no failed open of never.conf in {[f['path'] for f in report['failures']]}"]
    problems = []
    if (failure["syscall"], failure["errno"]) != ("openat", "ENOENT") or failure["count"] < 100:
        problems.append(f"failure {failure['syscall']} {failure['errno']} x{failure['count']}")
    want = ("jconfig/Config.java", marked_line(CONFIG_JAVA, "CONFIG-OPEN"))
    if _site(failure) != want:
        problems.append(f"failure at {failure['site']}, not at {want}")
    return problems


def check_jit_ts(report: dict[str, Any]) -> list[str]:
    """TypeScript on its lines: V8's JIT code through its jitdump and the script's source map, which
    the replay has only in the capture's frame archive."""
    if report["samples"] < 20:
        return [f"only {report['samples']} samples"]
    hottest = max(report["lines"], key=lambda line: line["self"])
    want = (str(HOT_TS), marked_line(HOT_TS, "SPIN-LINE"))
    if (hottest["path"], hottest["line"]) != want or hottest["self_percent"] < 50:
        return [f"hottest line {hottest}, not {want} above 50%"]
    return []


def check_inlined_js(report: dict[str, Any]) -> list[str]:
    """JavaScript TurboFan inlined, as an inlined frame under the call it was inlined through:
    named from V8's log, which the replay has only in the capture's frame archive. (The top
    level's loop, compiled on-stack with lineprobeOuter inlined, takes the samples.)"""
    if report["samples"] < 20:
        return [f"only {report['samples']} samples"]
    hottest = max(report["lines"], key=lambda line: line["self"])
    want = (str(INLINED_JS), marked_line(INLINED_JS, "OUTER-LOOP"), "lineprobeOuter", True)
    got = (hottest["path"], hottest["line"], hottest["function"], hottest["inlined"])
    if got != want:
        return [f"hottest line {hottest}, not {want}"]
    calls = [
        line
        for line in report["lines"]
        if (line["path"], line["line"]) == (str(INLINED_JS), marked_line(INLINED_JS, "CALLS-OUTER"))
    ]
    if not calls or calls[0]["total"] < hottest["self"]:
        return [f"the call it was inlined through: {calls}"]
    return []


def check_capabilities(report: dict[str, Any]) -> list[str]:
    """What the tests replay: the machine's answer as the agent gave it, tracing available."""
    available = {c["name"]: c["available"] for c in report.get("capabilities", [])}
    missing = [name for name in ("privileges", "bcc", "perf-events", "uprobes") if not available.get(name)]
    return [f"{', '.join(missing)} not available"] if missing else []


@dataclass(frozen=True)
class Recording:
    name: str
    kind: str
    """The CLI command: profile, syscalls, leaks, stackcount, capabilities."""
    workload: tuple[str, ...]
    """The workload under ``workloads/build/`` and its arguments; ``{scratch}``: its working directory.
    None for a question about the machine (``capabilities``)."""
    options: tuple[str, ...]
    check: Check
    captures: int = 1
    arguments: tuple[str, ...] = ()
    """What the CLI command takes after its options (a tracepoint), recording and replaying alike."""
    runtime: tuple[str, ...] = ()
    """What runs the workload (``java`` and its flags, ``-cp`` the build folder); none: it is a
    program of its own."""
    warmup_s: float = 0.3
    """How long the workload runs before it is traced."""


def check_naps(report: dict[str, Any]) -> list[str]:
    """``tracepoints trace --json`` prints a line per record, then its summary."""
    records = report["lines"][:-1]
    naps = [
        r for r in records if r["fields"].get("prev_comm") == "naps" and r["fields"].get("prev_state") == 1
    ]
    return [] if len(naps) >= 100 else [f"only {len(naps)} naps among {len(records)} records"]


def check_sched_formats(report: dict[str, Any]) -> list[str]:
    names = {t["name"] for t in report.get("tracepoints", [])}
    return [] if "sched:sched_switch" in names else [f"no sched:sched_switch among {len(names)}"]


def check_blocker(report: dict[str, Any]) -> list[str]:
    nap = marked_line(BLOCKER_C, "NAP-LINE")
    waited = sum(line["total"] for line in report.get("lines", []) if line["line"] == nap)
    return [] if waited > 500_000_000 else [f"the nap line waited {waited} ns"]


def check_blocker_wall_clock(report: dict[str, Any]) -> list[str]:
    events = [c["event"] for c in report.get("columns", [])]
    if events != ["wall-clock time", "on-CPU time", "off-CPU time"]:
        return [f"the columns are {events}"]
    return check_blocker(report)


def check_probes(report: dict[str, Any]) -> list[str]:
    problems = []
    sites = [(s["path"], s["line"]) for s in report.get("site_hits", [])]
    if sites != [(str(PROBES_C), marked_line(PROBES_C, "REQUEST-PROBE"))]:
        problems.append(f"the request probe's sites are {sites}")
    if sorted(g["values"][0] for g in report.get("groups", [])) != [64, 128, 256, 512]:
        problems.append(f"the sizes are {report.get('groups')}")
    return problems


def check_blocker_files(report: dict[str, Any]) -> list[str]:
    files = [f for f in report.get("files", []) if f["process"] == "blocker"]
    if not files or not files[0]["file"].endswith("/data") or files[0]["syncs"] < 50:
        return [f"blocker's busiest file is {files[:1]}"]
    return []


RECORDINGS = {
    r.name: r
    for r in (
        # Two captures: a session can profile twice (a cancelled profile, then the next one).
        # 30 Hz keeps it small: each user-mode sample carries 8 KiB of the target's stack.
        Recording(
            "profile-primes", "profile", ("primes", "200000", "0"), ("-d", "1", "-F", "30"), check_primes, 2
        ),
        # Time slices: phases alternates between two functions a second at a time; 10 Hz for 2.5 s
        # keeps the stack copies small and still gives each phase its samples.
        Recording(
            "profile-phases", "profile", ("phases", "1000", "1"), ("-d", "2.5", "-F", "10"), check_phases
        ),
        Recording("syscalls-server", "syscalls", ("server",), ("-d", "1"), check_server),
        # Flushes come every 500 ms. Stacks for calls slower than 50 ms only (and the first
        # few of each call site, as always), or the appends' fill the recording.
        Recording(
            "syscalls-logger",
            "syscalls",
            ("logger", "{scratch}"),
            ("-d", "2.2", "--slow-ms", "50"),
            check_logger,
        ),
        Recording(
            "leaks-wordcount", "leaks", ("wordcount", "200"), ("-d", "2", "-i", "0.25"), check_wordcount
        ),
        # 2.2 s: four or five of the 2 Hz flushes beside the appends' block requests.
        Recording(
            "stackcount-logger",
            "stackcount",
            ("logger", "{scratch}"),
            ("-d", "2.2"),
            check_logger_stacks,
            arguments=("block:block_rq_issue",),
        ),
        # How many times primes.c's `++count;` ran (once per prime) in 1 s: a uprobe at its site.
        Recording(
            "hits-primes",
            "hits",
            ("primes", "200000", "0"),
            ("-d", "1"),
            check_prime_hits,
            arguments=(f"primes.c:{marked_line(PRIMES_C, '++count;')}",),
        ),
        # HotSpot's method probes by class and method in the workshop's Java program: the Java
        # method lenses, replayed. Three seconds of warm-up: the loop is compiled and steady.
        Recording(
            "usdt-slowy",
            "usdt count",
            ("slowy.App",),
            ("-d", "1", "--by", "method"),
            check_slowy,
            arguments=("hotspot:method__entry",),
            runtime=("java", "-XX:+ExtendedDTraceProbes", "-XX:-Inline", "-cp", str(BUILD / "slowy")),
            warmup_s=3.0,
        ),
        # Java's compiled methods on their lines (lineprobe's JVMTI agent, loaded into the running
        # JVM as the window ends), isDivisible a method of its own, its callers through the frame
        # pointers compiled code keeps: the editor's Java lines, replayed.
        Recording(
            "profile-slowy",
            "profile",
            ("slowy.App",),
            ("-d", "1", "-F", "30"),
            check_slowy_lines,
            runtime=(
                "java",
                "-XX:+UnlockDiagnosticVMOptions",
                "-XX:+DebugNonSafepoints",
                "-XX:+PreserveFramePointer",
                "-XX:-Inline",
                "-cp",
                str(BUILD / "slowy"),
            ),
            warmup_s=3.0,
        ),
        # The same program interpreted (-Xint): every Java frame is the interpreter's, named from
        # the frames' slots by the methods the agent listed, which the capture keeps.
        Recording(
            "profile-slowy-interpreted",
            "profile",
            ("slowy.App",),
            ("-d", "1", "-F", "30"),
            check_slowy_lines,
            runtime=("java", "-Xint", "-cp", str(BUILD / "slowy")),
            warmup_s=1.0,
        ),
        # TypeScript compiled by tsc, run by a node started with the flags lineprobe asks for: V8's
        # jitdump (written through a 2 MB buffer, so a try whose hot code is not in it yet is taken
        # again) and the source map put the samples on hot.ts's lines.
        Recording(
            "profile-jit-ts",
            "profile",
            ("jit_ts/hot.js", "30"),
            ("-d", "1", "-F", "30"),
            check_jit_ts,
            runtime=("node", *NODE_FLAGS),
            warmup_s=2.0,
        ),
        # JavaScript TurboFan inlined (lineprobeOuter into the top level's loop, compiled on-stack),
        # named with the call it was inlined through from V8's log, node started with lineprobe's
        # flags.
        Recording(
            "profile-jit-inlined",
            "profile",
            (str(INLINED_JS), "30"),
            ("-d", "1", "-F", "30"),
            check_inlined_js,
            runtime=("node", *NODE_FLAGS),
            warmup_s=2.0,
        ),
        # A Java line as a failing call's site (the server lab in Java), in the interpreter: named
        # through the JVMTI agent's methods file, loaded into the running JVM at attach.
        Recording(
            "syscalls-jconfig",
            "syscalls",
            ("jconfig.Config", "100000000", "{scratch}/never.conf"),
            ("-d", "1"),
            check_jconfig,
            runtime=("java", "-Xint", "-cp", str(BUILD / "jconfig")),
            warmup_s=1.0,
        ),
        # A program's own sys/sdt.h probe counted by an argument: its site's line, and the live
        # reports that come while it counts (2.5 s: two of them at least).
        Recording(
            "usdt-probes",
            "usdt count",
            ("probes", "100000000000"),
            ("-d", "2.5", "--arg", "2"),
            check_probes,
            arguments=("lineprobe_demo:request",),
        ),
        # A kernel tracepoint's records (lab 1): sched_switch in a program that naps a thousand
        # times a second, and the sched tracepoints' formats (the editor's pick list).
        Recording(
            "tracepoint-naps",
            "tracepoints trace",
            ("naps", "100000"),
            ("-d", "1", "--rate", "150"),
            check_naps,
            arguments=("sched:sched_switch",),
        ),
        # Off-CPU time: workloads/blocker naps 5 ms and fsyncs 64 KiB each round.
        Recording(
            "offcpu-blocker", "offcpu", ("blocker", "100000", "{scratch}/data"), ("-d", "1"), check_blocker
        ),
        # File I/O (filetop, fileslower): blocker's 64 KiB writes and fsyncs of its data file,
        # 2.5 s for two live reports at least (the system panel's chart).
        Recording(
            "files-blocker",
            "files",
            ("blocker", "100000", "{scratch}/data"),
            ("-d", "2.5", "--slow-ms", "2"),
            check_blocker_files,
        ),
        # Wall-clock time: the same, with blocker's CPU samples as time beside its waits.
        Recording(
            "wallclock-blocker",
            "offcpu",
            ("blocker", "100000", "{scratch}/data"),
            ("-d", "1", "--wall-clock"),
            check_blocker_wall_clock,
        ),
        Recording(
            "tracepoints-sched", "tracepoints list", (), (), check_sched_formats, arguments=("sched:*",)
        ),
        # The editor's "Show Capabilities", replayed: what the agent found on this machine.
        Recording("capabilities", "capabilities", (), (), check_capabilities),
    )
}


def lineprobe(args: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """The command's JSON: one object, or (JSON lines) ``{"lines": [...]}``."""
    done = subprocess.run([*LINEPROBE, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"lineprobe {' '.join(args)} failed ({done.returncode}): {done.stderr}")
    lines = done.stdout.splitlines()
    if len(lines) > 1 and lines[0].startswith("{") and lines[0].endswith("}"):
        return {"lines": [json.loads(line) for line in lines]}
    return json.loads(done.stdout)


def ask_once(recording: Recording, scratch: Path) -> tuple[Path, list[str]]:
    """One answer of the real agent to a question that traces nothing, and its replay's problems."""
    path = scratch / "capture.jsonl"
    env = {**os.environ, "LINEPROBE_RECORD": str(path)}
    env.pop("LINEPROBE_REPLAY", None)
    command = [*recording.kind.split(), "--json", *recording.arguments]
    lineprobe(command, env, scratch)
    env = {**os.environ, "LINEPROBE_REPLAY": str(path)}
    env.pop("LINEPROBE_RECORD", None)
    return path, recording.check(lineprobe(command, env, scratch))


def capture_once(recording: Recording, scratch: Path) -> tuple[Path, list[str]]:
    """One capture of the workload by the real CLI; the recording and the problems of its replay."""
    if not recording.workload:
        return ask_once(recording, scratch)
    path = scratch / "capture.jsonl"
    built = BUILD / recording.workload[0]
    # A runtime runs a script of the build folder, or a class its own options find (java -cp).
    script = str(built) if built.is_file() else recording.workload[0]
    program = [*recording.runtime, script] if recording.runtime else [str(built)]
    argv = [*program, *(a.replace("{scratch}", str(scratch)) for a in recording.workload[1:])]
    workload = subprocess.Popen(argv, cwd=scratch, stdout=subprocess.DEVNULL)
    command = recording.kind.split()
    try:
        time.sleep(recording.warmup_s)
        if workload.poll() is not None:
            raise RuntimeError(f"{argv} exited at once with {workload.returncode}")
        env = {**os.environ, "LINEPROBE_RECORD": str(path)}
        env.pop("LINEPROBE_REPLAY", None)
        lineprobe(
            [*command, "--json", "--pid", str(workload.pid), *recording.options, *recording.arguments],
            env,
            scratch,
        )
    finally:
        workload.terminate()
        workload.wait(10)
    env = {**os.environ, "LINEPROBE_REPLAY": str(path)}
    env.pop("LINEPROBE_RECORD", None)
    replayed = lineprobe(
        [*command, "--json", "--pid", "1", *recording.options, *recording.arguments], env, scratch
    )
    return path, recording.check(replayed)


def record(recording: Recording, out: Path) -> int:
    """Record ``recording`` into ``out``; returns its size in bytes."""
    with tempfile.TemporaryDirectory(prefix=f"lineprobe-record-{recording.name}-") as temp:
        kept: list[Path] = []
        for number in range(recording.captures):
            for attempt in range(1, ATTEMPTS + 1):
                scratch = Path(temp) / f"capture{number}-{attempt}"
                scratch.mkdir()
                path, problems = capture_once(recording, scratch)
                size = path.stat().st_size
                if size > MAX_BYTES // recording.captures:
                    problems.append(f"{size} bytes")
                if not problems:
                    kept.append(path)
                    break
                print(f"{recording.name}: capture {number + 1} attempt {attempt}: {'; '.join(problems)}")
            else:
                raise SystemExit(
                    f"{recording.name}: no capture showed the ground truth in {ATTEMPTS} attempts"
                )
        target = out / f"{recording.name}.jsonl"
        binaries = target.with_name(target.name + ".binaries")
        shutil.rmtree(binaries, ignore_errors=True)
        with target.open("wb") as joined:
            for number, path in enumerate(kept):
                lines = path.read_bytes().splitlines(keepends=True)
                joined.writelines(lines if number == 0 else lines[1:])  # the header line once
                archived = path.with_name(path.name + ".binaries")
                if archived.is_dir():
                    shutil.copytree(archived, binaries, dirs_exist_ok=True)
        return target.stat().st_size


def _listed(program: str) -> str:
    """A workload as the manifest names it: from the checkout's root."""
    if os.path.isabs(program):
        return os.path.relpath(program, ROOT)
    return f"workloads/build/{program}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "names", nargs="*", help=f"recordings to make: {', '.join(RECORDINGS)} (default: all)"
    )
    parser.add_argument(
        "--out", type=Path, default=HERE, help="folder for the recordings (default: %(default)s)"
    )
    args = parser.parse_args()
    unknown = [name for name in args.names if name not in RECORDINGS]
    if unknown:
        parser.error(f"no recording named {', '.join(unknown)}; there are {', '.join(RECORDINGS)}")
    if os.geteuid() != 0:
        raise SystemExit("record.py traces with the real agent: run it as root (sudo make record-fixtures)")
    subprocess.run(["make", "-s", "-C", str(WORKLOADS)], check=True)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest_path = args.out / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    names = args.names or list(RECORDINGS)
    if manifest.get("root", str(ROOT)) != str(ROOT) and set(names) != set(RECORDINGS):
        # The manifest has one root for all: recordings from two checkouts cannot share it.
        raise SystemExit(f"the recordings were made in {manifest['root']}: record them all again here")
    entries = manifest.get("recordings", {})
    for name in names:
        recording = RECORDINGS[name]
        size = record(recording, args.out)
        entries[name] = {
            "kind": recording.kind,
            "command": [_listed(recording.workload[0]), *recording.workload[1:]]
            if recording.workload
            else [],
            "options": list(recording.options),
            "captures": recording.captures,
            "bytes": size,
        }
        print(f"{name}: {size:,} bytes, {recording.captures} capture(s)")
    manifest = {
        "root": str(ROOT),
        "comment": "Recorded by tests/recordings/record.py; 'root' is the checkout the DWARF paths name.",
        "recordings": dict(sorted(entries.items())),
    }
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
