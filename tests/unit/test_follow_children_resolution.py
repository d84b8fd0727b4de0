"""A profile that followed the target's children: each stack resolved in its own process's map."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from lineprobe.model.mapping import MappedFile
from lineprobe.profiling.aggregate import resolve_profile
from lineprobe.profiling.model import ChildProcess, LossCounters, SampledStack
from lineprobe.symbolization.resolver import ImageCache

from tests.conftest import WORKLOADS, marked_line
from tests.unit.test_aggregate import BASE, addresses_of_line, synthetic_profile


def test_each_process_resolves_in_its_own_map_under_its_name(workloads: Path) -> None:
    hotloop_source = WORKLOADS / "hotloop" / "hotloop.c"
    primes_source = WORKLOADS / "primes" / "primes.c"
    target_addr = BASE + addresses_of_line(workloads / "hotloop", marked_line(hotloop_source, "HOT-LINE"))
    modulo = marked_line(primes_source, "return n % d == 0;")
    child_addr = BASE + addresses_of_line(workloads / "primes", modulo)
    stacks = [
        SampledStack(7, (target_addr,), (), tgid=1),
        # The same base in the child: only its own map makes this primes.c.
        SampledStack(20, (child_addr,), (), tgid=2),
        # A child gone before its map was read: its kernel frames and its name, nothing else.
        SampledStack(3, (child_addr,), ("do_syscall_64",), tgid=3),
    ]
    raw = synthetic_profile(workloads, stacks)
    child = ChildProcess(
        "primes",
        str(workloads / "primes"),
        (MappedFile(BASE, BASE + 0x100000, 0, str(workloads / "primes")),),
    )
    raw = replace(
        raw,
        processes={2: child},
        thread_names={1: "hotloop", 2: "primes", 3: "gone"},
        counters=replace(LossCounters(30, 0, 0, 0, 0), children_unmapped=1),
    )
    profile = resolve_profile(raw, ImageCache())
    assert profile.total == 30
    by_line = {(s.path, s.line): s.self_cost for s in profile.lines}
    assert by_line[(str(primes_source), modulo)] == 20
    assert by_line[(str(hotloop_source), marked_line(hotloop_source, "HOT-LINE"))] == 7
    frames = {stack.costs[0]: [(f.function, f.binary) for f in stack.frames] for stack in profile.stacks}
    assert frames[20][-1] == ("primes", "[process]")
    assert frames[20][0][0] == "is_divisible"
    assert all(binary != "[process]" for _, binary in frames[7])  # the target: no process frame
    assert frames[3] == [("do_syscall_64", "[kernel]"), ("gone", "[process]")]
    assert any("exited before their memory map could be read" in w for w in profile.warnings)
