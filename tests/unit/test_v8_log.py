"""Reading V8's log (``node --log-code --log-source-code``): the functions TurboFan inlined, named
on their lines with the call they were inlined through, and every position's script named even
where V8 damaged it in the jitdump; a damaged, partial or moving log costing nothing else."""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from lineprobe.symbolization.frame import INLINED, JIT
from lineprobe.symbolization.jitdump import JitCode, JitDump, JitPosition, load_jitdump
from lineprobe.symbolization.resolver import AddressSpace, ImageCache, MappedFile
from lineprobe.symbolization.runtime_hints import NODE_FLAGS
from lineprobe.symbolization.v8_log import V8Log, load_v8_log, v8_log_paths, with_v8_positions

from tests.conftest import WORKLOADS, marked_line, node

INLINED_JS = WORKLOADS / "jit" / "inlined.js"


def _run(script: Path, folder: Path) -> tuple[JitDump, list[V8Log]]:
    done = subprocess.run(
        [node(), *NODE_FLAGS, str(script), "1"], cwd=folder, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    (dump,) = folder.glob("jit-*.dump")
    pid = int(dump.stem.removeprefix("jit-"))
    Path(f"/tmp/perf-{pid}.map").unlink(missing_ok=True)  # --perf-basic-prof's, not needed here
    jitdump = load_jitdump(str(dump), os.getuid())
    assert jitdump is not None
    logs = [load_v8_log(path, os.getuid()) for path in v8_log_paths(pid, str(folder))]
    assert logs and all(log is not None and log.problems == [] for log in logs), logs
    return jitdump, [log for log in logs if log is not None]


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[JitDump, list[V8Log]]:
    """inlined.js run for a second with the flags lineprobe gives node."""
    return _run(INLINED_JS, tmp_path_factory.mktemp("v8log"))


def _optimized_outer(jitdump: JitDump) -> list[JitCode]:
    codes = [code for code in jitdump.codes if code.name.startswith("JS:*lineprobeOuter")]
    assert codes, "TurboFan compiled lineprobeOuter"
    return codes


def test_an_inlined_function_is_named_with_the_call_it_was_inlined_through(
    logged: tuple[JitDump, list[V8Log]],
) -> None:
    jitdump, logs = logged
    inner, calls = marked_line(INLINED_JS, "INNER-LINE"), marked_line(INLINED_JS, "CALLS-INNER")
    before = [p for code in _optimized_outer(jitdump) for p in code.positions if p.line == inner]
    assert before and all(p.function is None and not p.callers for p in before), "the jitdump alone"
    for code in _optimized_outer(with_v8_positions(jitdump, logs)):
        at_inner = [p for p in code.positions if p.line == inner]
        assert at_inner, [(hex(p.address - code.start), p.line) for p in code.positions]
        for position in at_inner:
            assert (position.path, position.function) == (str(INLINED_JS), "lineprobeInner")
            assert position.callers == (("lineprobeOuter", str(INLINED_JS), calls),)
        own = [p for p in code.positions if p.line != inner]
        assert own and all(p.function is None and not p.callers for p in own), "the code's own lines"


def test_a_sample_in_inlined_code_is_two_frames(logged: tuple[JitDump, list[V8Log]]) -> None:
    """The inlined function's line, as an inlined frame inside the call it was inlined through."""
    jitdump = with_v8_positions(*logged)
    code = _optimized_outer(jitdump)[0]
    position = next(p for p in code.positions if p.function == "lineprobeInner")
    space = AddressSpace(
        [MappedFile(code.start & ~0xFFF, code.end + 0x1000, 0, "")], ImageCache(index_cache=None)
    )
    space.jitdump = jitdump
    inner, outer = space.resolve(position.address, False)
    assert (inner.function, inner.path, inner.line, inner.kind) == (
        "lineprobeInner",
        str(INLINED_JS),
        marked_line(INLINED_JS, "INNER-LINE"),
        INLINED,
    )
    assert (outer.function, outer.path, outer.line, outer.kind) == (
        "lineprobeOuter",
        str(INLINED_JS),
        marked_line(INLINED_JS, "CALLS-INNER"),
        JIT,
    )


def test_a_script_whose_name_v8_damaged_keeps_its_lines(tmp_path: Path) -> None:
    """A script name of 16 bytes or less that V8 wrote damaged (its first 16 bytes overwritten)
    cannot be restored from the jitdump alone; the log names the script of every position."""
    fd, short = tempfile.mkstemp(prefix="", suffix=".js", dir="/tmp")
    try:
        os.write(fd, INLINED_JS.read_bytes())
        os.close(fd)
        assert len(short.encode()) <= 16, short
        jitdump, logs = _run(Path(short), tmp_path)
        damaged = sum(
            1 for code in jitdump.codes if code.script == short for p in code.positions if not p.path
        )
        for code in _optimized_outer(with_v8_positions(jitdump, logs)):
            assert {p.path for p in code.positions} == {short}, f"{damaged} damaged before"
            assert marked_line(INLINED_JS, "INNER-LINE") in {p.line for p in code.positions}
    finally:
        os.unlink(short)


LOG = """\
v8-version,11,3,244,8,0,0
script-source,7,/a.js,function f(a) {\\n  return g(a)\\x2C 1;\\n}\\nfunction g(b) {\\n  return b * 2;\\n}\\n
code-creation,JS,10,100,0x1000,40,f /a.js:1:1,0xa00,~
code-creation,JS,10,101,0x2000,40,g /a.js:4:1,0xb00,~
sfi-move,0xb00,0xb80
code-creation,JS,13,200,0x5000,300,f /a.js:1:1,0xa00,*
code-source-info,0x5000,7,0,40,C0O0C16O61I0C32O25,F0O25,S0xb80
code-move,0x5000,0x6000
code-source-info,0xzz,7,0,40,C0O0,,
code-creation,JS,13,300,0x7000,100,g /a.js:4:1,0xb80,*
code-source-info,0x7000,7,4"""
"""A log by hand: f calls g on its line 2 (position 25, column 10), g's ``b * 2`` is at position 61
(line 5, column 10); the optimized f (moved to 0x6000) has g inlined from pc offset 16 to 32; g's SFI
moved before f was optimized; one record is damaged and the last one not written to its end."""


def _log(tmp_path: Path, text: str) -> V8Log:
    path = tmp_path / "isolate-0x1-42-v8.log"
    path.write_text(text)
    log = load_v8_log(str(path), os.getuid())
    assert log is not None
    return log


F_AT_6000 = JitCode(0x6000, 0x6000 + 300, "JS:*f /a.js:1:1", "f", "/a.js", 1, 1)
"""The optimized f of ``LOG``, as the jitdump would hold it."""


def test_a_log_by_hand_follows_moves_escapes_and_leaves_what_it_cannot_read(tmp_path: Path) -> None:
    log = _log(tmp_path, LOG)
    assert log.problems == [
        f"{log.path}: 1 damaged code-source-info record(s); the code they describe keeps the jitdump's lines"
    ]
    assert set(log.codes) == {0x6000}, "moved; the half-written record is not read"
    assert log.place("/a.js", 61) == (5, 10) and log.place("/a.js", 25) == (2, 10)
    assert log.positions(F_AT_6000) == (
        JitPosition(0x6000, "/a.js", 1, 1),
        JitPosition(0x6010, "/a.js", 5, 10, "g", (("f", "/a.js", 2),)),
        JitPosition(0x6020, "/a.js", 2, 10),
    )
    assert log.positions(replace(F_AT_6000, end=0x6000 + 200)) is None, "another code at that address"
    assert log.positions(JitCode(0x7000, 0x7064, "JS:*g /a.js:4:1", "g", "/a.js", 4)) is None
    assert v8_log_paths(42, str(tmp_path)) == [log.path] and v8_log_paths(43, str(tmp_path)) == []


def test_a_log_without_the_inlined_function_s_name_leaves_the_jitdump_s_positions(tmp_path: Path) -> None:
    log = _log(tmp_path, LOG.replace("sfi-move,0xb00,0xb80\n", ""))  # g's SFI then unknown at 0xb80
    assert log.codes == {}
    code = replace(F_AT_6000, positions=(JitPosition(0x6000, None, 3),))
    result = with_v8_positions(JitDump("jit-42.dump", [code]), [log])
    assert result.codes == [code] and result.problems == log.problems, "what the log could not say, said"


def test_code_the_jitdump_does_not_hold_yet_is_taken_from_the_log(tmp_path: Path) -> None:
    """V8 writes its jitdump through a 2 MB buffer and its log a line at a time: code compiled
    last is in the log first, with its range, name and positions; where the jitdump has code the
    log does not show to be older, it is the jitdump's."""
    log = _log(tmp_path, LOG)
    bytecode = JitCode(0x1000, 0x1028, "JS:~f /a.js:1:1", "f", "/a.js", 1)
    merged = with_v8_positions(JitDump("jit-42.dump", [bytecode]), [log])
    added = merged.lookup(0x6010)
    assert added is not None and added == replace(F_AT_6000, positions=log.positions(F_AT_6000))
    assert merged.lookup(0x1010) == bytecode and merged.lookup(0x7010) is None, "g's record is half-written"
    # Code the jitdump has under the log's live code is older: V8 writes every creation to its
    # log first. A log read only in part may lack the newest code: then the jitdump's stays.
    freed = JitCode(0x5F00, 0x6100, "JS:*h /a.js:9:1", "h", "/a.js", 9)
    replaced = with_v8_positions(JitDump("jit-42.dump", [freed]), [log])
    assert [c.name for c in replaced.codes] == ["JS:*f /a.js:1:1"]
    log.cut = True
    assert with_v8_positions(JitDump("jit-42.dump", [freed]), [log]).codes == [freed]


OVERWRITTEN = """\
script-source,7,/a.js,function f(a) {\\n  return g(a)\\x2C 1;\\n}\\nfunction g(b) {\\n  return b * 2;\\n}\\n
code-creation,JS,13,100,0x1000,512,f /a.js:1:1,0xa00,*
code-source-info,0x1000,7,0,40,C0O0,,
code-creation,JS,13,200,0x1100,64,g /a.js:4:1,0xb00,*
code-source-info,0x1100,7,61,70,C0O61,,
code-creation,JS,13,300,0x3000,64,f /a.js:1:1,0xa00,*
code-source-info,0x3000,7,0,40,C0O0,,
code-creation,JS,13,400,0x3000,80,g /a.js:4:1,0xb00,*
code-source-info,0x3000,7,61,70,C0O61,,
code-creation,JS,13,500,0x5000,64,g /a.js:4:1,0xb00,*
code-source-info,0x5000,7,61,70,C0O61,,
code-creation,RegExp,3,600,0x6000,64,\\x5Cd+
code-move,0x6000,0x5000
"""
"""Memory reused three ways: g created at 0x1100 inside f's freed code at 0x1000; g created at
0x3000 where f's code was; a RegExp moved onto 0x5000, where g's code was."""


def test_what_the_log_created_last_over_freed_code_is_what_is_there(tmp_path: Path) -> None:
    log = _log(tmp_path, OVERWRITTEN)
    f_1000 = JitCode(0x1000, 0x1200, "JS:*f /a.js:1:1", "f", "/a.js", 1, 1)
    f_3000 = JitCode(0x3000, 0x3040, "JS:*f /a.js:1:1", "f", "/a.js", 1, 1)
    merged = with_v8_positions(JitDump("jit-42.dump", [f_1000, f_3000]), [log])
    inside = merged.lookup(0x1110)
    assert inside is not None and inside.function == "g", "created later, at another start"
    assert merged.lookup(0x1010) is None, "f's code there is gone"
    same_start = merged.lookup(0x3010)
    assert same_start is not None and (same_start.function, same_start.end) == ("g", 0x3050)
    assert 0x5000 not in log.codes and log.ranges[0x5000].name == "RegExp:\\d+", "moved onto g's place"
    regexp = JitCode(0x5000, 0x5040, "RegExp:\\d+", "RegExp:\\d+", None, None)
    assert log.positions(regexp) is None, "no dead function's lines for the RegExp"


REUSED = """\
script-source,7,/a.js,function f(a) {\\n  return g(a)\\x2C 1;\\n}\\nfunction g(b) {\\n  return b * 2;\\n}\\n
code-creation,JS,10,100,0x1000,40,f /a.js:1:1,0xa00,~
code-creation,JS,10,101,0x2000,40,g /a.js:4:1,0xb00,~
code-creation,JS,13,200,0x7000,100,g /a.js:4:1,0xb00,*
code-source-info,0x7000,7,61,70,C0O61,,
code-creation,JS,13,300,0x6F80,300,f /a.js:1:1,0xa00,*
code-source-info,0x6F80,7,0,40,C0O0C16O61I0,F0O25,S0xb00
code-creation,RegExp,3,400,0x5000,100,\\x5Cd+
code-source-info,0x5000,7,0,40,C0O0,,
code-creation,JS,13,500,0x4000,100,f /a.js:1:1,0xa00,*
code-source-info,0x4000,7,0,40,C0O0,,
code-creation,JS,11,600,0x4000,100,f /a.js:1:1,0xa00,^
"""
"""V8 reusing memory: f's new code at 0x6F80 over g's at 0x7000 (freed); a RegExp at 0x5000 with
no positions of a function; f's optimized code at 0x4000, then its baseline code there (no
positions of its own)."""


def test_newer_code_over_freed_code_replaces_it_and_freed_code_s_positions_are_not_reused(
    tmp_path: Path,
) -> None:
    log = _log(tmp_path, REUSED)
    freed_g = JitCode(
        0x7000, 0x7064, "JS:*g /a.js:4:1", "g", "/a.js", 4, None, (JitPosition(0x7000, None, 5),)
    )
    merged = with_v8_positions(JitDump("jit-42.dump", [freed_g]), [log])
    (code,) = merged.codes
    assert (code.start, code.name) == (0x6F80, "JS:*f /a.js:1:1"), "the log shows g's code older"
    assert merged.lookup(0x6F90) == code and code.position(0x6F90) == JitPosition(
        0x6F90, "/a.js", 5, 10, "g", (("f", "/a.js", 2),)
    )
    assert set(log.codes) == {0x6F80, 0x7000}, "the RegExp is no function's"
    baseline = JitCode(0x4000, 0x4064, "JS:^f /a.js:1:1", "f", "/a.js", 1)
    assert log.positions(baseline) is None and 0x4000 not in log.codes, "the optimized code is gone"


def test_an_inlining_v8_did_not_number_and_a_position_it_did_not_know(tmp_path: Path) -> None:
    """``F`` without a number keeps the inlinings after it in place (their indexes are what the
    positions name); ``O-1`` is a position without a line."""
    log = _log(tmp_path, LOG.replace("C0O0C16O61I0C32O25,F0O25,", "C0O-1C16O61I1C32O25,FO30F0O25,"))
    assert log.positions(F_AT_6000) == (
        JitPosition(0x6000, "/a.js", 0, 0),
        JitPosition(0x6010, "/a.js", 5, 10, "g", (("f", "/a.js", 2),)),
        JitPosition(0x6020, "/a.js", 2, 10),
    )
    # A position inside the unnumbered one has no script to name its line from: the code keeps
    # the jitdump's positions.
    log = _log(tmp_path, LOG.replace("C0O0C16O61I0C32O25,F0O25,", "C0O0C16O61I0C32O25,FO30,"))
    assert log.positions(F_AT_6000) is None


@pytest.mark.parametrize("inlinings", ["F0O25I0", "F0O25I1", "F0O25F0O25I7"], ids=["itself", "later", "none"])
def test_an_inlining_whose_caller_is_not_an_earlier_one_is_a_damaged_record(
    tmp_path: Path, inlinings: str
) -> None:
    """A caller's inlining comes before its callees' in V8's numbering: any other (one's own, a
    later one, one that is not there) would make the chain of calls loop or fail."""
    log = _log(tmp_path, LOG.replace("C16O61I0C32O25,F0O25,", f"C16O61I0C32O25,{inlinings},"))
    assert 0x6000 not in log.codes and "damaged code-source-info" in log.problems[-1]


def test_a_chain_of_inlinings_deeper_than_turbofan_makes_names_nothing(tmp_path: Path) -> None:
    """5,000 inlinings each inside the one before, a position in each: bounded work, no line
    from a chain past ``MAX_INLINING_DEPTH``."""
    depth = 5000
    inlinings = "F0O25" + "".join(f"F0O25I{k - 1}" for k in range(1, depth))
    positions = "".join(f"C{16 + k}O61I{k}" for k in range(depth))
    log = _log(tmp_path, LOG.replace("C0O0C16O61I0C32O25,F0O25,", f"C0O0{positions},{inlinings},"))
    assert log.positions(F_AT_6000) is None
    shallow = "F0O25" + "".join(f"F0O25I{k - 1}" for k in range(1, 10))
    log = _log(tmp_path, LOG.replace("C0O0C16O61I0C32O25,F0O25,", f"C0O0C16O61I9,{shallow},"))
    deepest = log.positions(F_AT_6000)
    assert deepest is not None and len(deepest[1].callers) == 10
    assert deepest[1].callers[-1] == ("f", "/a.js", 2) and deepest[1].callers[0] == ("g", "/a.js", 2)


def test_names_sizes_and_line_ends_as_v8_writes_them(tmp_path: Path) -> None:
    text = (
        "script-source,8,/b.js,a\\r\\nb\\u2028c\\rd\\n\n"
        "code-creation,JS,13,1,0x9000,99999999999,huge /b.js:1:1,0xc00,*\n"
        "code-creation,JS,13,2,0x8000,64,\\xC3\\xA9t\\xC3\\xA9 /b.js:1:1,0xd00,*\n"
        "code-source-info,0x8000,8,0,9,C0O5,,\n"
    )
    log = _log(tmp_path, text)
    assert [log.place("/b.js", at) for at in (0, 3, 5, 7)] == [(1, 1), (2, 1), (3, 1), (4, 1)]
    assert log.problems == [
        f"{log.path}: 1 damaged code-creation record(s); the code they describe keeps the jitdump's lines"
    ]
    code = JitCode(0x8000, 0x8040, "JS:*été /b.js:1:1", "été", "/b.js", 1)
    assert log.positions(code) == (JitPosition(0x8000, "/b.js", 3, 1),)


def test_code_the_jitdump_does_not_hold_yet_is_taken_from_the_log_alone(tmp_path: Path) -> None:
    log = _log(tmp_path, LOG)
    merged = with_v8_positions(JitDump("jit-42.dump", []), [log])
    assert [(c.start, c.name) for c in merged.codes] == [(0x6000, "JS:*f /a.js:1:1")]
    assert merged._starts == [0x6000]
