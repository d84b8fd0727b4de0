"""Issue 3, item 1 and 6: debug files named by .gnu_debuglink, and debuglinks that point at traps."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from lineprobe.symbolization.resolver import ImageCache, resolve_in_image

from tests.conftest import WORKLOADS, marked_line


def split_debug(workloads: Path, folder: Path, link_name: str = "hotloop.debug") -> tuple[Path, Path]:
    """hotloop as a distribution ships it: stripped, its DWARF in a file named by .gnu_debuglink."""
    binary = folder / "hotloop"
    debug = folder / link_name
    subprocess.run(["objcopy", "--only-keep-debug", str(workloads / "hotloop"), str(debug)], check=True)
    subprocess.run(
        ["objcopy", "--strip-debug", f"--add-gnu-debuglink={debug}", str(workloads / "hotloop"), str(binary)],
        check=True,
    )
    return binary, debug


def resolve_main(binary: Path, tmp_path: Path) -> tuple[list, list[str]]:
    cache = ImageCache(index_cache=None, debug_root=tmp_path / "no-debug-root")
    image = cache.image(str(binary), None)
    assert image.dwarf is None, "the stripped binary has no DWARF of its own"
    started = time.monotonic()
    debug = cache.debug_image(image)
    address = image.symbols.starts[image.symbols.names.index("main")] + 8
    frames = resolve_in_image(image, address, str(binary), debug)
    assert time.monotonic() - started < 1.0
    return frames, image.problems


@pytest.mark.parametrize("where", ["beside", ".debug"])
def test_debug_file_found_by_debuglink_gives_lines(workloads: Path, tmp_path: Path, where: str) -> None:
    binary, debug = split_debug(workloads, tmp_path)
    if where == ".debug":
        (tmp_path / ".debug").mkdir()
        debug.rename(tmp_path / ".debug" / debug.name)
    frames, problems = resolve_main(binary, tmp_path)
    source = WORKLOADS / "hotloop" / "hotloop.c"
    assert frames[0].function == "main" and frames[0].path == str(source), problems
    assert frames[0].line is not None and frames[0].line <= marked_line(source, "HOT-LINE") + 50


def test_debug_file_of_another_build_is_refused_by_crc(workloads: Path, tmp_path: Path) -> None:
    binary, debug = split_debug(workloads, tmp_path)
    debug.write_bytes(debug.read_bytes() + b"another build")
    frames, problems = resolve_main(binary, tmp_path)
    assert frames[0].path is None, "never map lines through a file that fails its CRC"
    assert any("it belongs to another build, ignored" in p for p in problems), problems


@pytest.mark.parametrize("trap", ["fifo", "dev-zero", "symlink-loop"])
def test_debuglink_pointing_at_a_trap_is_a_message_not_a_hang(
    workloads: Path, tmp_path: Path, trap: str
) -> None:
    binary, debug = split_debug(workloads, tmp_path)
    debug.unlink()
    if trap == "fifo":
        os.mkfifo(debug)
    elif trap == "dev-zero":
        debug.symlink_to("/dev/zero")
    else:
        debug.symlink_to(debug)
    frames, problems = resolve_main(binary, tmp_path)
    assert frames[0].function == "main" and frames[0].path is None
    assert any(f"debug file {debug} (.gnu_debuglink) unreadable" in p for p in problems), problems
