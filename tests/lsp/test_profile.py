"""CPU profiles in the editor, replayed: two recorded 1 s profiles of workloads/build/primes (OpenMP,
frame pointers), whose ground truth is the line `return n % d == 0;` in is_divisible, called by
is_prime, called by main's `if (is_prime(n))`."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from tests.conftest import WORKLOADS, marked_line
from tests.lsp.conftest import RECORDED_ROOT, RECORDINGS, Replay, Session

PRIMES_C = WORKLOADS / "primes" / "primes.c"
URI = PRIMES_C.as_uri()
HOT = marked_line(PRIMES_C, "return n % d == 0;") - 1  # LSP lines are 0-based
CALLER = marked_line(PRIMES_C, "if (is_prime(n))") - 1
RECORDING = "profile-primes"
ANY_PID = 4242
"""A replay answers whatever process is asked for with the recorded one."""


async def profile(session: Session, **arguments: Any) -> dict[str, Any]:
    return await session.command("lineprobe.profile", {"pid": ANY_PID, "durationMs": 1000, **arguments})


def expected_refreshes(session: Session) -> list[str]:
    """What the server may ask the client to refresh after a capture: only what it supports."""
    refreshes = []
    if session.supports("workspace.inlay_hint.refresh_support"):
        refreshes.append(types.WORKSPACE_INLAY_HINT_REFRESH)
    if session.supports("workspace.code_lens.refresh_support"):
        refreshes.append(types.WORKSPACE_CODE_LENS_REFRESH)
    return refreshes


def kinds_of(reports: list[Any]) -> list[str]:
    return [type(report).__name__ for report in reports]


async def test_profile_publishes_diagnostic_hint_hover_lens_and_heat(replay: Replay) -> None:
    session = await replay(RECORDING)
    result = await profile(session)
    assert result["ok"] is True, result
    assert result["samples"] > 0 and result["lost"] == 0
    assert Path(result["target"]["exe"]).parent.name == f"{RECORDING}.jsonl.binaries"
    assert result["files"] == [URI]
    top = result["top_lines"][0]  # as the DWARF names it: the recording's checkout
    assert (top["path"], top["line"], top["function"]) == (
        f"{RECORDED_ROOT}/workloads/primes/primes.c",
        HOT + 1,
        "is_divisible",
    )

    diagnostics = session.client.diagnostics[URI]
    hottest = max(diagnostics, key=lambda d: d.data["self_percent"])
    assert hottest.range.start.line == HOT
    assert hottest.source == "lineprobe"
    assert hottest.severity == types.DiagnosticSeverity.Information
    assert "of CPU samples (self) in is_divisible" in hottest.message
    assert all(d.data["self_percent"] >= 1.0 for d in diagnostics)
    call = marked_line(PRIMES_C, "if (is_divisible(n, d))") - 1
    related = [
        (r.location.uri, r.location.range.start.line, r.message) for r in hottest.related_information or []
    ]
    assert any(r[:2] == (URI, call) and r[2].startswith("called from is_prime: ") for r in related), related

    if session.supports("text_document.inlay_hint"):
        hint = next(h for h in await session.inlay_hints(URI) if h.position.line == HOT)
        assert "% self" in str(hint.label)

    text = await session.hover(URI, HOT, 8)
    assert text is not None
    assert "self:" in text and "is_divisible" in text and "Callers:" in text and "is_prime" in text
    assert await session.hover(URI, 0) is None  # the file's header comment: no samples

    titles = [lens.command.title for lens in await session.code_lenses(URI) if lens.command]
    assert any(t.startswith("CPU ") and "total" in t for t in titles), titles

    heat = [h for h in session.heat if h["uri"] == URI]
    assert heat, "no lineprobe/heat notification"
    assert heat[-1]["samples"] == result["samples"]
    assert max(heat[-1]["lines"], key=lambda line: line["self_percent"])["line"] == HOT

    assert session.refreshes == expected_refreshes(session)
    (reports,) = session.progress()
    assert kinds_of(reports)[0] == "WorkDoneProgressBegin" and kinds_of(reports)[-1] == "WorkDoneProgressEnd"
    assert any((getattr(r, "message", "") or "").startswith("sampling: ") for r in reports), reports


def hottest_path(node: dict[str, Any]) -> list[dict[str, Any]]:
    path = []
    while node["children"]:
        node = max(node["children"], key=lambda c: c["value"])
        path.append(node)
    return path


async def test_flame_graph_and_heat_scoped_to_a_frame(replay: Replay) -> None:
    session = await replay(RECORDING)
    result = await profile(session)
    assert result["ok"] is True, result
    graph = await session.command("lineprobe.flameGraph")
    assert graph["ok"] is True and graph["root"]["value"] == result["samples"]
    path = hottest_path(graph["root"])
    leaf = path[-1]
    assert (leaf["function"], leaf["line"], leaf["uri"]) == ("is_divisible", HOT + 1, URI)
    assert all(child["value"] <= parent["value"] for parent, child in itertools.pairwise(path))

    heat = next(h for h in session.heat if h["uri"] == URI)
    assert CALLER in {entry["line"] for entry in heat["lines"]}  # main's call, before scoping

    # Scope the heat to the is_prime frame on the hottest path: only lines at or below it stay.
    names = [n["name"] for n in path]
    upto = next(i for i, n in enumerate(path) if n["function"] == "is_prime")
    session.heat.clear()
    scoped = await session.command("lineprobe.scopeHeat", {"stack": names[: upto + 1]})
    assert scoped["ok"] is True and 0 < scoped["samples_in_scope"] <= result["samples"]
    heat = next(h for h in session.heat if h["uri"] == URI)
    lines = {entry["line"] for entry in heat["lines"]}
    assert HOT in lines
    assert CALLER not in lines  # the caller above the selected frame is out of scope

    session.heat.clear()
    everything = await session.command("lineprobe.scopeHeat", {"stack": []})
    assert everything == {"ok": True, "samples_in_scope": result["samples"]}
    assert CALLER in {entry["line"] for entry in next(h for h in session.heat if h["uri"] == URI)["lines"]}


def nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(n for child in node["children"] for n in nodes(child))]


async def test_flame_graph_merged_by_function_has_one_frame_per_function_on_a_path(replay: Replay) -> None:
    """By function (perf's and hotspot's default), is_divisible's lines on one call path are one frame,
    with the samples of all of them; a click opens the line most samples passed, and scoping to
    it counts what scoping to its lines does."""
    session = await replay(RECORDING)
    result = await profile(session)
    by_line = await session.command("lineprobe.flameGraph")
    graph = await session.command("lineprobe.flameGraph", {"byFunction": True})
    assert graph["ok"] is True and graph["byFunction"] is True and by_line["byFunction"] is False
    assert graph["root"]["value"] == by_line["root"]["value"] == result["samples"]
    for node in nodes(graph["root"])[1:]:
        names = [child["name"] for child in node["children"]]
        assert len(names) == len(set(names)), names  # siblings are distinct functions
        assert ":" not in node["name"] or node["kernel"], node["name"]  # no line in the name

    def per_function(tree: dict[str, Any]) -> dict[str, int]:
        self_values: dict[str, int] = {}
        for node in nodes(tree)[1:]:
            own = node["value"] - sum(child["value"] for child in node["children"])
            self_values[node["function"]] = self_values.get(node["function"], 0) + own
        return self_values

    assert per_function(graph["root"]) == per_function(by_line["root"])  # merged, nothing lost
    divisible = [n for n in nodes(graph["root"]) if n["function"] == "is_divisible"]
    heaviest = max(divisible, key=lambda n: n["value"])
    assert (heaviest["name"], heaviest["line"], heaviest["uri"]) == ("is_divisible", HOT + 1, URI)

    # Scoped to that frame by function: the same samples as all of its line frames on that path.
    path = [graph["root"]]
    while path[-1] is not heaviest:
        path.append(next(c for c in path[-1]["children"] if heaviest in nodes(c)))
    scoped = await session.command(
        "lineprobe.scopeHeat", {"stack": [n["name"] for n in path[1:]], "byFunction": True}
    )
    assert scoped == {"ok": True, "samples_in_scope": heaviest["value"]}


async def test_garbage_arguments_are_rejected_cleanly(replay: Replay) -> None:
    session = await replay(RECORDING)
    for command in ("lineprobe.profile", "lineprobe.traceSyscalls", "lineprobe.findLeaks"):
        for arguments in (
            [],
            ["nonsense"],
            [{"pid": "x"}],
            [{"pid": 1, "command": ["ls"]}],
            [{"durationMs": 5}],
            [{"pid": 1, "durationMs": 0}],
            [{"pid": 1, "frequency": 10**6}],
            [{"pid": 1}, {"pid": 2}],
        ):
            result = await session.command(command, *arguments)
            assert result["ok"] is False and result["error"]["code"] == "bad-request", (command, arguments)
    errors = [m for m in session.client.messages if m.type == types.MessageType.Error]
    assert len(errors) == 3 * 8 and all(m.message.startswith("lineprobe: ") for m in errors)

    # Views before any profile, and a malformed scope.
    for command in ("lineprobe.flameGraph", "lineprobe.scopeHeat"):
        result = await session.command(command)
        assert result["ok"] is False and result["error"]["message"] == "no profile yet", result
    assert (await profile(session))["ok"] is True  # nothing above used up the recording
    bad_stack = await session.command("lineprobe.scopeHeat", {"stack": "main"})
    assert bad_stack["ok"] is False and bad_stack["error"]["code"] == "bad-request"


async def test_stop_with_nothing_running_and_during_a_profile(replay: Replay) -> None:
    session = await replay(RECORDING)
    assert await session.command("lineprobe.stop") == {"ok": True, "stopped": False}
    pending = asyncio.ensure_future(profile(session, durationMs=60000))
    while not any(len(reports) > 1 for reports in session.progress()):
        await asyncio.wait_for(session.client.wait_for_notification(types.PROGRESS), 30)
    stopped = await session.command("lineprobe.stop")
    assert stopped["ok"] is True  # "stopped": whether the replay was still under way
    result = await asyncio.wait_for(pending, 30)
    assert result["ok"] is True and result["samples"] > 0
    assert await session.command("lineprobe.stop") == {"ok": True, "stopped": False}


async def test_a_cancelled_profile_ends_its_progress_once_and_the_next_one_works(replay: Replay) -> None:
    """A replay ends at once, so the cancellation may come during the capture or after it: either
    way the next profile is not refused as `busy`, and every progress begun ends exactly once."""
    session = await replay(RECORDING)
    client = session.client
    known = set(client.protocol._request_futures)
    pending = asyncio.ensure_future(profile(session, durationMs=20000))
    await asyncio.sleep(0)  # sent
    (request_id,) = set(client.protocol._request_futures) - known  # pygls names its requests
    while not session.progress():
        await asyncio.wait_for(client.wait_for_notification(types.PROGRESS), 30)
    client.protocol.notify("$/cancelRequest", types.CancelParams(id=request_id))
    try:
        first = await pending
    except Exception as exc:  # cancelled while the capture ran
        assert "cancel" in str(exc).lower(), exc
    else:  # the answer was on its way already
        assert first["ok"] is True, first
    result = await profile(session)
    assert result["ok"] is True, result
    assert URI in result["files"]
    await asyncio.sleep(0.1)  # let the last $/progress notification be handled
    for reports in session.progress():
        kinds = kinds_of(reports)
        assert kinds[0] == "WorkDoneProgressBegin" and kinds[-1] == "WorkDoneProgressEnd", kinds
        assert kinds.count("WorkDoneProgressBegin") == 1 and kinds.count("WorkDoneProgressEnd") == 1, kinds
    assert len(session.progress()) == 2


async def test_a_recording_answers_as_many_captures_as_it_holds(replay: Replay) -> None:
    session = await replay(RECORDING)
    first, second = await profile(session), await profile(session)
    assert first["ok"] is True and second["ok"] is True
    assert first["samples"] != second["samples"] or first["top_lines"] != second["top_lines"]
    third = await profile(session)
    assert third["ok"] is False and "holds no (more) 'profile' requests" in third["error"]["message"]
    other = await session.command("lineprobe.traceSyscalls", {"pid": ANY_PID, "durationMs": 1000})
    assert other["ok"] is False and "'trace-syscalls'" in other["error"]["message"], other
    # The second profile's findings stay up.
    assert max(session.client.diagnostics[URI], key=lambda d: d.data["self_percent"]).range.start.line == HOT


@pytest.mark.parametrize("mapped", [True, False])
async def test_findings_land_on_the_checkout_the_mapping_names(
    replay: Replay, tmp_path: Path, mapped: bool
) -> None:
    """What lets the recordings replay in any clone: the DWARF names the recording's checkout,
    ``pathMappings`` sends it to this one. Here "this one" is a copy of the sources elsewhere."""
    clone = tmp_path / "elsewhere"
    (clone / "workloads" / "primes").mkdir(parents=True)
    shutil.copy2(PRIMES_C, clone / "workloads" / "primes" / "primes.c")
    mappings = [{"from": RECORDED_ROOT, "to": str(clone)}] if mapped else []
    session = await replay(RECORDING, workspace=clone, settings={"pathMappings": mappings})
    result = await profile(session)
    assert result["ok"] is True, result
    copy_uri = (clone / "workloads" / "primes" / "primes.c").as_uri()
    if not mapped:  # the recording's paths are outside this workspace: nothing to annotate
        assert result["files"] == [] and session.client.diagnostics == {}
        return
    assert result["files"] == [copy_uri]
    assert set(session.client.diagnostics) == {copy_uri}
    hottest = max(session.client.diagnostics[copy_uri], key=lambda d: d.data["self_percent"])
    assert hottest.range.start.line == HOT


async def test_clear_results_empties_the_profiled_file(replay: Replay) -> None:
    """lineprobe.clearResults takes every result off the editor: diagnostics, heat, hints,
    hovers and the flame graph's data; a second clear finds nothing to clear."""
    session = await replay(RECORDING)
    assert (await profile(session))["ok"] is True
    assert session.client.diagnostics[URI]
    assert await session.command("lineprobe.clearResults") == {"ok": True, "cleared": ["profile"]}
    assert list(session.client.diagnostics[URI]) == []
    assert session.heat[-1] == {"uri": URI, "samples": 0, "lines": []}
    if session.supports("text_document.inlay_hint"):
        assert await session.inlay_hints(URI) == []
    assert await session.hover(URI, HOT, 8) is None
    assert (await session.command("lineprobe.flameGraph"))["ok"] is False
    assert await session.command("lineprobe.clearResults") == {"ok": True, "cleared": []}


async def test_clear_results_of_one_kind_keeps_the_others(replay: Replay) -> None:
    session = await replay(RECORDING)
    assert (await profile(session))["ok"] is True
    assert await session.command("lineprobe.clearResults", {"kinds": ["syscalls", "leaks"]}) == {
        "ok": True,
        "cleared": [],
    }
    assert session.client.diagnostics[URI]
    refused = await session.command("lineprobe.clearResults", {"kinds": ["everything"]})
    assert refused["ok"] is False and "everything" in refused["error"]["message"], refused


def saved_capture(folder: Path, recording: str, command: list[str]) -> Path:
    """A capture as ``--save`` keeps one, made from a test recording: its header names the
    command, and the archived binaries sit beside it."""
    source = RECORDINGS / f"{recording}.jsonl"
    lines = source.read_bytes().splitlines(keepends=True)
    header = json.loads(lines[0])
    header["command"] = command
    capture = folder / f"{recording}.lpcap"
    capture.write_bytes(json.dumps(header).encode() + b"\n" + b"".join(lines[1:]))
    shutil.copytree(RECORDINGS / f"{recording}.jsonl.binaries", folder / f"{recording}.lpcap.binaries")
    return capture


async def test_a_saved_capture_opens_in_the_editor_as_the_profile_did(replay: Replay, tmp_path: Path) -> None:
    """lineprobe.openCapture publishes a capture kept with ``--save`` as its command's live
    trace would: the same diagnostics, from the capture, with no agent."""
    live = await replay(RECORDING)
    assert (await profile(live))["ok"] is True
    expected = [(d.range.start.line, d.message) for d in live.client.diagnostics[URI]]
    await live.command("lineprobe.clearResults")
    capture = saved_capture(tmp_path, RECORDING, ["profile", "--pid", str(ANY_PID), "-d", "1"])
    opened = await live.command("lineprobe.openCapture", {"path": str(capture)})
    assert opened["ok"] is True and opened["capture"] == str(capture), opened
    assert [(d.range.start.line, d.message) for d in live.client.diagnostics[URI]] == expected
    assert live.heat[-1]["samples"] == opened["samples"] > 0


async def test_a_file_that_is_no_saved_capture_is_refused_by_the_editor(
    replay: Replay, tmp_path: Path
) -> None:
    session = await replay(RECORDING)
    garbage = tmp_path / "garbage.lpcap"
    garbage.write_bytes(b"\x00\xff\n")
    refused = await session.command("lineprobe.openCapture", {"path": str(garbage)})
    assert refused["ok"] is False and "not a lineprobe recording" in refused["error"]["message"], refused
    relative = await session.command("lineprobe.openCapture", {"path": "x.lpcap"})
    assert relative["ok"] is False and "absolute" in relative["error"]["message"], relative


async def test_with_no_path_the_workspaces_newest_capture_opens(replay: Replay, tmp_path: Path) -> None:
    """For editors whose command picker passes no arguments (Helix): the newest .lpcap under the
    workspace's folders, not one in a capture's archived binaries or a virtualenv; none, said so."""
    empty = await replay(RECORDING, workspace=tmp_path)
    refused = await empty.command("lineprobe.openCapture")
    assert refused["ok"] is False and "no capture (.lpcap)" in refused["error"]["message"], refused
    assert "--save" in refused["error"]["hint"]

    older = saved_capture(tmp_path, RECORDING, ["profile", "--pid", str(ANY_PID), "-d", "1"])
    newer_folder = tmp_path / "runs"
    newer_folder.mkdir()
    newer = saved_capture(newer_folder, RECORDING, ["profile", "--pid", str(ANY_PID), "-d", "1"])
    os.utime(older, (1_000_000_000, 1_000_000_000))
    for hidden in (tmp_path / ".venv", newer_folder / f"{newer.name}.binaries"):
        hidden.mkdir(exist_ok=True)
        (hidden / "newest.lpcap").write_bytes(b"not looked at")
    opened = await empty.command("lineprobe.openCapture")
    assert opened["ok"] is True and opened["capture"] == str(newer), opened
    assert opened["samples"] > 0


async def test_a_capture_of_a_kind_without_a_line_view_opens_as_its_report(
    replay: Replay, tmp_path: Path
) -> None:
    """A USDT count kept with ``--save`` opens in the editor as ``lineprobe open`` reports it: the
    probe's site on its marked line of probes.c, and the sizes it was grouped by."""
    session = await replay(RECORDING)
    command = ["usdt", "count", "lineprobe_demo:request", "--pid", str(ANY_PID), "-d", "2.5", "--arg", "2"]
    capture = saved_capture(tmp_path, "usdt-probes", command)
    opened = await session.command("lineprobe.openCapture", {"path": str(capture)})
    assert opened["ok"] is True and opened["command"] == "usdt count", opened
    probes_c = WORKLOADS / "probes" / "probes.c"
    assert f"probes.c:{marked_line(probes_c, 'REQUEST-PROBE')}" in opened["report"], opened["report"]
    assert all(str(size) in opened["report"] for size in (64, 128, 256, 512))
    assert "\x1b[" not in opened["report"]  # plain text: no terminal colours in a webview


async def test_a_pprof_export_opens_in_the_editor_with_the_captures_diagnostics(
    replay: Replay, tmp_path: Path
) -> None:
    """A pprof file carries its frames resolved, so it needs neither the capture nor its binaries:
    opened in the editor, it gives the diagnostics of the capture it was exported from."""
    session = await replay(RECORDING)
    capture = saved_capture(tmp_path, RECORDING, ["profile", "--pid", str(ANY_PID), "-d", "1"])
    opened = await session.command("lineprobe.openCapture", {"path": str(capture)})
    assert opened["ok"] is True, opened
    expected = [(d.range.start.line, d.message) for d in session.client.diagnostics[URI]]
    exported = tmp_path / "cpu.pb.gz"
    subprocess.run(
        [sys.executable, "-m", "lineprobe.cli", "open", str(capture), "--pprof", str(exported)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    shutil.rmtree(tmp_path / f"{RECORDING}.lpcap.binaries")  # the pprof file alone
    await session.command("lineprobe.clearResults")
    assert not session.client.diagnostics[URI]
    pprof = await session.command("lineprobe.openCapture", {"path": str(exported)})
    assert pprof["ok"] is True and pprof["capture"] == str(exported) and pprof["samples"] == opened["samples"]
    # The same lines and shares. The capture also knows, from the binary's DWARF checksums, that
    # primes.c changed since the recorded build; a pprof file has no checksums to tell.
    stale = " (source changed since the binary was built: lines may have moved)"
    assert [(d.range.start.line, d.message) for d in session.client.diagnostics[URI]] == [
        (line, message.removesuffix(stale)) for line, message in expected
    ]


async def test_settings_choose_which_kinds_of_results_are_shown(replay: Replay) -> None:
    """``showDiagnostics``, ``showInlayHints``, ``showCodeLenses`` (kinds of results) and
    ``actionLenses``: changed while a profile is shown, the file loses (and gets back) exactly
    those; hovers stay. A malformed value is named and changes nothing."""
    session = await replay(RECORDING)
    assert (await profile(session))["ok"] is True

    async def configured(settings: dict[str, Any]) -> None:
        session.client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"lineprobe": settings})
        )
        await asyncio.sleep(0.5)  # a notification: nothing answers it; publishing follows at once

    assert session.client.diagnostics[URI] and await session.inlay_hints(URI)
    assert any(lens.range.start.line == HOT - 2 for lens in await session.code_lenses(URI))
    await configured({"showDiagnostics": ["syscalls", "leaks"], "showInlayHints": [], "showCodeLenses": []})
    assert not session.client.diagnostics[URI]
    assert await session.inlay_hints(URI) == [] and await session.code_lenses(URI) == []
    assert "is_divisible" in (await session.hover(URI, HOT) or "")  # the hover stays
    await configured({"showInlayHints": ["oops"]})  # refused: the hints stay hidden
    assert await session.inlay_hints(URI) == []
    await configured(
        {"showDiagnostics": ["profile"], "showInlayHints": ["profile"], "showCodeLenses": ["profile"]}
    )
    assert session.client.diagnostics[URI] and await session.inlay_hints(URI)
    assert await session.code_lenses(URI)
