"""The reports of USDT counts and traces: JSON for scripts, and every hit accounted for."""

from __future__ import annotations

import json

from lineprobe.model.capture import CaptureHeader, Timings
from lineprobe.reports.usdt_report import counts_to_json, trace_to_json_lines
from lineprobe.symbolization.resolver import ImageCache
from lineprobe.usdt.counts import ArgumentChoice, ProbeCounts, ProbeGroup, resolve_probe_counts
from lineprobe.usdt.hits import ProbeHitRecord, ProbeTrace, resolve_probe_trace


def header(duration_s: float = 2.0, exited: bool = False) -> CaptureHeader:
    return CaptureHeader(
        7, "/bin/app", "app", 5.0, duration_s, 0.0, False, exited, 2.0 if exited else None, (), Timings()
    )


def test_counts_report_rates_over_the_window_and_warns_of_losses() -> None:
    raw = ProbeCounts(
        header(),
        "app:request",
        (ArgumentChoice(2), ArgumentChoice(4, True, 5)),
        (ProbeGroup(300, (64, "GET")), ProbeGroup(100, (512, "PUT"))),
        events=410,
        lost=10,
        truncated=0,
        unreadable=1,
        sites=2,
    )
    counts = resolve_probe_counts(raw)
    assert any("10 hits not counted" in w for w in counts.warnings)
    assert any("1 texts could not be read" in w for w in counts.warnings)
    report = counts_to_json(counts)
    assert report["group_by"] == ["arg2", "arg4 (text, length arg5)"]
    assert report["groups"][0] == {"count": 300, "per_s": 150.0, "values": [64, "GET"]}
    assert report["events"] == 410 and report["lost"] == 10


def test_a_trace_is_one_json_line_per_hit_then_its_summary() -> None:
    hits = tuple(ProbeHitRecord(0.5 + i / 1000, 42, (i, 64 << (i % 4))) for i in range(3))
    raw = ProbeTrace(
        header(exited=True),
        "app:request",
        (ArgumentChoice(1), ArgumentChoice(2)),
        hits,
        events=103,
        rate_limited=90,
        ring_full=6,
        dropped=4,
        truncated=0,
        unreadable=0,
        sites=1,
    )
    trace = resolve_probe_trace(raw, ImageCache())
    assert trace.accounted
    assert [w.split(" ")[0] for w in trace.warnings[:3]] == ["90", "6", "4"]
    assert any("target exited" in w for w in trace.warnings)
    lines = [json.loads(json.dumps(line)) for line in trace_to_json_lines(trace)]
    assert lines[0] == {"t": 0.5, "tid": 42, "values": [0, 64]}
    summary = lines[-1]["summary"]
    assert summary["recorded"] + summary["rate_limited"] + summary["ring_full"] + summary["dropped"] == 103
    assert summary["events"] == 103 and summary["target_exited"] is True
    unaccounted = ProbeTrace(header(), "app:request", (), hits, 104, 90, 6, 4, 0, 0, 1)
    assert not unaccounted.accounted


def test_a_histogram_has_every_power_of_two_between_its_ends() -> None:
    raw = ProbeCounts(
        header(),
        "app:request",
        (ArgumentChoice(2),),
        (ProbeGroup(5, (0,)), ProbeGroup(7, (3,)), ProbeGroup(1, (1,))),
        events=13,
        lost=0,
        truncated=0,
        unreadable=0,
        sites=1,
        histogram=True,
    )
    assert raw.buckets() == [(0, 0, 5), (1, 1, 1), (2, 3, 0), (4, 7, 7)]
    report = counts_to_json(resolve_probe_counts(raw))
    assert report["histogram"][3] == {"low": 4, "high": 7, "count": 7}
