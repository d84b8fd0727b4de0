"""Managed runtimes' lines in the editor, without privileges, from recorded 1 s profiles whose JIT
code's frames come from the capture's frame archive alone (the runtime's jitdump is not read on
replay):

- the workshop's Java program (tests/recordings/profile-slowy.jsonl: HotSpot with `-XX:-Inline`,
  lineprobe's JVMTI agent loaded into it as the window ended): App.java is found under the
  workspace by its package path, and isDivisible's line is the hottest;
- the same program under `-Xint` (profile-slowy-interpreted.jsonl): every Java frame is the
  interpreter's, named from its slots by the methods the capture kept;
- the workshop's server lab in Java, interpreted (syscalls-jconfig.jsonl): the failing open's site
  is Config.java's CONFIG-OPEN line, named from the interpreter frame's slots by the methods the
  capture kept;
- JavaScript TurboFan inlined (profile-jit-inlined.jsonl: node with lineprobe's flags, V8's log
  beside its jitdump): lineprobeOuter's loop line as an inlined frame, related to the top level's
  call it was inlined through;
- TypeScript run by node with `--perf-prof` (profile-jit-ts.jsonl): V8's positions in hot.js
  went through tsc's source map, and the diagnostic is in hot.ts, on the line marked SPIN-LINE."""

from __future__ import annotations

from lsprotocol import types

from tests.conftest import WORKLOADS, marked_line
from tests.lsp.conftest import Replay
from tests.lsp.test_profile import profile
from tests.lsp.test_syscalls import trace

APP_JAVA = WORKLOADS / "slowy" / "slowy" / "App.java"
CONFIG_JAVA = WORKLOADS / "jconfig" / "jconfig" / "Config.java"
HOT_TS = WORKLOADS / "jit_ts" / "hot.ts"
INLINED_JS = WORKLOADS / "jit" / "inlined.js"
URI = APP_JAVA.as_uri()


async def test_is_divisible_s_line_is_the_hottest_diagnostic_in_app_java(replay: Replay) -> None:
    session = await replay("profile-slowy")
    result = await profile(session)
    assert result["ok"] is True, result
    assert result["files"] == [URI], result["files"]
    top = result["top_lines"][0]
    hot = marked_line(APP_JAVA, "IS-DIVISIBLE")
    assert (top["path"], top["line"], top["function"]) == ("slowy/App.java", hot, "slowy.App.isDivisible")

    diagnostics = session.client.diagnostics[URI]
    hottest = max(diagnostics, key=lambda d: d.data["self_percent"])
    assert hottest.range.start.line == hot - 1
    assert hottest.severity == types.DiagnosticSeverity.Information
    assert "of CPU samples (self) in slowy.App.isDivisible" in hottest.message, hottest.message
    calls = marked_line(APP_JAVA, "CALLS-IS-DIVISIBLE") - 1
    related = [(r.location.uri, r.location.range.start.line) for r in hottest.related_information or []]
    assert (URI, calls) in related, related


async def test_interpreted_methods_are_named_from_the_methods_the_capture_kept(replay: Replay) -> None:
    session = await replay("profile-slowy-interpreted")
    result = await profile(session)
    assert result["ok"] is True, result
    hot = marked_line(APP_JAVA, "IS-DIVISIBLE")
    top = result["top_lines"][0]
    assert (top["path"], top["line"], top["function"]) == ("slowy/App.java", hot, "slowy.App.isDivisible")
    hottest = max(session.client.diagnostics[URI], key=lambda d: d.data["self_percent"])
    assert hottest.range.start.line == hot - 1, hottest
    calls = marked_line(APP_JAVA, "CALLS-IS-DIVISIBLE") - 1
    related = [(r.location.uri, r.location.range.start.line) for r in hottest.related_information or []]
    assert (URI, calls) in related, "its caller, an interpreter frame too, named from its own slots"


async def test_a_failing_open_is_a_warning_on_its_interpreted_java_line(replay: Replay) -> None:
    session = await replay("syscalls-jconfig")
    result = await trace(session)
    uri = CONFIG_JAVA.as_uri()
    assert uri in result["files"], result["files"]
    failure = next(f for f in result["failures"] if f["path"].endswith("/never.conf"))
    line = marked_line(CONFIG_JAVA, "CONFIG-OPEN")
    assert (failure["site"]["path"], failure["site"]["line"]) == ("jconfig/Config.java", line), failure
    assert failure["site"]["function"] == "jconfig.Config.load"
    (diagnostic,) = [d for d in session.client.diagnostics[uri] if d.code == "syscall-failure"]
    assert diagnostic.range.start.line == line - 1
    assert diagnostic.severity == types.DiagnosticSeverity.Warning
    expected = f'openat("{failure["path"]}") failed with ENOENT'
    assert diagnostic.message.startswith(expected), diagnostic.message
    assert diagnostic.data["count"] == failure["count"] > 100
    text = await session.hover(uri, line - 1)
    assert text is not None and "jconfig.Config.load" in text and "ENOENT" in text, text


async def test_typescript_s_spin_line_is_the_hottest_diagnostic_in_hot_ts(replay: Replay) -> None:
    session = await replay("profile-jit-ts")
    result = await profile(session)
    assert result["ok"] is True, result
    assert HOT_TS.as_uri() in result["files"], result["files"]
    diagnostics = session.client.diagnostics[HOT_TS.as_uri()]
    hottest = max(diagnostics, key=lambda d: d.data["self_percent"])
    assert hottest.range.start.line == marked_line(HOT_TS, "SPIN-LINE") - 1
    assert "in lineprobeTypedSpin" in hottest.message and hottest.data["self_percent"] > 50, hottest
    compiled = (WORKLOADS / "build" / "jit_ts" / "hot.js").as_uri()
    assert compiled not in session.client.diagnostics, "nothing is left on the compiled JavaScript"


async def test_an_inlined_javascript_function_is_named_with_the_call_it_was_inlined_through(
    replay: Replay,
) -> None:
    session = await replay("profile-jit-inlined")
    result = await profile(session)
    assert result["ok"] is True, result
    uri = INLINED_JS.as_uri()
    hottest = max(session.client.diagnostics[uri], key=lambda d: d.data["self_percent"])
    assert hottest.range.start.line == marked_line(INLINED_JS, "OUTER-LOOP") - 1
    assert "in lineprobeOuter" in hottest.message, hottest.message
    related = [(r.location.uri, r.location.range.start.line) for r in hottest.related_information or []]
    assert (uri, marked_line(INLINED_JS, "CALLS-OUTER") - 1) in related, related
