"""Address-to-source symbolization, side by side: lineprobe, llvm-symbolizer and addr2line.

For each binary, one address set (N random instruction addresses, seeded, drawn
with replacement, uniformly over the instructions of the symbol table's FUNC
symbols, kept only where llvm-symbolizer finds a file and a line > 0) is fed,
one address per line on stdin, to:

  llvm-symbolizer  `llvm-symbolizer --output-style=JSON -f -i -C -e BIN` (the reference)
  addr2line        `addr2line -a -f -i -C -e BIN` (GNU binutils)
  lineprobe        `python -m lineprobe.cli symbolize --json -e BIN`
  lineprobe (debug file)
                   the same with `-e` pointing at the separate debug file found by
                   build-id under /usr/lib/debug/.build-id, when BIN has no DWARF
                   itself (libjvm.so); the plain row finds that file by itself.

Binaries: workloads/build/inlined-O2 and primes-O2 (small gcc -O2 programs with
inlining), pyenv's libpython3.11.so.1.0 (skipped with a message when absent) and
OpenJDK 17's libjvm.so with Debian's openjdk-17-dbg debug file (skipped when the
debug file for its build-id is missing; `make bench-symbolize` installs it).

Each tool runs as its own process (under /usr/bin/time, for a clean peak RSS), after
an os.sync() so that no earlier run's writeback falls into its time:
wall seconds and peak RSS (ru_maxrss) of the whole process, start-up and output
included. Each tool runs --repeat times (3) per phase, the tools taking turns, and
the median time is reported (every run's is in the --json output): one slow spell
of a shared machine then moves no figure.

  cold   LINEPROBE_CACHE_DIR set to a fresh empty directory (a new one each time)
  warm   after the cold runs, with the cache the last cold run left.
         The other tools keep no cache on disk: their warm run is just a second
         run. The binaries are in the page cache for both runs unless
         --drop-caches is given (root; it drops the page cache of the whole
         machine before each cold run).

The table's ratios are against llvm-symbolizer's cold run: cold/llvm and
warm/llvm (seconds), RSS/llvm (peak memory of either run).

Agreement with llvm-symbolizer, over the addresses a tool answered:
  innermost    the innermost frame's (file, line) equal
  inline chain the whole chain, innermost first, of (function, file, line) equal;
               functions are compared by unqualified name without parameters,
               template arguments or GCC clone suffixes (DWARF names vs demangled
               linkage names vs ELF symbol names)

A run longer than --timeout seconds is killed and reported as timed out; its
agreement counts the addresses it answered before that.

    python tests/benchmarks/symbolize_bench.py [--addresses 10000] [--seed 1] [--timeout 300]
        [--binaries inlined-O2,primes-O2,libpython,libjvm] [--repeat 3] [--drop-caches] [--json FILE]
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import glob
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "workloads" / "build"
LIBJVM = Path("/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so")
PYENV_LIBPYTHON = Path("/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0")
DEBUG_ROOT = Path("/usr/lib/debug/.build-id")
ALL_BINARIES = ("inlined-O2", "primes-O2", "libpython", "libjvm")

Frame = tuple[str, str, int]  # (function, file, line)


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float
    status: str  # "ok", "timed out", "exit N"
    stderr: str = ""
    each_seconds: list[float] = field(default_factory=list)
    """Every repetition's seconds; ``seconds`` is their median."""


def summarize(runs: list[Run]) -> Run:
    """The median time of repeated runs, their highest peak memory and their worst status."""
    failed = [r for r in runs if r.status != "ok"]
    worst = failed[0] if failed else runs[0]
    times = [r.seconds for r in runs]
    return Run(statistics.median(times), max(r.peak_rss_mb for r in runs), worst.status, worst.stderr, times)


@dataclass
class ToolResult:
    name: str
    argv: list[str]
    cold: Run | None = None
    warm: Run | None = None
    answered: int = 0
    innermost_percent: float | None = None
    chain_percent: float | None = None
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- binaries


def find_libpython() -> Path | None:
    if PYENV_LIBPYTHON.exists():
        return PYENV_LIBPYTHON
    patterns = [
        "/root/.pyenv/versions/3.11*/lib/libpython3.11.so*",
        "/usr/local/lib/libpython3.11.so*",
        "/usr/lib/x86_64-linux-gnu/libpython3.11.so*",
    ]
    for pattern in patterns:
        for candidate in sorted(glob.glob(pattern)):
            if has_dwarf(Path(candidate)):
                return Path(candidate)
    return None


def build_id(path: Path) -> str | None:
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import NoteSection

    with path.open("rb") as f:
        for section in ELFFile(f).iter_sections():
            if not isinstance(section, NoteSection):
                continue
            for note in section.iter_notes():
                if note["n_type"] == "NT_GNU_BUILD_ID":
                    return str(note["n_desc"])
    return None


def has_dwarf(path: Path) -> bool:
    from elftools.elf.elffile import ELFFile

    with path.open("rb") as f:
        elf = ELFFile(f)
        for name in (".debug_info", ".zdebug_info"):
            section = elf.get_section_by_name(name)
            if section is not None and section["sh_type"] != "SHT_NOBITS" and section["sh_size"] > 0:
                return True
    return False


def debug_file_for(path: Path) -> Path | None:
    ident = build_id(path)
    if not ident:
        return None
    candidate = DEBUG_ROOT / ident[:2] / f"{ident[2:]}.debug"
    return candidate if candidate.exists() else None


def select_binaries(names: list[str]) -> list[tuple[str, Path, Path | None]]:
    """(label, binary, separate debug file or None) for each binary that can run."""
    chosen: list[tuple[str, Path, Path | None]] = []
    for name in names:
        if name in ("inlined-O2", "primes-O2"):
            path = BUILD / name
            if not path.exists():
                subprocess.run(["make", "-s", "-C", str(ROOT / "workloads")], check=True)
            chosen.append((name, path, None))
        elif name == "libpython":
            lib = find_libpython()
            if lib is None:
                print("skip libpython: no libpython3.11.so with DWARF found", file=sys.stderr)
                continue
            chosen.append((name, lib, None))
        elif name == "libjvm":
            if not LIBJVM.exists():
                print(f"skip libjvm: no {LIBJVM} (apt-get install openjdk-17-jre-headless)", file=sys.stderr)
                continue
            debug = None if has_dwarf(LIBJVM) else debug_file_for(LIBJVM)
            if debug is None and not has_dwarf(LIBJVM):
                print(
                    f"skip libjvm: no debug file for build-id {build_id(LIBJVM)} under {DEBUG_ROOT} "
                    "(apt-get install openjdk-17-dbg, same version as openjdk-17-jre-headless)",
                    file=sys.stderr,
                )
                continue
            chosen.append((name, LIBJVM, debug))
        else:
            raise SystemExit(f"unknown binary {name!r}; choose from {', '.join(ALL_BINARIES)}")
    return chosen


# ---------------------------------------------------------------- address sets


def function_ranges(binary: Path, debug: Path | None) -> list[tuple[int, int]]:
    """[start, end) of sized FUNC symbols: .symtab of the binary, else of its debug file, else .dynsym."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    ranges: set[tuple[int, int]] = set()
    for source, table in ((binary, ".symtab"), (debug, ".symtab"), (binary, ".dynsym")):
        if source is None:
            continue
        with source.open("rb") as f:
            section = ELFFile(f).get_section_by_name(table)
            if not isinstance(section, SymbolTableSection):
                continue
            for symbol in section.iter_symbols():
                if symbol["st_info"]["type"] == "STT_FUNC" and symbol["st_size"] > 0 and symbol["st_value"]:
                    ranges.add((symbol["st_value"], symbol["st_value"] + symbol["st_size"]))
        if ranges:
            break
    return sorted(ranges)


def instruction_addresses(binary: Path) -> array[int]:
    """Every instruction address objdump finds in the executable sections, sorted."""
    out = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", str(binary)], capture_output=True, check=True
    ).stdout
    found = array("Q", (int(m, 16) for m in re.findall(rb"(?m)^ *([0-9a-f]+):\t", out)))
    return array("Q", sorted(set(found)))


def candidate_addresses(binary: Path, debug: Path | None, count: int, rng: random.Random) -> list[int]:
    """``count`` instruction addresses, uniform over the instructions inside functions."""
    instructions = instruction_addresses(binary)
    spans: list[tuple[int, int]] = []  # index range into instructions, per function
    for start, end in function_ranges(binary, debug):
        lo = bisect.bisect_left(instructions, start)
        hi = bisect.bisect_left(instructions, end)
        if hi > lo:
            spans.append((lo, hi))
    if not spans:
        raise SystemExit(f"{binary}: no instructions inside FUNC symbols")
    cumulative = []
    total = 0
    for lo, hi in spans:
        total += hi - lo
        cumulative.append(total)
    picks = []
    for _ in range(count):
        k = rng.randrange(total)
        i = bisect.bisect_right(cumulative, k)
        lo, hi = spans[i]
        picks.append(instructions[lo + k - (cumulative[i] - (hi - lo))])
    return picks


def address_set(binary: Path, debug: Path | None, count: int, seed: int, workdir: Path) -> list[int]:
    """``count`` addresses that llvm-symbolizer resolves to a file and a line > 0."""
    rng = random.Random(seed)
    chosen: list[int] = []
    for _ in range(8):
        need = count - len(chosen)
        if need <= 0:
            break
        batch = candidate_addresses(binary, debug, need + need // 4 + 16, rng)
        answers = parse_llvm(run_untimed(llvm_argv(binary), batch, workdir))
        chosen += [a for a in batch if answers.get(a) and answers[a][0][1] and answers[a][0][2] > 0]
    if len(chosen) < count:
        print(f"note: only {len(chosen)} of {count} addresses with line info in {binary}", file=sys.stderr)
    return chosen[:count]


# ---------------------------------------------------------------- tools and parsers


def llvm_argv(binary: Path) -> list[str]:
    return ["llvm-symbolizer", "--output-style=JSON", "-f", "-i", "-C", "-e", str(binary)]


def addr2line_argv(binary: Path) -> list[str]:
    return ["addr2line", "-a", "-f", "-i", "-C", "-e", str(binary)]


def lineprobe_argv(binary: Path) -> list[str]:
    return [sys.executable, "-m", "lineprobe.cli", "symbolize", "--json", "-e", str(binary)]


def run_untimed(argv: list[str], addresses: list[int], workdir: Path) -> str:
    text = "".join(f"0x{a:x}\n" for a in addresses)
    return subprocess.run(argv, input=text, capture_output=True, text=True, check=True, cwd=workdir).stdout


def clean_path(path: str | None) -> str:
    if not path or path.startswith("??"):
        return ""
    return os.path.normpath(path)


def parse_llvm(output: str) -> dict[int, list[Frame]]:
    result: dict[int, list[Frame]] = {}
    for line in output.splitlines():
        if not line.startswith("{"):
            continue
        obj = json.loads(line)
        frames = [
            (s.get("FunctionName") or "", clean_path(s.get("FileName")), int(s.get("Line") or 0))
            for s in obj.get("Symbol", [])
        ]
        result[int(obj["Address"], 16)] = frames
    return result


def parse_lineprobe(output: str) -> dict[int, list[Frame]]:
    result: dict[int, list[Frame]] = {}
    for line in output.splitlines():
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue  # the last line of a run killed at the timeout
        result[int(obj["address"], 16)] = [
            (f["function"] or "", clean_path(f["path"]), int(f["line"] or 0)) for f in obj["frames"]
        ]
    return result


ADDR2LINE_ADDRESS = re.compile(r"^0x[0-9a-f]+$")
DISCRIMINATOR = re.compile(r" \(discriminator \d+\)$")


def parse_addr2line(output: str) -> dict[int, list[Frame]]:
    """`addr2line -a -f -i`: the address, then (function, file:line) pairs innermost first."""
    result: dict[int, list[Frame]] = {}
    frames: list[Frame] = []
    lines = output.splitlines()
    i = 0
    while i < len(lines):
        if ADDR2LINE_ADDRESS.match(lines[i]):
            frames = result[int(lines[i], 16)] = []  # repeated addresses: keep the last answer
            i += 1
            continue
        if i + 1 >= len(lines):
            break
        function = "" if lines[i] == "??" else lines[i]
        where = DISCRIMINATOR.sub("", lines[i + 1])
        path, _, number = where.rpartition(":")
        frames.append((function, clean_path(path), int(number) if number.isdigit() else 0))
        i += 2
    return result


CLONE_SUFFIX = re.compile(r"(\.(constprop|isra|part|cold|lto_priv|localalias|clone)(\.\d+)?)+$")


def base_name(name: str) -> str:
    """`ns::Class<T>::method(int) const [clone .cold]` -> `method`; `run.constprop.0` -> `run`.

    GCC clone suffixes go: llvm-symbolizer names a clone's outer frame after its ELF
    symbol, addr2line after its DWARF name; both name the same source function.
    """
    text = name.strip()
    text = re.sub(r"( \[clone [^\]]*\]| \(\.[\w.]+\))+$", "", text)
    text = CLONE_SUFFIX.sub("", text)
    depth = 0
    for index, char in enumerate(text):
        if char == "<":
            depth += 1
        elif char == ">":
            depth = max(0, depth - 1)
        elif char == "(" and depth == 0 and not text[:index].endswith("operator"):
            text = text[:index]
            break
    while text.endswith(">") and "<" in text and not text.endswith("operator>"):
        depth, cut = 0, -1
        for index in range(len(text) - 1, -1, -1):
            depth += {">": 1, "<": -1}.get(text[index], 0)
            if depth == 0:
                cut = index
                break
        if cut <= 0:
            break
        text = text[:cut]
    return text.rsplit("::", 1)[-1]


def agreement(
    reference: dict[int, list[Frame]], answers: dict[int, list[Frame]], addresses: list[int]
) -> tuple[int, float | None, float | None]:
    answered = [a for a in addresses if a in answers and a in reference]
    if not answered:
        return 0, None, None
    innermost = chain = 0
    for address in answered:
        ref, got = reference[address], answers[address]
        if got and ref and got[0][1:] == ref[0][1:]:
            innermost += 1
        if [(base_name(f), p, n) for f, p, n in got] == [(base_name(f), p, n) for f, p, n in ref]:
            chain += 1
    return len(answered), 100.0 * innermost / len(answered), 100.0 * chain / len(answered)


# ---------------------------------------------------------------- measurement


def drop_page_cache() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


GNU_TIME = Path("/usr/bin/time")


def timed_run(argv: list[str], stdin: Path, stdout: Path, env: dict[str, str], timeout: float) -> Run:
    """One process: wall seconds and peak RSS; the tool is killed at the timeout.

    Peak RSS comes from GNU time, which forks the tool: a process forked from this
    script would inherit its memory high-water mark (Linux keeps it across exec),
    and the objdump pass over libjvm makes that hundreds of MB. Without
    /usr/bin/time, wait4() gives a value that may include this script's memory.
    """
    stderr = stdout.with_suffix(".err")
    rss_file = stdout.with_suffix(".rss")
    rss_file.unlink(missing_ok=True)
    # Earlier runs' output and cache files are written back before the clock starts: a
    # cold run leaves hundreds of MB dirty, and their writeback would land in whichever
    # tool runs next.
    os.sync()
    wrapped = [str(GNU_TIME), "-f", "%M", "-o", str(rss_file), *argv] if GNU_TIME.exists() else argv
    with stdin.open("rb") as fin, stdout.open("wb") as fout, stderr.open("wb") as ferr:
        start = time.perf_counter()
        proc = subprocess.Popen(wrapped, stdin=fin, stdout=fout, stderr=ferr, env=env, start_new_session=True)
    expired = threading.Event()

    def kill() -> None:
        """Kill the tool (GNU time's child, so that time still reports), else the whole group."""
        expired.set()
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        with contextlib.suppress(OSError):
            pids = [int(p) for p in children.read_text().split()] if wrapped is not argv else []
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            if pids:
                return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        _, wait_status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(wait_status)
    peak_kb = float(usage.ru_maxrss)
    if rss_file.exists():
        numbers = re.findall(r"(?m)^(\d+)$", rss_file.read_text())
        if numbers:
            peak_kb = float(numbers[-1])
        code = re.search(r"Command exited with non-zero status (\d+)", rss_file.read_text())
        proc.returncode = int(code.group(1)) if code else proc.returncode
    if expired.is_set():
        status = "timed out"
    elif proc.returncode == 0:
        status = "ok"
    else:
        status = f"exit {proc.returncode}"
    error = stderr.read_text(errors="replace").strip()[-300:]
    return Run(seconds, peak_kb / 1024.0, status, error)


def bench_binary(
    label: str, binary: Path, debug: Path | None, args: argparse.Namespace, workdir: Path
) -> dict[str, object]:
    print(f"\n== {label}: {binary}" + (f" (debug file {debug})" if debug else ""), file=sys.stderr)
    started = time.perf_counter()
    addresses = address_set(binary, debug, args.addresses, args.seed, workdir)
    print(
        f"   {len(addresses)} addresses with line info ({time.perf_counter() - started:.1f} s to choose)",
        file=sys.stderr,
    )
    stdin = workdir / f"{label}.addresses"
    stdin.write_text("".join(f"0x{a:x}\n" for a in addresses))

    tools = [
        ToolResult("llvm-symbolizer", llvm_argv(binary)),
        ToolResult("addr2line", addr2line_argv(binary)),
        ToolResult("lineprobe", lineprobe_argv(binary)),
    ]
    if debug is not None:
        tools.append(ToolResult("lineprobe (debug file)", lineprobe_argv(debug)))
    parsers = {"llvm-symbolizer": parse_llvm, "addr2line": parse_addr2line}
    cache_dirs = {t.name: Path(tempfile.mkdtemp(prefix="cache-", dir=workdir)) for t in tools}
    outputs: dict[str, Path] = {}
    for phase in ("cold", "warm"):
        runs: dict[str, list[Run]] = {t.name: [] for t in tools}
        # Repetitions go round the tools in turn, so a slow spell of the machine falls on all.
        for repetition in range(args.repeat):
            for tool in tools:
                if phase == "warm" and tool.cold is not None and tool.cold.status == "timed out":
                    if repetition == 0:
                        tool.notes.append("warm run skipped: the cold run timed out")
                    continue
                if runs[tool.name] and runs[tool.name][-1].status == "timed out":
                    continue  # one timeout is enough
                if phase == "cold":
                    # Each cold run starts from an empty cache; warm runs use the last one's.
                    cache_dirs[tool.name] = Path(tempfile.mkdtemp(prefix="cache-", dir=workdir))
                    if args.drop_caches:
                        drop_page_cache()
                env = dict(os.environ, LINEPROBE_CACHE_DIR=str(cache_dirs[tool.name]))
                slug = re.sub(r"\W+", "_", tool.name)
                out = workdir / f"{label}.{slug}.{phase}.{repetition}.out"
                run = timed_run(tool.argv, stdin, out, env, args.timeout)
                runs[tool.name].append(run)
                outputs.setdefault(tool.name, out)  # agreement from the first cold run
                figures = f"{run.seconds:8.2f} s {run.peak_rss_mb:8.0f} MB  {run.status}"
                print(f"   {phase:4s} {tool.name:24s} {figures}", file=sys.stderr)
                if run.status.startswith("exit"):
                    tool.notes.append(f"{phase}: {run.status}: {run.stderr}")
                cache_empty = not any(cache_dirs[tool.name].iterdir())
                if phase == "cold" and repetition == 0 and tool.name.startswith("lineprobe") and cache_empty:
                    tool.notes.append("no on-disk cache written: warm is a second run of the same work")
        for tool in tools:
            if runs[tool.name]:
                setattr(tool, phase, summarize(runs[tool.name]))

    reference = parse_llvm(outputs["llvm-symbolizer"].read_text(errors="replace"))
    for tool in tools:
        parse = parsers.get(tool.name, parse_lineprobe)
        answers = parse(outputs[tool.name].read_text(errors="replace"))
        tool.answered, tool.innermost_percent, tool.chain_percent = agreement(reference, answers, addresses)
    return {
        "binary": str(binary),
        "debug_file": str(debug) if debug else None,
        "addresses": len(addresses),
        "tools": {
            t.name: {
                "argv": t.argv,
                "cold": t.cold.__dict__ if t.cold else None,
                "warm": t.warm.__dict__ if t.warm else None,
                "answered": t.answered,
                "innermost_agreement_percent": t.innermost_percent,
                "inline_chain_agreement_percent": t.chain_percent,
                "notes": t.notes,
            }
            for t in tools
        },
    }


def print_table(label: str, result: dict[str, object]) -> None:
    tools = result["tools"]
    assert isinstance(tools, dict)
    reference = tools["llvm-symbolizer"]
    ref_cold = reference["cold"]["seconds"] if reference["cold"] else None
    ref_rss = reference["cold"]["peak_rss_mb"] if reference["cold"] else None

    def seconds(run: dict[str, object] | None) -> str:
        if run is None:
            return "skipped"
        text = f"{run['seconds']:.2f}"
        return f">{text} timeout" if run["status"] == "timed out" else text

    def percent(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    print(f"\n{label}: {result['binary']}, {result['addresses']} addresses (median of each tool's runs)")
    header = f"{'tool':24s} {'cold s':>16s} {'warm s':>16s} {'peak MB':>8s} {'inner %':>8s} {'chain %':>8s}"
    print(header + f" {'cold/llvm':>9s} {'warm/llvm':>9s} {'RSS/llvm':>8s} {'answered':>8s}")
    for name, data in tools.items():
        runs = [r for r in (data["cold"], data["warm"]) if r]
        peak = max(r["peak_rss_mb"] for r in runs) if runs else 0.0
        cold = data["cold"]
        ratio = f"{cold['seconds'] / ref_cold:9.2f}" if cold and ref_cold else f"{'':9s}"
        # Warm against the reference's cold run: what a second look costs, next to the first.
        warm = data["warm"]
        warm_ratio = f"{warm['seconds'] / ref_cold:9.3f}" if warm and ref_cold else f"{'':9s}"
        rss_ratio = f"{peak / ref_rss:8.2f}" if ref_rss else f"{'':8s}"
        inner = percent(data["innermost_agreement_percent"])
        chain = percent(data["inline_chain_agreement_percent"])
        print(
            f"{name:24s} {seconds(cold):>16s} {seconds(data['warm']):>16s} {peak:8.0f} {inner:>8s}"
            f" {chain:>8s} {ratio} {warm_ratio} {rss_ratio} {data['answered']:8d}"
        )
        for note in data["notes"]:
            print(f"    note: {note}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--addresses", type=int, default=10_000, help="addresses per binary")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per tool run")
    parser.add_argument("--binaries", default=",".join(ALL_BINARIES), help="comma-separated subset")
    parser.add_argument(
        "--drop-caches", action="store_true", help="drop the page cache before each cold run (root)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each tool and phase; the median is reported"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.drop_caches and os.geteuid() != 0:
        raise SystemExit("--drop-caches needs root")

    results: dict[str, object] = {
        "addresses": args.addresses,
        "seed": args.seed,
        "timeout_s": args.timeout,
        "drop_caches": args.drop_caches,
        "repeat": args.repeat,
        "binaries": {},
    }
    binaries = results["binaries"]
    assert isinstance(binaries, dict)
    with tempfile.TemporaryDirectory(prefix="lineprobe-symbolize-bench-") as tmp:
        for label, binary, debug in select_binaries([b for b in args.binaries.split(",") if b]):
            binaries[label] = bench_binary(label, binary, debug, args, Path(tmp))
    print(
        "\ncold: fresh LINEPROBE_CACHE_DIR; warm: second run with the same one. Wall seconds and peak RSS"
        "\nof the whole process. Agreement with llvm-symbolizer over the addresses each tool answered."
    )
    for label, result in binaries.items():
        print_table(label, result)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
