"""`lineprobe serve` end to end: a real editor protocol session profiling a real process."""

from __future__ import annotations

import itertools
import re
import time
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.conftest import WORKLOADS, marked_line

pytestmark = pytest.mark.privileged

PRIMES_C = WORKLOADS / "primes" / "primes.c"


async def test_profile_publishes_diagnostic_hint_hover_and_heat(
    client: LanguageClient, workloads: Path, spawn
):
    target = spawn(workloads / "primes", "200000", "0")
    uri = PRIMES_C.as_uri()
    hot = marked_line(PRIMES_C, "return n % d == 0;") - 1  # LSP lines are 0-based

    started = time.monotonic()
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="lineprobe.profile", arguments=[{"pid": target.pid, "durationMs": 2000}]
        )
    )
    elapsed = time.monotonic() - started
    assert result["ok"] is True, result
    assert uri in client.diagnostics, f"no diagnostics for primes.c; result: {result}"
    timings = result["timings"]
    print(f"\nlineprobe.profile 2 s -> diagnostics: {elapsed:.2f} s; breakdown {timings}")

    diagnostics = client.diagnostics[uri]
    hottest = max(diagnostics, key=lambda d: d.data["self_percent"])
    assert hottest.range.start.line == hot
    assert hottest.source == "lineprobe"
    assert hottest.severity == types.DiagnosticSeverity.Information
    assert "of CPU samples (self) in is_divisible" in hottest.message
    assert all(d.data["self_percent"] >= 1.0 for d in diagnostics)

    hints = await client.text_document_inlay_hint_async(
        types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(types.Position(0, 0), types.Position(200, 0)),
        )
    )
    hint = next(h for h in hints or [] if h.position.line == hot)
    assert "% self" in str(hint.label)

    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(hot, 8)
        )
    )
    assert hover is not None
    text = hover.contents.value  # type: ignore[union-attr]
    assert "self:" in text and "is_divisible" in text and "Callers:" in text and "is_prime" in text

    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    titles = [lens.command.title for lens in lenses or [] if lens.command]
    assert any(t.startswith("CPU ") and "total" in t for t in titles)
    assert any(t.startswith("Profile for 5 s") for t in titles), titles

    heat = [h for h in client.heat if h["uri"] == uri]  # type: ignore[attr-defined]
    assert heat, "no lineprobe/heat notification"
    hottest_heat = max(heat[-1]["lines"], key=lambda line: line["self_percent"])
    assert hottest_heat["line"] == hot

    reports = [r for token_reports in client.progress_reports.values() for r in token_reports]
    assert isinstance(reports[0], types.WorkDoneProgressBegin)
    assert isinstance(reports[-1], types.WorkDoneProgressEnd)


async def test_list_processes_puts_workspace_first(client: LanguageClient, workloads: Path, spawn):
    target = spawn(workloads / "hotloop")
    found = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="lineprobe.listProcesses", arguments=[])
    )
    ours = next(p for p in found if p["pid"] == target.pid)
    assert ours["inWorkspace"] is True
    assert ours["exe"] == str(workloads / "hotloop")
    flags = [p["inWorkspace"] for p in found]
    assert flags == sorted(flags, reverse=True)


async def test_missing_pid_shows_message_and_returns_error(client: LanguageClient):
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="lineprobe.profile", arguments=[{"pid": 3_999_999, "durationMs": 500}]
        )
    )
    assert result["ok"] is False
    assert result["error"]["code"] == "no-such-process"
    assert any("no process with PID 3999999" in m.message for m in client.messages)


async def test_garbage_arguments_are_rejected_cleanly(client: LanguageClient):
    for arguments in ([], ["nonsense"], [{"pid": "x"}], [{"pid": 1, "command": ["ls"]}], [{"durationMs": 5}]):
        result = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="lineprobe.profile", arguments=arguments)
        )
        assert result["ok"] is False and result["error"]["code"] == "bad-request", (arguments, result)


async def test_capabilities_command(client: LanguageClient):
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="lineprobe.capabilities", arguments=[])
    )
    assert result["ok"] is True
    by_name = {c["name"]: c for c in result["capabilities"]}
    assert by_name["privileges"]["available"] is True
    assert by_name["kprobes"]["available"] is False  # this kernel has no CONFIG_KPROBES


async def test_launch_and_profile_keeps_the_lsp_stream_clean(client: LanguageClient, workloads: Path):
    """The launched program prints to its stdout; none of it may reach the LSP stream."""
    source = WORKLOADS / "hotloop" / "hotloop.c"
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="lineprobe.profile",
            arguments=[{"command": [str(workloads / "hotloop"), "1"], "durationMs": 10000}],
        )
    )
    assert result["ok"] is True, result
    assert result["target_exited"] is True
    assert result["target"]["exe"] == str(workloads / "hotloop")
    top = result["top_lines"][0]
    assert (top["path"], top["line"]) == (str(source), marked_line(source, "HOT-LINE"))
    assert source.as_uri() in client.diagnostics


async def test_stop_ends_a_long_profile_early_with_results(client: LanguageClient, workloads: Path, spawn):
    import asyncio

    target = spawn(workloads / "hotloop")
    profile = asyncio.ensure_future(
        client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                command="lineprobe.profile", arguments=[{"pid": target.pid, "durationMs": 60000}]
            )
        )
    )
    started = time.monotonic()
    # Wait for sampling to begin (progress says so) rather than sleeping a fixed time.
    while not any(
        isinstance(r, types.WorkDoneProgressReport)
        and (r.message or "").startswith("sampling: ")
        and not (r.message or "").startswith("sampling: 0 ")
        for reports in client.progress_reports.values()
        for r in reports
    ):
        await asyncio.wait_for(client.wait_for_notification(types.PROGRESS), 30)
    stopped = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="lineprobe.stop", arguments=[])
    )
    assert stopped == {"ok": True, "stopped": True}
    result = await asyncio.wait_for(profile, 30)
    assert result["ok"] is True and result["samples"] > 0
    assert time.monotonic() - started < 30


def hottest_path(node: dict[str, Any]) -> list[dict[str, Any]]:
    path = []
    while node["children"]:
        node = max(node["children"], key=lambda c: c["value"])
        path.append(node)
    return path


async def test_flame_graph_and_heat_scoped_to_a_frame(client: LanguageClient, workloads: Path, spawn):
    target = spawn(workloads / "primes", "200000", "0")
    uri = PRIMES_C.as_uri()
    hot = marked_line(PRIMES_C, "return n % d == 0;")
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="lineprobe.profile", arguments=[{"pid": target.pid, "durationMs": 1000}]
        )
    )
    assert result["ok"] is True
    graph = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="lineprobe.flameGraph", arguments=[])
    )
    assert graph["ok"] is True and graph["root"]["value"] == result["samples"]
    path = hottest_path(graph["root"])
    leaf = path[-1]
    assert (leaf["function"], leaf["line"], leaf["uri"]) == ("is_divisible", hot, uri)
    assert all(child["value"] <= parent["value"] for parent, child in itertools.pairwise(path))

    # Scope the heat to the is_prime frame on the hottest path: only lines at or below it stay.
    names = [n["name"] for n in path]
    upto = next(i for i, n in enumerate(path) if n["function"] == "is_prime")
    client.heat.clear()  # type: ignore[attr-defined]
    scoped = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="lineprobe.scopeHeat", arguments=[{"stack": names[: upto + 1]}])
    )
    assert scoped["ok"] is True and 0 < scoped["samples_in_scope"] <= result["samples"]
    heat = next(h for h in client.heat if h["uri"] == uri)  # type: ignore[attr-defined]
    lines = {entry["line"] + 1 for entry in heat["lines"]}
    assert hot in lines
    omp_line = marked_line(PRIMES_C, "if (is_prime(n))")
    assert omp_line not in lines  # the caller above the selected frame is out of scope


async def test_trace_syscalls_puts_the_failure_on_the_fopen_line(
    client: LanguageClient, workloads: Path, spawn
):
    server_c = WORKLOADS / "server" / "server.c"
    uri = server_c.as_uri()
    line = marked_line(server_c, "CONFIG-OPEN") - 1
    target = spawn(workloads / "server")
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="lineprobe.traceSyscalls", arguments=[{"pid": target.pid, "durationMs": 2000}]
        )
    )
    assert result["ok"] is True, result
    warnings = [d for d in client.diagnostics[uri] if d.severity == types.DiagnosticSeverity.Warning]
    failure = next(d for d in warnings if d.code == "syscall-failure")
    assert failure.range.start.line == line
    assert re.fullmatch(
        r'openat\("/etc/tracing-server-example\.conf"\) failed with ENOENT [\d,]+ times in 2\.\d s',
        failure.message,
    ), failure.message

    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line, 4)
        )
    )
    assert hover is not None
    text = hover.contents.value  # type: ignore[union-attr]
    assert "ENOENT" in text and "Stack:" in text and "load_config" in text

    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(types.Position(line, 0), types.Position(line, 0)),
            context=types.CodeActionContext(diagnostics=[failure]),
        )
    )
    titles = [a.title for a in actions or [] if isinstance(a, types.CodeAction)]
    assert "Create the missing file /etc/tracing-server-example.conf" in titles

    hints = await client.text_document_inlay_hint_async(
        types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(types.Position(0, 0), types.Position(200, 0)),
        )
    )
    assert any(h.position.line == line and "ENOENT" in str(h.label) for h in hints or [])


async def test_find_leaks_warns_at_the_make_shared_lines(client: LanguageClient, workloads: Path, spawn):
    source = WORKLOADS / "wordcount" / "wordcount.cc"
    uri = source.as_uri()
    target = spawn(workloads / "wordcount", "200")
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="lineprobe.findLeaks", arguments=[{"pid": target.pid, "durationMs": 4000}]
        )
    )
    assert result["ok"] is True, result
    warnings = {d.range.start.line: d for d in client.diagnostics[uri] if d.code == "leak-suspect"}
    for marker in ("MAKE-SHARED-READER", "MAKE-SHARED-COUNTER", "WORDS-COPY"):
        line = marked_line(source, marker) - 1
        assert line in warnings, (marker, sorted(warnings))
        assert re.search(
            r"in [\d,]+ allocations still outstanding, growing .+/s, oldest \d+ s", warnings[line].message
        )
    copy_line = marked_line(source, "WORDS-COPY") - 1
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(copy_line, 8)
        )
    )
    assert hover is not None
    text = hover.contents.value  # type: ignore[union-attr]
    assert "Outstanding bytes over time:" in text and "word_count" in text
    hints = await client.text_document_inlay_hint_async(
        types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(types.Position(0, 0), types.Position(200, 0)),
        )
    )
    assert any(h.position.line == copy_line and "outstanding" in str(h.label) for h in hints or []), [
        (h.position.line, h.label) for h in hints or []
    ]


async def test_a_cancelled_profile_stops_its_trace_and_the_next_one_works(
    client: LanguageClient, workloads: Path, spawn
):
    """`$/cancelRequest` used to answer at once while the trace ran on in the agent: the next
    profile failed with `busy`, and the cancelled one's progress never ended properly."""
    import asyncio

    target = spawn(workloads / "primes", "200000", "0")
    long_profile = types.ExecuteCommandParams(
        command="lineprobe.profile", arguments=[{"pid": target.pid, "durationMs": 20000}]
    )
    known = set(client.protocol._request_futures)
    pending = asyncio.ensure_future(client.workspace_execute_command_async(long_profile))
    await asyncio.sleep(0)  # sent
    (request_id,) = set(client.protocol._request_futures) - known  # pygls names its requests

    def sampling() -> bool:
        return any(
            "sampling" in str(getattr(report, "message", "") or "")
            for reports in client.progress_reports.values()
            for report in reports
        )

    while not sampling():
        await asyncio.wait_for(client.wait_for_notification(types.PROGRESS), 30)
    cancelled_at = time.monotonic()
    client.protocol.notify("$/cancelRequest", types.CancelParams(id=request_id))
    with pytest.raises(Exception, match=r"(?i)cancel"):
        await pending
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="lineprobe.profile", arguments=[{"pid": target.pid, "durationMs": 1000}]
        )
    )
    assert result["ok"] is True, result
    assert time.monotonic() - cancelled_at < 10  # not after the cancelled trace's 20 s
    await asyncio.sleep(0)  # let the last $/progress notification be handled
    for token, reports in client.progress_reports.items():
        kinds = [type(report).__name__ for report in reports]
        assert kinds[0] == "WorkDoneProgressBegin" and kinds[-1] == "WorkDoneProgressEnd", (token, kinds)
        assert kinds.count("WorkDoneProgressBegin") == 1 and kinds.count("WorkDoneProgressEnd") == 1, kinds
