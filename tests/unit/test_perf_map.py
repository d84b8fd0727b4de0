"""Issue 3, items 1 and 6: JIT names from /tmp/perf-PID.map, trusted only as perf trusts them."""

from __future__ import annotations

import os
import time
from pathlib import Path

from lineprobe.symbolization.perf_map import load_perf_map
from lineprobe.symbolization.resolver import AddressSpace, ImageCache, MappedFile

JIT_START = 0x7F00_0000_0000


def write_map(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_jit_code_in_an_anonymous_mapping_is_named(tmp_path: Path) -> None:
    path = write_map(
        tmp_path / "perf-4242.map",
        [
            f"{JIT_START:x} 40 LazyCompile:*hot /srv/app.js:3",
            f"{JIT_START + 0x40:x} 20 Builtin:ArgumentsAdaptorTrampoline",
            "garbage line",
            # recompiled at the same address: the later line wins
            f"{JIT_START:x} 30 LazyCompile:*hot2 /srv/app.js:9",
        ],
    )
    perf_map = load_perf_map(str(path), os.getuid())
    assert perf_map is not None
    assert perf_map.problems == [f"{path}: 1 malformed lines skipped"]
    space = AddressSpace(
        [MappedFile(JIT_START, JIT_START + 0x10000, 0, "")], ImageCache(index_cache=None), perf_map=perf_map
    )
    assert space.resolve(JIT_START + 0x10, False)[0].function == "LazyCompile:*hot2 /srv/app.js:9"
    assert space.resolve(JIT_START + 0x48, False)[0].function == "Builtin:ArgumentsAdaptorTrampoline"
    assert space.resolve(JIT_START + 0x80, False)[0].function is None, "past every entry: unnamed"


def test_map_owned_by_another_user_is_ignored(tmp_path: Path) -> None:
    path = write_map(tmp_path / "perf-1.map", [f"{JIT_START:x} 40 planted"])
    os.chown(path, 12345, 12345)
    perf_map = load_perf_map(str(path), owner_uid=os.getuid() + 1 if os.getuid() != 12345 else 1)
    assert perf_map is not None and perf_map.symbols.names == []
    assert "owned by uid 12345, not by the target's user" in perf_map.problems[0]


def test_symlinked_map_is_refused(tmp_path: Path) -> None:
    real = write_map(tmp_path / "real.map", [f"{JIT_START:x} 40 planted"])
    link = tmp_path / "perf-2.map"
    link.symlink_to(real)
    perf_map = load_perf_map(str(link), os.getuid())
    assert perf_map is not None and perf_map.symbols.names == [] and "not read" in perf_map.problems[0]


def test_fifo_map_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "perf-4.map"
    os.mkfifo(fifo)
    started = time.monotonic()
    perf_map = load_perf_map(str(fifo), os.getuid())
    assert time.monotonic() - started < 1.0
    assert perf_map is not None and perf_map.problems == [
        f"{fifo}: not a regular file; JIT frames stay unnamed"
    ]


def test_missing_map_is_no_map(tmp_path: Path) -> None:
    assert load_perf_map(str(tmp_path / "perf-3.map"), os.getuid()) is None


def test_a_gigabyte_of_garbage_costs_bounded_time_and_memory(tmp_path: Path) -> None:
    path = tmp_path / "perf-5.map"
    with path.open("wb") as out:
        out.write(f"{JIT_START:x} 40 first\n".encode())
        out.truncate(1 << 30)  # a sparse GiB of NUL bytes, no newline
    started = time.monotonic()
    perf_map = load_perf_map(str(path), os.getuid())
    assert time.monotonic() - started < 2.0
    assert perf_map is not None and perf_map.symbols.names == ["first"]
    assert any("only the first 256 MB" in p for p in perf_map.problems), perf_map.problems
