"""`lineprobe syscalls` with real BPF: failures and slow I/O on their calling lines."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from lineprobe.capture.spawned import SpawnedAgent

from tests.conftest import LINEPROBE, WORKLOADS, have, marked_line
from tests.privileged.test_agent import programs_of

pytestmark = pytest.mark.privileged

SERVER_C = WORKLOADS / "server" / "server.c"
LOGGER_C = WORKLOADS / "logger" / "logger.c"
HELDOUT_C = WORKLOADS / "heldout" / "heldout_io.c"
MISSING_CONFIG = "/etc/tracing-server-example.conf"


def syscalls_json(*args: str, timeout: float = 90) -> dict:
    done = subprocess.run(
        [*LINEPROBE, "syscalls", "--json", *args], capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("binary", ["server", "server-O2"])
def test_failing_open_sits_on_the_fopen_line(workloads: Path, spawn, binary: str) -> None:
    target = spawn(workloads / binary)
    report = syscalls_json("--pid", str(target.pid), "--duration", "2")
    failure = report["failures"][0]
    assert (failure["syscall"], failure["errno"], failure["path"]) == ("openat", "ENOENT", MISSING_CONFIG)
    assert failure["count"] > 1000
    assert failure["site"] == {
        "path": str(SERVER_C),
        "line": marked_line(SERVER_C, "CONFIG-OPEN"),
        "function": "load_config",
    }
    assert failure["stack"][0]["binary"].endswith("libc.so.6")  # the call went through libc's fopen
    openat = next(s for s in report["syscalls"] if s["name"] == "openat")
    assert openat["errors"]["ENOENT"] == openat["count"]
    sleeps = report["histograms"][0]
    assert sleeps["name"].startswith("clock_nanosleep")
    assert all(80 <= b["low"] <= 130 for b in sleeps["buckets"])  # usleep(100) asks for 100 us
    # The CPU it used is reported. /proc's user/system split is the kernel's tick sampling, which
    # over 2 s can put every tick of a light process on one side: their sum is what must show.
    assert sum(c["user_s"] + c["system_s"] for c in report["cpu"]) > 0


def test_control_with_a_config_file_has_no_failure(workloads: Path, spawn, tmp_path: Path) -> None:
    config = tmp_path / "server.conf"
    config.write_text("port = 8080\n")
    target = spawn(workloads / "server", config)
    report = syscalls_json("--pid", str(target.pid), "--duration", "1")
    assert report["failures"] == []


def _syscount_failed_openat(pid: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["syscount", "-p", str(pid), "-e", "ENOENT", "-T", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.skipif(
    not have("syscount"), reason="libbpf-tools' syscount missing: apt-get install libbpf-tools"
)
def test_failure_count_agrees_with_libbpf_syscount(workloads: Path) -> None:
    """Both tools watch the very same calls: a gated server that gives up after a fixed number of tries."""
    attempts = 20000
    gate = subprocess.Popen(
        [
            "/bin/sh",
            "-c",
            'read _; exec "$@"',
            "gate",
            str(workloads / "server"),
            MISSING_CONFIG,
            "50",
            str(attempts),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    reference = _syscount_failed_openat(gate.pid)
    try:
        # syscount buffers its banner in a pipe: wait for its BPF programs instead.
        deadline = time.monotonic() + 30
        while len(programs_of(reference.pid)) < 2:
            assert reference.poll() is None and time.monotonic() < deadline, "syscount did not attach"
            time.sleep(0.05)
        sampling = []
        with SpawnedAgent() as agent:

            def progress(message):  # release the server once lineprobe samples too
                if message.phase == "sampling" and not sampling:
                    sampling.append(True)
                    assert gate.stdin is not None
                    gate.stdin.write("go\n")
                    gate.stdin.flush()

            raw = agent.trace("syscalls", gate.pid, 60.0, {"slow_ms": 1.0}, progress)
        gate.wait(30)
        reference.send_signal(signal.SIGINT)
        output, _ = reference.communicate(timeout=30)
    finally:
        for process in (gate, reference):
            if process.poll() is None:
                process.kill()
                process.wait()
    ours = next(f.count for f in raw.failures if f.syscall == "openat" and f.path == MISSING_CONFIG)
    m = re.search(r"^\s*openat\s+(\d+)", output, re.MULTILINE)
    assert m, output
    theirs = int(m.group(1))
    print(f"\nfailed openat: lineprobe {ours}, libbpf-tools syscount {theirs}, the program made {attempts}")
    assert raw.header.target_exited
    assert abs(ours - theirs) <= 0.05 * theirs
    assert ours == attempts


def test_logger_flush_is_the_slower_write(workloads: Path, spawn, tmp_path: Path) -> None:
    """A 1 MiB O_SYNC pwrite takes longer than a 1 KiB O_SYNC write: compared at the median.
    Not at the tail: a small write that waits behind the flush's I/O on the shared disk can be
    as slow as the flush itself (log.data's p99 above flush.data's was seen here in 1 run of 3,
    3.0 ms against 1.4 ms), and lineprobe is right to show it so. Nor by a fixed factor: both
    writes wait for ext4's journal commit, which on a fast virtual disk can be most of either's
    time (medians of 1.3 ms against 0.85 ms in one CI run; 2 to 10 times apart in others)."""
    target = spawn(workloads / "logger", tmp_path)
    report = syscalls_json("--pid", str(target.pid), "--duration", "5")
    by_file = {Path(s["file"]).name: s for s in report["slow"] if s["file"]}
    flush, log = by_file["flush.data"], by_file["log.data"]
    assert flush["bytes"] == flush["count"] * (1 << 20)
    assert flush["p50_us"] > log["p50_us"], (flush, log)
    assert flush["site"]["line"] == marked_line(LOGGER_C, "FLUSH-WRITE")
    assert log["site"]["line"] == marked_line(LOGGER_C, "APPEND-WRITE")
    block = report["block"]
    assert block["latency"]["count"] > 0 and block["latency"]["buckets"]
    assert block["requests"] and all(r["service_us"] >= 0 for r in block["requests"])


def test_held_out_o2_program_attributes_open_and_fsync(workloads: Path, spawn, tmp_path: Path) -> None:
    target = spawn(workloads / "heldout_io-O2", tmp_path)
    report = syscalls_json("--pid", str(target.pid), "--duration", "3", "--slow-ms", "0.5")
    failure = report["failures"][0]
    assert failure["path"] == f"{tmp_path}/missing/settings.ini" and failure["errno"] == "ENOENT"
    assert failure["site"]["line"] == marked_line(HELDOUT_C, "FAIL-OPEN")
    # gcc may name the function's clone read_settings.isra.0
    assert failure["site"]["function"].startswith("read_settings")
    fsync = next(s for s in report["slow"] if s["syscall"] == "fsync")
    assert fsync["site"]["line"] == marked_line(HELDOUT_C, "SLOW-FSYNC")
    assert report["slow"][0]["syscall"] == "fsync", [(s["syscall"], s["p99_us"]) for s in report["slow"]]


def test_a_syscall_flood_is_counted_not_fatal(workloads: Path) -> None:
    flood = subprocess.Popen([str(workloads / "syscall_loop"), "4", "0"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.2)
        report = syscalls_json("--pid", str(flood.pid), "--duration", "2")
    finally:
        out, _ = flood.communicate(timeout=30)
    getppid = next(s for s in report["syscalls"] if s["name"] == "getppid")
    assert getppid["count"] > 100_000
    assert report["lost"] == 0
    assert "calls=" in out


def test_a_launched_command_is_traced_from_its_exec() -> None:
    """The gate's read of its pipe and its `</dev/null` (dup2, fcntl) are lineprobe's calls, not the
    command's: they used to open the user's report."""
    done = subprocess.run(
        [*LINEPROBE, "syscalls", "--json", "--", "/bin/true"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    trace = json.loads(done.stdout)
    names = {s["name"] for s in trace["syscalls"]}
    assert {"execve", "mmap", "openat"} <= names  # the command's start: its exec and the loader
    assert not names & {"dup2", "fcntl", "wait4", "rt_sigaction"}, names
    assert not [i for i in trace["slow"] if (i["file"] or "").startswith("pipe:")], trace["slow"]


def test_io_is_named_by_the_file_its_descriptor_held_then(workloads: Path, tmp_path: Path) -> None:
    """fd 3 holds libc (the loader), then INPUT, then OUTPUT, then a pipe: a `readlink
    /proc/PID/fd/3` taken later named them all after whichever came last."""
    source = tmp_path / "input.data"
    source.write_bytes(b"y" * 40960)
    output = tmp_path / "output.data"
    done = subprocess.run(
        [*LINEPROBE, "syscalls", "--json", "--", str(workloads / "fdreuse"), str(source), str(output)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    trace = json.loads(done.stdout)
    io = {(i["syscall"], i["file"]): i for i in trace["slow"]}
    assert io[("read", str(source))]["count"] == 11  # ten 4 KiB reads and the one at end of file
    assert io[("write", str(output))]["count"] == 16
    # The pipe: named `pipe:[inode]` while it is open, else after the call that made it (pipe2).
    pipe_writes = [i for (call, name), i in io.items() if call == "write" and i["fd"] == 4]
    assert [(i["count"], i["file"].startswith("pipe")) for i in pipe_writes] == [(4, True)]
    loader = [i for (call, name), i in io.items() if call == "read" and (name or "").endswith("libc.so.6")]
    assert loader, io.keys()  # the loader's read of the C library, on fd 3 too
    assert all(i["fd"] == 3 for i in (io[("read", str(source))], io[("write", str(output))], *loader))


def test_logger_launched_twenty_times_never_mislabels_a_file(workloads: Path, tmp_path: Path) -> None:
    mislabelled = []
    for run in range(20):
        directory = tmp_path / f"run{run}"
        directory.mkdir()
        done = subprocess.run(
            [*LINEPROBE, "syscalls", "--json", "-d", "1.5", "--", str(workloads / "logger"), str(directory)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        for io in json.loads(done.stdout)["slow"]:
            if io["fd"] < 3:
                continue  # its standard streams
            name = io["file"] or ""
            # The logger writes only its two files; the loader only reads libraries.
            if io["syscall"] in ("write", "pwrite64", "fsync") and not name.startswith(str(directory)):
                mislabelled.append((run, io["syscall"], name))
            if io["syscall"] in ("read", "pread64") and name.startswith(str(directory)):
                mislabelled.append((run, io["syscall"], name))
    assert mislabelled == []


def test_every_system_call_of_a_threaded_program_is_named(workloads: Path) -> None:
    """OpenMP starts its threads with clone3 (435), which bcc's table does not name."""
    done = subprocess.run(
        [*LINEPROBE, "syscalls", "--json", "-d", "1", "--", str(workloads / "primes"), "20000", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    names = {s["name"] for s in json.loads(done.stdout)["syscalls"]}
    assert "clone3" in names
    assert not [name for name in names if name.startswith("[unknown")]
