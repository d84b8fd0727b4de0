"""``.gnu_debugdata`` (MiniDebugInfo, as Fedora ships its binaries): a stripped file carries an
xz-compressed ELF whose ``.symtab`` names its static functions. lineprobe names them as the
unstripped file's own ``.symtab`` does (perf and gdb read the section too)."""

from __future__ import annotations

import lzma
import shutil
import subprocess
from pathlib import Path

import pytest
from lineprobe.symbolization.elf_image import ElfImage

from tests.conftest import BUILD

TOOLS = ("objcopy", "strip", "nm")


def with_minidebuginfo(source: Path, folder: Path) -> tuple[Path, set[str]]:
    """``source`` stripped, with its function symbols in ``.gnu_debugdata`` (Fedora's recipe:
    the functions, kept in a symbols-only copy, xz-compressed); and the names it keeps."""
    defined = subprocess.run(
        ["nm", "--format=posix", "--defined-only", str(source)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    functions = sorted({line.split()[0] for line in defined if line.split()[1] in ("T", "t")})
    keep = folder / "keep"
    keep.write_text("\n".join(functions) + "\n")
    mini = folder / "mini"
    subprocess.run(["objcopy", "--only-keep-debug", str(source), str(folder / "debug")], check=True)
    subprocess.run(
        [
            "objcopy",
            "-S",
            "--remove-section",
            ".comment",
            f"--keep-symbols={keep}",
            str(folder / "debug"),
            str(mini),
        ],
        check=True,
    )
    packed = folder / "mini.xz"
    packed.write_bytes(lzma.compress(mini.read_bytes(), format=lzma.FORMAT_XZ))
    stripped = folder / source.name
    subprocess.run(["strip", "-o", str(stripped), str(source)], check=True)
    subprocess.run(["objcopy", "--add-section", f".gnu_debugdata={packed}", str(stripped)], check=True)
    return stripped, set(functions)


@pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS), reason="needs binutils: sudo make setup")
@pytest.mark.parametrize("name", ["primes", "wordcount-O2"])
def test_static_functions_are_named_from_gnu_debugdata(tmp_path: Path, name: str) -> None:
    source = BUILD / name
    stripped, kept = with_minidebuginfo(source, tmp_path)
    original = ElfImage(str(source)).symbols
    subprocess.run(["strip", "-o", str(tmp_path / "plain"), str(source)], check=True)
    bare = ElfImage(str(tmp_path / "plain")).symbols
    named = ElfImage(str(stripped)).symbols
    statics = [
        (start, original.names[i])
        for i, start in enumerate(original.starts)
        if bare.lookup(start) is None and original.names[i] in kept
    ]
    assert statics, "the stripped file names everything already: nothing to show"
    assert [(start, named.lookup(start)) for start, _ in statics] == statics


def test_a_damaged_gnu_debugdata_is_a_problem_not_a_failure(tmp_path: Path) -> None:
    stripped = tmp_path / "primes"
    subprocess.run(["strip", "-o", str(stripped), str(BUILD / "primes")], check=True)
    garbage = tmp_path / "garbage.xz"
    garbage.write_bytes(b"\xfd7zXZ\x00" + b"\x00" * 64)
    subprocess.run(["objcopy", "--add-section", f".gnu_debugdata={garbage}", str(stripped)], check=True)
    image = ElfImage(str(stripped))
    assert image.symbols.lookup(image.symbols.starts[0]) is not None  # .dynsym still read
    assert any(".gnu_debugdata" in problem for problem in image.problems), image.problems
