"""The refreshed top of a running system view (the CLI's progress line, as filetop refreshes its
top lines): rates between two reports of running totals, in units a person reads."""

from __future__ import annotations

from lineprobe.system.live import SystemLiveReport, live_rates


def test_rates_are_the_busiest_differences_per_second() -> None:
    first = SystemLiveReport(1.0, "bytes", (("mariadbd 7", 2048), ("dd 9", 1024)))
    second = SystemLiveReport(3.0, "bytes", (("mariadbd 7", 10240), ("dd 9", 1024), ("cp 11", 8192)))
    assert live_rates(None, first) == [("mariadbd 7", 2.0, "KiB/s"), ("dd 9", 1.0, "KiB/s")]
    assert live_rates(first, second, top=2) == [("mariadbd 7", 4.0, "KiB/s"), ("cp 11", 4.0, "KiB/s")]


def test_time_in_calls_reads_as_milliseconds_per_second_and_no_interval_gives_nothing() -> None:
    report = SystemLiveReport(0.5, "ns", (("f", 250_000_000),))
    assert live_rates(None, report) == [("f", 500.0, "ms/s")]
    assert live_rates(report, report) == []
