"""How much of a real server's profile stays unnamed: lineprobe against perf, in the same run.

MariaDB from Debian's packages (`mariadbd`, no debug package: names come from
its `.dynsym`; libc's from libc6-dbg when installed, as for perf) runs an
insert loop in a throwaway data directory started here; lineprobe and
`perf record -g` sample it side by side for the same seconds at 99 Hz. The
figure is the share of samples whose innermost frame has no function name:
lineprobe's `[unknown in BINARY]` functions, perf's `0x...` symbols.

    python tests/benchmarks/mariadb_names.py [--seconds 5]

Exits 1 if lineprobe leaves more unnamed than perf (beyond 2 points of
sampling noise), or if either tool took no samples.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINEPROBE = [sys.executable, "-m", "lineprobe.cli"]
FILL = (
    "delimiter //\n"
    "create procedure fill(n int) begin declare i int default 0;"
    " while i < n do insert into x(b) values (repeat('x', 50)); set i = i + 1; end while; end//\n"
    "delimiter ;\n"
)


def start_mariadb(folder: Path) -> subprocess.Popen[bytes]:
    data, socket = folder / "data", folder / "sock"
    subprocess.run(
        ["mariadb-install-db", f"--datadir={data}", "--user=root"], check=True, capture_output=True
    )
    server = subprocess.Popen(
        [
            "mariadbd",
            f"--datadir={data}",
            f"--socket={socket}",
            "--user=root",
            "--skip-networking",
            f"--pid-file={folder / 'pid'}",
            f"--log-error={folder / 'error.log'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not socket.exists():
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"mariadbd did not start: {(folder / 'error.log').read_text()[-500:]}")
        time.sleep(0.1)
    client = ["mariadb", f"--socket={socket}"]
    subprocess.run(
        [*client, "-e", "create database t; create table t.x(a int primary key auto_increment, b text)"],
        check=True,
    )
    subprocess.run([*client, "t"], input=FILL.encode(), check=True)
    return server


def lineprobe_unnamed(pid: int, seconds: float) -> tuple[float, int]:
    done = subprocess.run(
        [*LINEPROBE, "profile", "--json", "--pid", str(pid), "-d", str(seconds)],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(done.stdout)
    unnamed = sum(f["self_percent"] for f in report["functions"] if f["function"].startswith("[unknown"))
    return unnamed, report["samples"]


def perf_unnamed(data: Path) -> tuple[float, int]:
    out = subprocess.run(
        ["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort", "dso,sym", "-g", "none"],
        capture_output=True,
        text=True,
    ).stdout
    shares = re.findall(r"^\s+([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(\S+)", out, re.MULTILINE)
    samples = re.search(r"# Samples: (\d+)", out)
    unnamed = sum(float(share) for share, _, symbol in shares if symbol.startswith("0x"))
    return unnamed, int(samples.group(1)) if samples else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    for tool in ("mariadbd", "mariadb-install-db", "mariadb", "perf"):
        if shutil.which(tool) is None:
            raise SystemExit(
                f"{tool} is missing: `make bench-mariadb` installs mariadb-server and linux-perf"
            )
    folder = Path(tempfile.mkdtemp(prefix="lineprobe-mariadb-"))
    server = start_mariadb(folder)
    load = subprocess.Popen(
        ["mariadb", f"--socket={folder / 'sock'}", "t", "-e", "call fill(100000000)"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.0)  # the insert loop under way
        data = folder / "perf.data"
        perf = subprocess.Popen(
            [
                "perf",
                "record",
                "-q",
                "-F",
                "99",
                "-g",
                "-p",
                str(server.pid),
                "-o",
                str(data),
                "--",
                "sleep",
                str(args.seconds),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        ours, our_samples = lineprobe_unnamed(server.pid, args.seconds)
        perf.wait(args.seconds + 60)
        theirs, their_samples = perf_unnamed(data)
    finally:
        load.kill()
        load.wait()
        server.terminate()
        server.wait(60)
        shutil.rmtree(folder, ignore_errors=True)
    print(f"mariadbd insert loop, {args.seconds:.0f} s at 99 Hz, side by side:")
    print(f"  lineprobe: {ours:5.1f}% of {our_samples} samples unnamed")
    print(f"  perf:      {theirs:5.1f}% of {their_samples} samples unnamed")
    if not our_samples or not their_samples or ours > theirs + 2.0:
        print("FAILED: lineprobe leaves more unnamed than perf", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
