"""Reading V8's log (``node --log-code --log-source-code``): the functions TurboFan inlined, named
on their lines with the call they were inlined through, and every position's script named even
where V8 damaged it in the jitdump; a damaged, partial or moving log costing nothing else."""

from __future__ import annotations

import os
import subprocess
import tempfile
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
        [node(), *NODE_FLAGS, str(script), "0.5"], cwd=folder, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    (dump,) = folder.glob("jit-*.dump")
    pid = int(dump.stem.removeprefix("jit-"))
    jitdump = load_jitdump(str(dump), os.getuid())
    assert jitdump is not None
    logs = [load_v8_log(path, os.getuid()) for path in v8_log_paths(pid, str(folder))]
    assert logs and all(log is not None and log.problems == [] for log in logs), logs
    return jitdump, [log for log in logs if log is not None]


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[JitDump, list[V8Log]]:
    """inlined.js run for half a second with the flags lineprobe gives node."""
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
        for code in with_v8_positions(jitdump, logs).codes:
            if code.name.startswith("JS:*lineprobeOuter"):
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


def test_a_log_by_hand_follows_moves_escapes_and_leaves_what_it_cannot_read(tmp_path: Path) -> None:
    path = tmp_path / "isolate-0x1-42-v8.log"
    path.write_text(LOG)
    log = load_v8_log(str(path), os.getuid())
    assert log is not None
    assert log.problems == [f"{path}: a damaged code-source-info record; some inlined functions stay unnamed"]
    assert set(log.codes) == {0x6000}, "moved; the half-written record is not read"
    assert log.place("/a.js", 61) == (5, 10) and log.place("/a.js", 25) == (2, 10)
    code = JitCode(0x6000, 0x6000 + 300, "JS:*f /a.js:1:1", "f", "/a.js", 1)
    positions = log.positions(code)
    assert positions == (
        JitPosition(0x6000, "/a.js", 1, 1),
        JitPosition(0x6010, "/a.js", 5, 10, "g", (("f", "/a.js", 2),)),
        JitPosition(0x6020, "/a.js", 2, 10),
    )
    assert log.positions(JitCode(0x7000, 0x7100, "JS:*g", "g", "/a.js", 4)) is None
    assert v8_log_paths(42, str(tmp_path)) == [str(path)] and v8_log_paths(43, str(tmp_path)) == []


def test_a_log_without_the_inlined_function_s_name_leaves_the_jitdump_s_positions(tmp_path: Path) -> None:
    path = tmp_path / "isolate-0x1-42-v8.log"
    path.write_text(LOG.replace("sfi-move,0xb00,0xb80\n", ""))  # g's SFI then unknown at 0xb80
    log = load_v8_log(str(path), os.getuid())
    assert log is not None and log.codes == {}
    code = JitCode(0x6000, 0x6100, "JS:*f /a.js:1:1", "f", "/a.js", 1, None, (JitPosition(0x6000, None, 3),))
    dump = JitDump("jit-42.dump", [code])
    assert with_v8_positions(dump, [log]) is dump


def test_code_the_jitdump_does_not_hold_yet_is_taken_from_the_log(tmp_path: Path) -> None:
    """V8 writes its jitdump through a 2 MB buffer and its log a line at a time: code compiled
    last is in the log first, with its range, name and positions; where the jitdump has code, it
    is the jitdump's."""
    path = tmp_path / "isolate-0x1-42-v8.log"
    path.write_text(LOG)
    log = load_v8_log(str(path), os.getuid())
    assert log is not None
    older = JitCode(0x1000, 0x1100, "JS:~f /a.js:1:1", "f", "/a.js", 1)
    (added,) = [c for c in with_v8_positions(JitDump("jit-42.dump", [older]), [log]).codes if c is not older]
    assert (added.start, added.end, added.name, added.function, added.script) == (
        0x6000,
        0x6000 + 300,
        "JS:*f /a.js:1:1",
        "f",
        "/a.js",
    )
    assert [p.function for p in added.positions] == [None, "g", None]
    merged = with_v8_positions(JitDump("jit-42.dump", [older]), [log])
    assert merged.lookup(0x6010) == added and merged.lookup(0x1010) == older
    covering = JitCode(0x5F00, 0x6100, "JS:*h /a.js:9:1", "h", "/a.js", 9)
    kept = with_v8_positions(JitDump("jit-42.dump", [covering]), [log])
    assert [c.name for c in kept.codes] == ["JS:*h /a.js:9:1"], "the jitdump's code where it has some"


@pytest.mark.parametrize("inlinings", ["F0O25I0", "F0O25I1", "F0O25F0O25I7"], ids=["itself", "later", "none"])
def test_an_inlining_whose_caller_is_not_an_earlier_one_is_a_damaged_record(
    tmp_path: Path, inlinings: str
) -> None:
    """A caller's inlining comes before its callees' in V8's numbering: any other (one's own, a
    later one, one that is not there) would make the chain of calls loop or fail."""
    path = tmp_path / "isolate-0x1-42-v8.log"
    path.write_text(LOG.replace("C16O61I0C32O25,F0O25,", f"C16O61I0C32O25,{inlinings},"))
    log = load_v8_log(str(path), os.getuid())
    assert log is not None and 0x6000 not in log.codes
