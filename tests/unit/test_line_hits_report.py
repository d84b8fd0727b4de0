"""Each counted line's hits from the stacks its sites counted (reports/line_hits_report.py): by
how each site is named, so that a line -O2 merged into another line's instruction still gets
its hits; by the frames' lines in a replay (no sites kept); and the cost of a busy line said."""

from __future__ import annotations

from lineprobe.costs.aggregate import stack_profile
from lineprobe.costs.model import CostColumn, CostUnit, StackProfile, WeightedStack
from lineprobe.model.capture import CaptureHeader, Timings
from lineprobe.reports.line_hits_report import HIT_COST_US, cost_warnings, line_hits, line_hits_json
from lineprobe.symbolization.frame import FrameKind, SourceFrame
from lineprobe.symbolization.line_sites import LineSites, LineSpec, chain_key

SOURCE = "/src/linecount.c"
BINARY = "/bin/linecount"


def frame(function: str, line: int, kind: FrameKind = FrameKind.NATIVE) -> SourceFrame:
    return SourceFrame(function, SOURCE, line, None, kind, BINARY, SOURCE, 1)


KERNEL = SourceFrame("asm_exc_int3", None, None, None, FrameKind.KERNEL, "[kernel]")
DIVIDES = [frame("divides", 19), frame("main", 27)]
"""A hit of the division's line: its site is named on the line itself."""
MERGED = [frame("main", 40)]
"""A hit of `primes++` (line 42) at -O2: its site's instruction is named on the loop's line 40."""


def profile(stacks: list[WeightedStack], duration_s: float = 2.0) -> StackProfile:
    header = CaptureHeader(
        1, BINARY, "linecount", duration_s, duration_s, 0.0, False, False, None, (), Timings()
    )  # fmt: skip
    column = CostColumn("linecount.c:19 linecount.c:42", CostUnit.HITS, "line-hits-line")
    return stack_profile(header, (column,), stacks, [], Timings())


def sites(line: int, *named: list[SourceFrame]) -> LineSites:
    found = LineSites(LineSpec("linecount.c", line), {BINARY: [0x1000 + line]}, {SOURCE})
    found.named |= {chain_key(frames) for frames in named}
    return found


def test_a_hit_is_counted_on_the_line_whose_site_it_hit() -> None:
    counted = profile([WeightedStack((500,), [KERNEL, *DIVIDES]), WeightedStack((7,), MERGED)])
    hits = line_hits(counted, [sites(19, DIVIDES), sites(42, MERGED)])
    assert [(h.spec, h.hits, h.per_second, h.sites) for h in hits] == [
        ("linecount.c:19", 500, 250.0, 1),
        ("linecount.c:42", 7, 3.5, 1),
    ]
    assert line_hits_json(hits)[1] == {
        "line": "linecount.c:42",
        "hits": 7,
        "per_second": 3.5,
        "sites": 1,
        "sources": [SOURCE],
        "by_site": [{"where": "main", "hits": 7}],
    }


def test_the_hits_of_each_inlined_copy_of_a_line_are_told_apart() -> None:
    """-O2: the division's line runs in divides itself and in its copy inlined into is_prime,
    inlined into main."""
    inlined = [
        frame("divides", 19, FrameKind.INLINED),
        frame("is_prime", 27, FrameKind.INLINED),
        frame("main", 41),
    ]
    counted = profile(
        [WeightedStack((30,), DIVIDES), WeightedStack((70,), inlined), WeightedStack((5,), inlined)]
    )
    (hits,) = line_hits(counted, [sites(19, DIVIDES, inlined)])
    assert hits.hits == 105
    assert hits.by_site == (("divides in is_prime in main", 75), ("divides", 30))


def test_two_lines_whose_sites_are_named_alike_are_told_apart_by_the_frames() -> None:
    """Line 40 counted too: its site and line 42's are both named on line 40; a hit goes to the
    line the frames name, 40."""
    counted = profile([WeightedStack((7,), MERGED)])
    hits = line_hits(counted, [sites(42, MERGED), sites(40, MERGED)])
    assert [h.hits for h in hits] == [0, 7]


def test_a_replay_counts_by_the_lines_its_frames_name() -> None:
    replayed = [LineSites(LineSpec("linecount.c", 19)), LineSites(LineSpec("linecount.c", 42))]
    hits = line_hits(profile([WeightedStack((500,), DIVIDES), WeightedStack((7,), MERGED)]), replayed)
    assert [(h.hits, h.sites) for h in hits] == [(500, None), (0, None)]  # 42's site is named on 40


def test_counting_a_busy_line_says_what_it_cost() -> None:
    busy_rate = 0.05 / (HIT_COST_US / 1e6)  # hits a second that cost 5% of a CPU
    hits = line_hits(
        profile([WeightedStack((int(busy_rate * 2) + 2,), DIVIDES), WeightedStack((1,), MERGED)]),
        [sites(19, DIVIDES), sites(42, MERGED)],
    )
    (warning,) = cost_warnings(hits)
    assert warning.startswith(
        f"linecount.c:19 ran {busy_rate:,.0f} times a second: each hit traps into the kernel"
    )
    assert "about 5% of a CPU" in warning
