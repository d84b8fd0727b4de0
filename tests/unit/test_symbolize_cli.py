"""`lineprobe symbolize`: addr2line-style output and its --json shape."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from lineprobe.symbolization.elf_image import ElfImage

from tests.conftest import LINEPROBE, WORKLOADS, marked_line


def test_json_frames_innermost_first_with_inlined_flag(workloads: Path) -> None:
    binary = workloads / "inlined-O2"
    source = WORKLOADS / "inlined" / "inlined.c"
    hot = marked_line(source, "HOT-LINE")
    image = ElfImage(str(binary))
    assert image.dwarf is not None
    start = image.symbols.starts[image.symbols.names.index("run.constprop.0")]
    # Find an address of the inlined hot line through the index, then ask the CLI about it.
    address = next(
        a
        for a in range(start, start + 256)
        if (image.dwarf.frames(a, "") or [None])[0] and image.dwarf.frames(a, "")[0].line == hot
    )
    done = subprocess.run(
        [*LINEPROBE, "symbolize", "-e", str(binary), "--json", hex(address), "not-hex"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "not a hex address" in done.stderr
    record = json.loads(done.stdout)
    assert record["address"] == hex(address)
    frames = record["frames"]
    assert frames[0] == {
        "function": "mix",
        "path": str(source),
        "line": hot,
        "column": frames[0]["column"],
        "inlined": True,
    }
    assert frames[1]["function"] == "run.constprop.0" and frames[1]["inlined"] is False


def test_stripped_binary_says_why_there_are_no_lines(workloads: Path) -> None:
    # A narrow terminal must not break the warning across lines: logs and greps read it whole.
    done = subprocess.run(
        [*LINEPROBE, "symbolize", "-e", str(workloads / "primes-stripped"), "--json", "0x1000"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "40"},
    )
    warning = next(line for line in done.stderr.splitlines() if "warning:" in line)
    assert "has no debug information" in warning and "function names only" in warning
    assert json.loads(done.stdout)["frames"][0]["path"] is None


def test_cpp_symbols_are_demangled_as_cxxfilt_does(workloads: Path, tmp_path: Path) -> None:
    # Without DWARF, only the symbol table names functions: mangled, as the linker keeps them.
    binary = tmp_path / "wordcount-nodebug"
    subprocess.run(["objcopy", "--strip-debug", str(workloads / "wordcount-O2"), str(binary)], check=True)
    image = ElfImage(str(binary))
    mangled = [n for n in image.symbols.names if n.startswith("_Z") and "word_counter" in n]
    assert mangled, "wordcount-O2 has functions of word_counter's templates"
    address = image.symbols.starts[image.symbols.names.index(mangled[0])]
    done = subprocess.run(
        [*LINEPROBE, "symbolize", "-e", str(binary), "--json", hex(address)],
        capture_output=True,
        text=True,
        check=True,
    )
    cxxfilt = subprocess.run(["c++filt", mangled[0]], capture_output=True, text=True, check=True)
    expected = cxxfilt.stdout.strip()
    assert "word_counter" in expected and expected != mangled[0]
    assert json.loads(done.stdout)["frames"][0]["function"] == expected
