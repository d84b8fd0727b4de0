"""Reading V8's jitdump (``node --perf-prof``): code ranges with their source lines, V8's ways
absorbed, and a file that is damaged, partial, planted or foreign costing a message only."""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

import pytest
from lineprobe.symbolization.frame import INLINED, JIT
from lineprobe.symbolization.jitdump import JitCode, JitDump, load_jitdump
from lineprobe.symbolization.resolver import AddressSpace, ImageCache, MappedFile

from tests.conftest import WORKLOADS, marked_line, node

HOT_JS = WORKLOADS / "jit" / "hot.js"


@pytest.fixture(scope="module")
def dumped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The jitdump of hot.js run for half a second: its hot function compiled by every tier."""
    folder = tmp_path_factory.mktemp("jitdump")
    done = subprocess.run(
        [node(), "--perf-prof", str(HOT_JS), "0.5"], cwd=folder, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    (dump,) = folder.glob("jit-*.dump")
    return dump


def _hot(jitdump: JitDump) -> list[JitCode]:
    return [code for code in jitdump.codes if code.function == "lineprobeHotSpin"]


def test_the_hot_function_s_code_is_on_its_lines(dumped: Path) -> None:
    jitdump = load_jitdump(str(dumped), os.getuid())
    assert jitdump is not None and jitdump.problems == []
    hot = _hot(jitdump)
    assert hot and all(code.script == str(HOT_JS) and code.function_line == 5 for code in hot)
    optimized = [code for code in hot if code.name.startswith("JS:*")]
    assert optimized, [code.name for code in hot]
    spin = marked_line(HOT_JS, "SPIN-LINE")
    for code in optimized:
        # Every file name is whole again (V8 writes some with their first 16 bytes overwritten).
        assert {p.path for p in code.positions} == {str(HOT_JS)}
        assert spin in {p.line for p in code.positions}
        assert all(5 <= p.line <= 11 for p in code.positions)


def test_positions_start_on_instructions_of_the_compiled_code(dumped: Path, tmp_path: Path) -> None:
    """The 0x40 V8 adds to every entry is taken off: each source position starts exactly where
    an instruction of the code does (objdump's disassembly of the code the dump carries); with
    the 0x40 left on, positions land inside instructions."""
    jitdump = load_jitdump(str(dumped), os.getuid())
    assert jitdump is not None
    code = next(code for code in _hot(jitdump) if code.name.startswith("JS:*"))
    starts = _instruction_starts(_code_bytes(dumped, code.start), code.start, tmp_path)
    positions = {p.address for p in code.positions}
    assert positions <= starts, sorted(hex(a - code.start) for a in positions - starts)
    shifted = {a + 0x40 for a in positions if a + 0x40 < code.end}
    assert not shifted <= starts


def test_an_address_space_puts_jit_samples_on_their_lines(dumped: Path) -> None:
    jitdump = load_jitdump(str(dumped), os.getuid())
    assert jitdump is not None
    code = next(code for code in _hot(jitdump) if code.name.startswith("JS:*"))
    spin = next(p for p in code.positions if p.line == marked_line(HOT_JS, "SPIN-LINE"))
    space = AddressSpace(
        [MappedFile(code.start & ~0xFFF, code.end + 0x1000, 0, "")], ImageCache(index_cache=None)
    )
    space.jitdump = jitdump
    (frame,) = space.resolve(spin.address, False)
    assert (frame.function, frame.path, frame.line, frame.kind) == (
        "lineprobeHotSpin",
        str(HOT_JS),
        spin.line,
        JIT,
    )
    assert frame.function_line == 5


def test_a_dump_still_being_written_gives_its_whole_records(dumped: Path, tmp_path: Path) -> None:
    whole = load_jitdump(str(dumped), os.getuid())
    data = dumped.read_bytes()
    partial = tmp_path / "jit-1.dump"
    partial.write_bytes(data[: len(data) - 7])  # the last record cut short
    cut = load_jitdump(str(partial), os.getuid())
    assert whole is not None and cut is not None and cut.problems == []
    assert 0 < len(whole.codes) - len(cut.codes) <= 1


def test_a_file_that_is_not_a_jitdump_is_said_so(tmp_path: Path) -> None:
    path = tmp_path / "jit-2.dump"
    path.write_bytes(os.urandom(4096))
    jitdump = load_jitdump(str(path), os.getuid())
    assert jitdump is not None and jitdump.codes == [] and "not a jitdump" in jitdump.problems[0]


def test_a_damaged_record_costs_a_message(dumped: Path, tmp_path: Path) -> None:
    data = bytearray(dumped.read_bytes())
    struct.pack_into("<I", data, 40 + 4, 1 << 31)  # the first record claims 2 GiB
    path = tmp_path / "jit-3.dump"
    path.write_bytes(bytes(data))
    jitdump = load_jitdump(str(path), os.getuid())
    assert (
        jitdump is not None and jitdump.codes == [] and "a damaged record at byte 40" in jitdump.problems[0]
    )


def test_a_dump_of_another_user_or_a_symlink_is_not_read(dumped: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "jit-4.dump"
    foreign.write_bytes(dumped.read_bytes())
    if os.getuid() == 0:
        os.chown(foreign, 12345, 12345)
        jitdump = load_jitdump(str(foreign), owner_uid=54321)
        assert jitdump is not None and jitdump.codes == [] and "owned by uid 12345" in jitdump.problems[0]
    link = tmp_path / "jit-5.dump"
    link.symlink_to(dumped)
    planted = load_jitdump(str(link), os.getuid())
    assert planted is not None and planted.codes == [] and planted.problems
    assert load_jitdump(str(tmp_path / "jit-6.dump"), os.getuid()) is None


def _code_bytes(dump: Path, start: int) -> bytes:
    """The machine code a JIT_CODE_LOAD record carries, after its name (the reader skips it)."""
    data = dump.read_bytes()
    offset = struct.unpack_from("<I", data, 8)[0]
    while offset + 16 <= len(data):
        kind, size = struct.unpack_from("<II", data, offset)
        if kind == 0:
            _pid, _tid, _vma, address, code_size, _index = struct.unpack_from("<IIQQQQ", data, offset + 16)
            if address == start:
                name_end = data.index(b"\0", offset + 56)
                return data[name_end + 1 : name_end + 1 + code_size]
        offset += size
    raise AssertionError(f"no code loaded at {start:#x}")


def _instruction_starts(code: bytes, start: int, tmp_path: Path) -> set[int]:
    raw = tmp_path / "code.bin"
    raw.write_bytes(code)
    listing = subprocess.run(
        ["objdump", "-D", "-b", "binary", "-mi386:x86-64", f"--adjust-vma={start:#x}", str(raw)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    starts = set()
    for line in listing.splitlines():
        address, colon, rest = line.strip().partition(":")
        if colon and rest.startswith("\t"):
            starts.add(int(address, 16))
    return starts


def _record(kind: int, body: bytes) -> bytes:
    return struct.pack("<IIQ", kind, 16 + len(body), 0) + body


def test_the_jvmti_agent_s_inline_chains_become_inlined_frames(tmp_path: Path) -> None:
    """lineprobe's JVMTI agent writes "SOURCE<TAB>METHOD" entries, several at one address for an
    inline chain, innermost first: isDivisible inlined into isPrime at line 22."""
    start = 0x7F00_0000_1000
    entries = [
        (start, 21, "slowy/App.java\tslowy.App.isPrime"),
        (start + 0x40, 14, "slowy/App.java\tslowy.App.isDivisible"),
        (start + 0x40, 22, "slowy/App.java\tslowy.App.isPrime"),
        (start + 0x60, 21, "slowy/App.java\tslowy.App.isPrime"),
    ]
    debug = struct.pack("<QQ", start, len(entries)) + b"".join(
        struct.pack("<QII", at, line, 0) + name.encode() + b"\0" for at, line, name in entries
    )
    load = struct.pack("<IIQQQQ", 1, 1, start, start, 0x80, 0) + b"slowy.App.isPrime\0" + bytes(0x80)
    path = tmp_path / "jit-9.dump"
    path.write_bytes(
        struct.pack("<IIIIIIQQ", 0x4A695444, 1, 40, 62, 0, 9, 0, 0) + _record(2, debug) + _record(0, load)
    )
    jitdump = load_jitdump(str(path), os.getuid())
    assert jitdump is not None and jitdump.problems == []
    space = AddressSpace([MappedFile(start, start + 0x1000, 0, "")], ImageCache(index_cache=None))
    space.jitdump = jitdump
    inlined = space.resolve(start + 0x48, False)
    assert [(f.function, f.path, f.line, f.kind) for f in inlined] == [
        ("slowy.App.isDivisible", "slowy/App.java", 14, INLINED),
        ("slowy.App.isPrime", "slowy/App.java", 22, JIT),
    ]
    (own,) = space.resolve(start + 0x10, False)
    assert (own.function, own.line, own.kind) == ("slowy.App.isPrime", 21, JIT)


def test_code_that_moved_keeps_its_lines_and_inline_chains(tmp_path: Path) -> None:
    """A JIT_CODE_MOVE (code moved by the runtime's collector) carries the code's positions to
    its new place with everything they say: the inline chain and the function, not only the line."""
    start, moved = 0x7F00_0000_1000, 0x7F00_0000_9000
    entries = [
        (start, 21, "slowy/App.java\tslowy.App.isPrime"),
        (start + 0x40, 14, "slowy/App.java\tslowy.App.isDivisible"),
        (start + 0x40, 22, "slowy/App.java\tslowy.App.isPrime"),
    ]
    debug = struct.pack("<QQ", start, len(entries)) + b"".join(
        struct.pack("<QII", at, line, 0) + name.encode() + b"\0" for at, line, name in entries
    )
    load = struct.pack("<IIQQQQ", 1, 1, start, start, 0x80, 0) + b"slowy.App.isPrime\0" + bytes(0x80)
    move = struct.pack("<IIQQQQQ", 1, 1, moved, start, moved, 0x80, 0)
    path = tmp_path / "jit-9.dump"
    path.write_bytes(
        struct.pack("<IIIIIIQQ", 0x4A695444, 1, 40, 62, 0, 9, 0, 0)
        + _record(2, debug)
        + _record(0, load)
        + _record(1, move)
    )
    jitdump = load_jitdump(str(path), os.getuid())
    assert jitdump is not None and jitdump.problems == []
    space = AddressSpace([MappedFile(moved, moved + 0x1000, 0, "")], ImageCache(index_cache=None))
    space.jitdump = jitdump
    assert [(f.function, f.line, f.kind) for f in space.resolve(moved + 0x48, False)] == [
        ("slowy.App.isDivisible", 14, INLINED),
        ("slowy.App.isPrime", 22, JIT),
    ]
