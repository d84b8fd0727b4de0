"""USDT probes counted with real uprobes, against workloads/probes' own counts and bcc's argdist.

Ground truth: ``workloads/build/probes N wait`` waits for a line on stdin, then
fires lineprobe_demo:request N times (REQUEST-PROBE; its second argument cycles
through 64, 128, 256 and 512, a quarter each), lineprobe_demo:slow every 10th
round (SLOW-PROBE) and lineprobe_demo:tick every 1000th, from ``tick()``
(TICK-PROBE), and prints its counts. The test lets it go only once the uprobe is
in place: the kernel writes an int3 over the probe site's nop in the target's
memory, which the test reads through /proc/PID/mem.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lineprobe.symbolization.resolver import ImageCache
from lineprobe.usdt.listing import probes_of_binary

from tests.conftest import LINEPROBE, WORKLOADS, have, marked_line

pytestmark = pytest.mark.privileged

PROBES_C = WORKLOADS / "probes" / "probes.c"
ROUNDS = 200_000
INT3 = 0xCC


def site_address(binary: Path, probe: str) -> int:
    listing = probes_of_binary(str(binary), ImageCache())
    [found] = [p for p in listing.probes if p.probe == probe]
    return found.sites[0].address


def runtime_address(pid: int, binary: Path, vaddr: int) -> int:
    """Where ELF address ``vaddr`` of ``binary`` is in process ``pid`` (a PIE: its load base + vaddr)."""
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) == 6 and fields[5] == str(binary) and int(fields[2], 16) == 0:
                return int(fields[0].split("-")[0], 16) + vaddr
    raise AssertionError(f"{binary} is not mapped in {pid}")


def wait_for_uprobe(pid: int, address: int, tracer: subprocess.Popen[str], timeout_s: float = 90) -> None:
    """Until the kernel has put its breakpoint on ``address`` (an uprobe is attached there)."""
    deadline = time.monotonic() + timeout_s
    fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    try:
        while os.pread(fd, 1, address)[0] != INT3:
            assert tracer.poll() is None, tracer.communicate()
            assert time.monotonic() < deadline, "the probe was never attached"
            time.sleep(0.05)
    finally:
        os.close(fd)


class Run:
    """workloads/build/probes, waiting on its stdin until ``go``."""

    def __init__(self, workloads: Path, probe: str, rounds: int = ROUNDS) -> None:
        self.binary = workloads / "probes"
        self.program = subprocess.Popen(
            [str(self.binary), str(rounds), "wait"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.probe = probe
        self.tracers: list[subprocess.Popen[str]] = []
        self.truth: dict[str, int] = {}
        self.output = ""

    def trace(self, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        tracer = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.tracers.append(tracer)
        return tracer

    def release(self) -> None:
        assert self.program.stdin is not None
        self.program.stdin.write("go\n")
        self.program.stdin.flush()

    def go(self) -> dict[str, int]:
        """Let the program fire; wait for it; its own counts."""
        self.release()
        self.output, _ = self.program.communicate(timeout=60)
        words = self.output.split()
        self.truth = {words[i]: int(words[i + 1]) for i in range(0, 6, 2)}
        return self.truth

    def close(self) -> None:
        self.program.kill()
        self.program.wait()
        for tracer in self.tracers:
            if tracer.poll() is None:
                tracer.kill()
                tracer.wait()


@pytest.fixture
def runs(workloads: Path) -> Iterator[Callable[..., Run]]:
    made: list[Run] = []

    def start(probe: str, rounds: int = ROUNDS) -> Run:
        made.append(Run(workloads, probe, rounds))
        return made[-1]

    yield start
    for run in made:
        run.close()


def lineprobe(*args: str) -> list[str]:
    return [*LINEPROBE, "usdt", "count", *args]


def count_through_the_agent(
    run: Run, kind: str, parameters: dict[str, object], live: list[Any] | None = None
) -> Any:
    """One request to a real agent while the program waits; the program goes once the agent's
    window is open (its first "sampling" progress), so that every hit falls inside it. (The
    kernel's int3 on the site is not enough: the uprobe's program is set, and the gate
    approved, a moment later.) The live reports that come with progress go to ``live``."""
    from lineprobe.capture.spawned import SpawnedAgent

    counting = threading.Event()
    answer: list[object] = []

    def on_progress(message: Any) -> None:
        if message.phase == "sampling":
            counting.set()
        if message.live is not None and live is not None:
            live.append(message.live)

    def count() -> None:
        with SpawnedAgent() as agent:
            answer.append(agent.trace(kind, run.program.pid, 120.0, parameters, on_progress))

    worker = threading.Thread(target=count)
    worker.start()
    try:
        assert counting.wait(90), "lineprobe never started counting"
        run.go()
    finally:
        worker.join(120)
    [result] = answer
    return result


@pytest.mark.parametrize(
    ("name", "marker", "counted"),
    [
        ("request", "REQUEST-PROBE", "requests"),
        ("slow", "SLOW-PROBE", "slow"),
        ("tick", "TICK-PROBE", "ticks"),
    ],
)
def test_every_hit_is_counted_on_its_probe_line(runs, name: str, marker: str, counted: str) -> None:
    from lineprobe.capture import kinds

    run = runs(f"lineprobe_demo:{name}")
    raw = count_through_the_agent(run, "stackcount", {"tracepoint": f"usdt:{run.probe}"})
    profile = kinds.STACKCOUNT.resolve(raw, ImageCache(), False)
    truth = run.truth
    assert profile.cost.title == f"usdt:lineprobe_demo:{name} hits"
    assert profile.total == truth[counted] > 0, (profile.total, truth)
    [site] = [s for s in profile.lines if s.path == str(PROBES_C) and s.self_cost]
    assert (site.line, site.self_cost) == (marked_line(PROBES_C, marker), truth[counted])
    if name == "tick":  # called from main's loop: the caller's line carries the hits in total
        caller = marked_line(PROBES_C, "tick(round);")
        totals = {s.line: s.total_cost for s in profile.lines if s.path == str(PROBES_C)}
        assert totals.get(caller) == truth[counted], totals


@pytest.mark.skipif(not have("argdist-bpfcc"), reason="needs bcc's argdist-bpfcc: sudo make setup")
def test_argument_counts_match_argdist_side_by_side(runs) -> None:
    """One program run, counted at once by bcc's argdist and by lineprobe: the same 4 groups,
    each a quarter of the requests the program made. argdist attaches first (the int3 on the
    site says when, and lineprobe's compile takes seconds more); lineprobe's agent says when
    its window is open."""
    from lineprobe_agent.kernel_source import find_kernel_headers

    run = runs("lineprobe_demo:request")
    env = {**os.environ, "BCC_KERNEL_SOURCE": str(find_kernel_headers().path), "PYTHONUNBUFFERED": "1"}
    spec = f"u:{run.binary}:request():int:arg2"
    # Printed every second, cumulative (-c): clearing between intervals loses the hits that land
    # while argdist empties its map (about 7% at this rate here).
    argdist = run.trace(["argdist-bpfcc", "-p", str(run.program.pid), "-i", "1", "-c", "-C", spec], env)
    address = runtime_address(run.program.pid, run.binary, site_address(run.binary, run.probe))
    wait_for_uprobe(run.program.pid, address, argdist)

    by_size = [{"number": 2, "text": False, "length_argument": 0}]
    counts = count_through_the_agent(run, "probe-args", {"probe": run.probe, "group_by": by_size})
    ours = {group.values[0]: group.count for group in counts.groups}
    assert ours == {size: ROUNDS // 4 for size in (64, 128, 256, 512)}, ours
    assert counts.events == run.truth["requests"] == ROUNDS and counts.lost == 0, counts

    time.sleep(2.5)  # argdist's interval that saw the last hits is printed
    argdist.send_signal(signal.SIGINT)
    ref_out, ref_err = argdist.communicate(timeout=60)
    reference: dict[int, int] = {}
    for line in ref_out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[1] == "arg2" and parts[0].isdigit():
            reference[int(parts[3])] = int(parts[0])  # the last interval's: the whole run's
    print(f"lineprobe {ours}; argdist {reference}")
    assert reference == ours, (ref_out, ref_err)


def test_the_cli_counts_by_stack_and_by_argument(runs) -> None:
    """``lineprobe usdt count`` on a program that keeps firing: the reports' shape and lines."""
    run = runs("lineprobe_demo:request", rounds=10**12)
    run.release()
    pid = str(run.program.pid)
    by_stack = subprocess.run(
        lineprobe("--pid", pid, "-d", "1", "--stack", "--json", run.probe), capture_output=True, text=True
    )
    assert by_stack.returncode == 0, by_stack.stderr
    report = json.loads(by_stack.stdout)
    assert report["unit"] == "hits" and report["samples"] > 1000
    hot = report["lines"][0]
    want = (str(PROBES_C), marked_line(PROBES_C, "REQUEST-PROBE"), 100.0)
    assert (hot["path"], hot["line"], hot["self_percent"]) == want
    by_size = subprocess.run(
        lineprobe("--pid", pid, "-d", "1", "--arg", "2", "--json", run.probe), capture_output=True, text=True
    )
    assert by_size.returncode == 0, by_size.stderr
    counts = json.loads(by_size.stdout)
    groups = {g["values"][0]: g["count"] for g in counts["groups"]}
    assert set(groups) == {64, 128, 256, 512} and sum(groups.values()) == counts["events"] > 1000
    assert max(groups.values()) - min(groups.values()) <= 1, groups  # a quarter each


def test_a_probe_the_process_lacks_is_refused_in_words(runs) -> None:
    run = runs("lineprobe_demo:request")
    done = subprocess.run(
        lineprobe("--pid", str(run.program.pid), "-d", "1", "lineprobe_demo:nothing"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "has no USDT probe lineprobe_demo:nothing" in done.stderr, done.stderr
    assert "lineprobe usdt list --pid" in done.stderr


@pytest.mark.parametrize("rate_limit", [10_000, 1_000_000])
def test_a_million_hits_a_second_are_recorded_or_counted_exactly(runs, rate_limit: int) -> None:
    """workloads/probes fires its request probe as fast as the uprobe lets it (about a million
    times a second here): every hit is recorded, or counted by why it was not, and the sum is the
    program's own count. Neither the agent nor the program hangs."""
    rounds = 3_000_000
    run = runs("lineprobe_demo:request", rounds=rounds)
    arguments = [
        {"number": 1, "text": False, "length_argument": 0},
        {"number": 2, "text": False, "length_argument": 0},
    ]
    started = time.monotonic()
    trace = count_through_the_agent(
        run,
        "probe-trace",
        {"probe": run.probe, "arguments": arguments, "rate_limit": rate_limit, "max_hits": 100_000},
    )
    assert time.monotonic() - started < 110
    assert run.truth["requests"] == rounds
    recorded = len(trace.hits)
    print(
        f"rate limit {rate_limit}: {trace.events} hits: {recorded} recorded, {trace.rate_limited} over the "
        f"limit, {trace.ring_full} to a full ring, {trace.dropped} past max_hits"
    )
    assert trace.events == rounds
    assert recorded + trace.rate_limited + trace.ring_full + trace.dropped == rounds
    assert recorded > 0
    # Each recorded hit is a real one: its round and its size agree, in the order they came.
    for hit in trace.hits[:1000]:
        number, size = hit.values
        assert size == 64 << (number % 4), hit
    rounds_seen = [hit.values[0] for hit in trace.hits]
    assert rounds_seen == sorted(rounds_seen)  # one thread: hits arrive in program order
    if rate_limit == 10_000:
        seconds = trace.header.duration_s
        assert recorded + trace.ring_full <= rate_limit * (seconds + 1) + 100


def test_an_argument_histogram_by_powers_of_two(runs) -> None:
    """argdist -H's histogram: the request sizes 64, 128, 256 and 512 fall in four buckets, a
    quarter of the requests each."""
    from lineprobe.capture import kinds

    run = runs("lineprobe_demo:request")
    by_size = [{"number": 2, "text": False, "length_argument": 0}]
    raw = count_through_the_agent(
        run, "probe-args", {"probe": run.probe, "group_by": by_size, "histogram": True}
    )
    counts = kinds.PROBE_ARGS.resolve(raw, ImageCache(), False)
    assert counts.histogram
    assert counts.buckets() == [
        (64, 127, ROUNDS // 4),
        (128, 255, ROUNDS // 4),
        (256, 511, ROUNDS // 4),
        (512, 1023, ROUNDS // 4),
    ]


def test_traced_hits_carry_their_stacks_to_the_probe_line(runs) -> None:
    """``stacks``: each recorded tick hit has its user stack, resolved: the probe line in tick(),
    then main's line that calls it."""
    from lineprobe.capture import kinds

    run = runs("lineprobe_demo:tick")
    parameters = {"probe": run.probe, "arguments": [], "rate_limit": 1000, "max_hits": 1000, "stacks": True}
    raw = count_through_the_agent(run, "probe-trace", parameters)
    trace = kinds.PROBE_TRACE.resolve(raw, ImageCache(), False)
    assert len(trace.hits) == run.truth["ticks"] == ROUNDS // 1000
    for hit in trace.hits:
        lines = [(f.function, f.line) for f in trace.stack_of(hit) if f.path == str(PROBES_C)]
        assert lines[:2] == [
            ("tick", marked_line(PROBES_C, "TICK-PROBE")),
            ("main", marked_line(PROBES_C, "tick(round);")),
        ], lines


def test_a_running_count_reports_its_sites_and_groups_live(runs) -> None:
    """While counting, about once a second: the hits so far, growing, at the REQUEST-PROBE site,
    and the size groups; at the end the site holds every request the program made, on its line."""
    from lineprobe.capture import kinds

    run = runs("lineprobe_demo:request", rounds=4_000_000)
    live: list[Any] = []
    by_size = [{"number": 2, "text": False, "length_argument": 0}]
    raw = count_through_the_agent(run, "probe-args", {"probe": run.probe, "group_by": by_size}, live)
    counts = kinds.PROBE_ARGS.resolve(raw, ImageCache(), False)
    print(f"{len(live)} live reports over {counts.header.duration_s:.2f} s: {[r.events for r in live]}")
    assert counts.events == run.truth["requests"] == 4_000_000
    [site] = counts.site_hits
    assert site.hits == counts.events
    assert site.source is not None
    assert (site.source.path, site.source.line) == (str(PROBES_C), marked_line(PROBES_C, "REQUEST-PROBE"))
    during = [report for report in live if 0 < report.events < counts.events]
    assert len(during) >= 2, [report.events for report in live]
    gaps = [later.elapsed_s - earlier.elapsed_s for earlier, later in itertools.pairwise(live)]
    assert all(gap >= 0.9 for gap in gaps), gaps  # at most once a second
    for earlier, later in itertools.pairwise(during):
        assert earlier.events <= sum(s.hits for s in later.site_hits) <= later.events
    for report in during:
        [at_site] = report.site_hits
        assert at_site.offset == site.offset
        sizes = {group.values[0] for group in report.groups}
        assert sizes <= {64, 128, 256, 512} and sum(g.count for g in report.groups) <= report.events


def test_a_running_trace_sends_its_newest_hits_live(runs) -> None:
    """Tracing: each live report carries the hits received since the one before (at most 200),
    the rest counted; reports and result agree with the program, and no hit is shown twice."""
    from lineprobe.capture import kinds

    run = runs("lineprobe_demo:slow", rounds=80_000_000)
    live: list[Any] = []
    round_number = [{"number": 1, "text": False, "length_argument": 0}]
    parameters = {"probe": run.probe, "arguments": round_number, "rate_limit": 1000, "max_hits": 100_000}
    raw = count_through_the_agent(run, "probe-trace", parameters, live)
    trace = kinds.PROBE_TRACE.resolve(raw, ImageCache(), False)
    assert trace.events == run.truth["slow"] == 8_000_000
    [site] = trace.site_hits
    assert site.hits == trace.events and site.source is not None
    assert site.source.line == marked_line(PROBES_C, "SLOW-PROBE")
    shown = [hit.values[0] for report in live for hit in report.hits]
    assert len(live) >= 2 and shown, [len(report.hits) for report in live]
    assert all(len(report.hits) <= 200 for report in live)
    assert shown == sorted(set(shown))  # in program order, none twice
    assert all(number % 10 == 0 for number in shown)  # slow fires on every 10th round
    kept = {hit.values[0] for hit in trace.hits}
    assert set(shown) <= kept  # what was shown live is in the result too
    reported = sum(len(report.hits) + report.hits_not_shown for report in live)
    assert reported <= len(trace.hits) + trace.dropped


def test_the_cli_writes_each_hit_in_the_format_given(runs) -> None:
    """``usdt trace PROBE FORMAT``: bcc's trace's format, filled with the recorded arguments."""
    run = runs("lineprobe_demo:request", rounds=100_000_000_000)
    run.release()
    window = ["--pid", str(run.program.pid), "-d", "1", "--rate", "100"]
    done = subprocess.run(
        [
            *LINEPROBE,
            "usdt",
            "trace",
            *window,
            "--arg",
            "1",
            "--arg",
            "2",
            "--json",
            run.probe,
            "round %d: %u bytes",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    hits = [json.loads(line) for line in done.stdout.splitlines()][:-1]
    assert hits
    for hit in hits:
        number, size = hit["values"]
        assert hit["message"] == f"round {number}: {size} bytes" and size == 64 << (number % 4)


GUARDED_C = WORKLOADS / "guarded" / "guarded.c"


def guarded_run(workloads: Path, kind: str, parameters: dict[str, object]) -> tuple[Any, dict[str, int]]:
    """workloads/guarded under one request to a real agent, released once the window is open;
    the result and the program's own counts (rounds, hits fired, the semaphore at its end)."""
    from lineprobe.capture.spawned import SpawnedAgent

    program = subprocess.Popen(
        [str(workloads / "guarded"), str(ROUNDS), "wait"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    counting = threading.Event()
    answer: list[Any] = []

    def count() -> None:
        with SpawnedAgent() as agent:
            progress = lambda m: counting.set() if m.phase == "sampling" else None  # noqa: E731
            answer.append(agent.trace(kind, program.pid, 120.0, parameters, progress))

    worker = threading.Thread(target=count)
    worker.start()
    try:
        assert counting.wait(90), "lineprobe never started counting"
        assert program.stdin is not None
        program.stdin.write("go\n")
        program.stdin.flush()
        output, _ = program.communicate(timeout=60)
    finally:
        if program.poll() is None:
            program.kill()
        worker.join(120)
    words = output.split()
    return answer[0], {words[i]: int(words[i + 1]) for i in range(0, 6, 2)}


@pytest.mark.parametrize("kind", ["stackcount", "probe-args"])
def test_a_probe_guarded_by_a_semaphore_fires_while_it_is_counted(workloads: Path, kind: str) -> None:
    """The semaphore is set while lineprobe counts (by stack: its own uprobes; by argument:
    bcc's USDT context): every round finds it set, and every hit is counted on its line."""
    from lineprobe.capture import kinds

    probe = "lineprobe_demo:guarded"
    parameters: dict[str, object] = (
        {"tracepoint": f"usdt:{probe}"}
        if kind == "stackcount"
        else {"probe": probe, "group_by": [{"number": 1, "text": False, "length_argument": 0}]}
    )
    raw, truth = guarded_run(workloads, kind, parameters)
    assert truth["rounds"] == truth["fired"] == ROUNDS, truth
    assert truth["semaphore"] >= 1  # still set when the program ended, traced
    if kind == "stackcount":
        profile = kinds.STACKCOUNT.resolve(raw, ImageCache(), False)
        assert profile.total == ROUNDS
        [site] = [s for s in profile.lines if s.path == str(GUARDED_C) and s.self_cost]
        assert (site.line, site.self_cost) == (marked_line(GUARDED_C, "GUARDED-PROBE"), ROUNDS)
    else:
        counts = kinds.PROBE_ARGS.resolve(raw, ImageCache(), False)
        assert counts.events == ROUNDS
        # each round's number once, until the groups map is full; the rest counted as lost
        assert {g.count for g in counts.groups} == {1} and len(counts.groups) + counts.lost == ROUNDS


@pytest.mark.parametrize("command", [["usdt", "count", "--stack"], ["usdt", "count", "--arg", "1"]])
def test_the_semaphore_is_taken_back_after_counting(workloads: Path, command: list[str]) -> None:
    program = subprocess.Popen(
        [str(workloads / "guarded"), str(ROUNDS), "wait"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        done = subprocess.run(
            [*LINEPROBE, *command, "--pid", str(program.pid), "-d", "1", "lineprobe_demo:guarded"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        output, _ = program.communicate("go\n", timeout=60)
    finally:
        if program.poll() is None:
            program.kill()
            program.wait()
    assert output.split()[2:6] == ["fired", "0", "semaphore", "0"], output


def test_a_probe_with_more_sites_than_one_trace_may_place_is_refused(tmp_path: Path, spawn: Any) -> None:
    """Each site is a breakpoint in the target and a kernel object: one trace places at most
    1,024 (a caller of the service has at most four agents). A probe at 1,100 places is refused
    before anything is compiled or placed, saying why and how to narrow it."""
    source = tmp_path / "many.c"
    source.write_text(
        "#include <sys/sdt.h>\n#include <unistd.h>\n"
        "#define P DTRACE_PROBE(many, site);\n#define P10 P P P P P P P P P P\n"
        "#define P100 P10 P10 P10 P10 P10 P10 P10 P10 P10 P10\n"
        "#define P1100 P100 P100 P100 P100 P100 P100 P100 P100 P100 P100 P100\n"
        "int main(void) { for (;;) { P1100 usleep(1000); } }\n"
    )
    program = tmp_path / "many"
    subprocess.run(["cc", "-O1", "-o", str(program), str(source)], check=True)
    target = spawn(program)
    done = subprocess.run(
        [*LINEPROBE, "stackcount", "usdt:many:site", "--pid", str(target.pid), "-d", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "many:site has 1,100 sites in this process; lineprobe places at most 1,024" in done.stderr, (
        done.stderr
    )
