"""A profile's time in the files it is written to: the Chrome trace of its timeline, and
speedscope's samples in time order with a profile per thread."""

from __future__ import annotations

import pytest
from lineprobe.costs.slices import SliceError
from lineprobe.reports.chrome_trace import chrome_trace_document
from lineprobe.reports.speedscope import speedscope_document

from tests.unit.test_slices import MAIN, WORKER, profile


def test_the_chrome_trace_has_a_slice_per_thread_and_bucket_named_by_what_ran_most() -> None:
    events = chrome_trace_document(profile())["traceEvents"]
    names = {(e["tid"], e["args"]["name"]) for e in events if e["name"] == "thread_name"}
    assert names == {(MAIN, "app"), (WORKER, "worker")}
    slices = [
        (e["tid"], e["ts"], e["dur"], e["name"], e["args"]["samples"]) for e in events if e["ph"] == "X"
    ]
    assert slices == [
        (MAIN, 0.0, 100_000.0, "alpha", 5),
        (MAIN, 100_000.0, 100_000.0, "alpha", 5),
        (MAIN, 200_000.0, 100_000.0, "beta", 7),
        (WORKER, 0.0, 100_000.0, "beta", 4),
        (WORKER, 200_000.0, 100_000.0, "beta", 4),
    ]  # the worker's 3 untimed samples are in no slice
    counters = [e for e in events if e["ph"] == "C"]
    assert sum(e["args"]["samples"] for e in counters) == 25


def test_a_profile_without_time_has_no_chrome_trace() -> None:
    with pytest.raises(SliceError, match="keeps no time"):
        chrome_trace_document(profile(time_bucket_ms=0))


def test_speedscope_samples_are_in_time_order_with_a_profile_per_thread() -> None:
    document = speedscope_document(profile())
    whole, *threads = document["profiles"]
    assert whole["weights"] == [5, 4, 5, 7, 4, 3]  # bucket 0 (main, worker), 1, 2 (main, worker), untimed
    assert [p["name"] for p in threads] == [
        f"thread app ({MAIN}): CPU samples",
        f"thread worker ({WORKER}): CPU samples",
    ]
    assert [p["weights"] for p in threads] == [[5, 5, 7], [4, 4, 3]]
