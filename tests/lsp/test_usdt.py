"""USDT probes in the editor, without privileges: listed from the files (no agent), and HotSpot's
method probes counted by class and method, replayed (tests/recordings/usdt-slowy.jsonl: the
workshop's Java program, where isDivisible is called about a million times a second), as call
rates in code lenses on the methods' declarations."""

from __future__ import annotations

import re

from tests.conftest import BUILD, WORKLOADS, marked_line
from tests.lsp.conftest import Replay

APP_JAVA = WORKLOADS / "slowy" / "slowy" / "App.java"
PROBES_C = WORKLOADS / "probes" / "probes.c"
ANY_PID = 4242


def declaration_line(source, text: str) -> int:
    """0-based, as LSP numbers lines."""
    return next(n for n, line in enumerate(source.read_text().splitlines()) if text in line)


async def test_java_methods_carry_their_call_rates(replay: Replay) -> None:
    session = await replay("usdt-slowy")
    result = await session.command(
        "lineprobe.usdtCount",
        {"pid": ANY_PID, "probe": "hotspot:method__entry", "by": "method", "durationMs": 1000},
    )
    assert result["ok"] is True, result
    assert result["group_by"] == ["arg2 (text, length arg3)", "arg4 (text, length arg5)"]
    top = result["groups"][0]
    assert top["values"] == ["slowy/App", "isDivisible"] and top["per_s"] > 100_000, top
    assert result["files"] == [APP_JAVA.as_uri()]

    lenses = {
        lens.range.start.line: str(lens.command.title)
        for lens in await session.code_lenses(APP_JAVA.as_uri())
        if lens.command and lens.command.title.startswith("method__entry")
    }
    is_divisible = declaration_line(APP_JAVA, "static boolean isDivisible(")
    is_prime = declaration_line(APP_JAVA, "static boolean isPrime(")
    assert re.fullmatch(r"method__entry: [\d,]+ calls/s \([\d,]+ in [\d.]+ s\)", lenses[is_divisible])
    rate = {line: int(title.split()[1].replace(",", "")) for line, title in lenses.items()}
    assert rate[is_divisible] > rate[is_prime] > 0  # isDivisible runs inside isPrime's loop


async def test_a_by_without_a_known_probe_is_refused(replay: Replay) -> None:
    session = await replay("usdt-slowy")
    result = await session.command(
        "lineprobe.usdtCount", {"pid": ANY_PID, "probe": "myapp:request", "by": "method"}
    )
    assert result["ok"] is False and "needs a probe lineprobe knows" in result["error"]["message"]
    result = await session.command(
        "lineprobe.usdtCount", {"pid": ANY_PID, "probe": "p:n", "stack": True, "by": "x"}
    )
    assert result["ok"] is False and "not by arguments" in result["error"]["message"]


async def test_probes_are_listed_with_their_lines_without_an_agent(replay: Replay) -> None:
    session = await replay("capabilities")
    result = await session.command("lineprobe.usdtList", {"binary": str(BUILD / "probes")})
    assert result["ok"] is True, result
    sites = {p["name"]: p["sites"][0] for p in result["probes"]}
    assert sites["request"]["uri"] == PROBES_C.as_uri()
    assert sites["request"]["line"] == marked_line(PROBES_C, "REQUEST-PROBE")
    missing = await session.command("lineprobe.usdtList", {"binary": "/nonexistent/file"})
    assert missing["ok"] is False and "no such file" in missing["error"]["message"]


async def test_a_count_reports_its_probe_site_live_and_at_the_end(replay: Replay) -> None:
    """tests/recordings/usdt-probes.jsonl: workloads/probes' request probe counted by its size
    argument for 2.5 s. While it counts, ``lineprobe/probeLive`` names the probe's line in
    probes.c with the hits so far; the result has the site with every hit."""
    session = await replay("usdt-probes")
    result = await session.command(
        "lineprobe.usdtCount",
        {"pid": ANY_PID, "probe": "lineprobe_demo:request", "groupBy": [{"number": 2}], "durationMs": 2500},
    )
    assert result["ok"] is True, result
    line = marked_line(PROBES_C, "REQUEST-PROBE")
    [site] = result["site_hits"]
    assert (site["uri"], site["line"], site["function"]) == (PROBES_C.as_uri(), line, "main")
    assert site["hits"] == result["events"] > 0
    assert len(session.probe_live) >= 2, session.probe_live
    events = [report["events"] for report in session.probe_live]
    assert events == sorted(events) and events[-1] <= result["events"]
    for report in session.probe_live:
        named = (report["probe"], report["pid"], report["mode"])
        assert named == ("lineprobe_demo:request", ANY_PID, "count")
        [at_site] = report["sites"]
        assert (at_site["uri"], at_site["line"]) == (PROBES_C.as_uri(), line)
        assert at_site["hits"] <= report["events"] and at_site["per_s"] > 0
        assert {g["values"][0] for g in report["groups"]} <= {64, 128, 256, 512}


async def test_trace_arguments_are_checked_before_anything_runs(replay: Replay) -> None:
    session = await replay("usdt-probes")
    for arguments, words in (
        ({"pid": ANY_PID, "probe": "p:n", "stack": True}, "not stacks or histograms"),
        ({"pid": ANY_PID, "probe": "p:n", "rateLimit": 0}, "rateLimit must be in"),
        ({"pid": ANY_PID, "probe": "p:n", "maxHits": -1}, "maxHits must be in"),
        ({"probe": "p:n"}, "needs exactly one of pid and command"),
        ({"probe": "p:n", "command": ["true"]}, "traces a running process: give its pid"),
        ({"pid": ANY_PID}, "needs"),
    ):
        result = await session.command("lineprobe.usdtTrace", arguments)
        assert result["ok"] is False and words in result["error"]["message"], (arguments, result)
    assert session.probe_live == []
