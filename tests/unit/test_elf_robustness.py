"""Damaged or hostile binaries give messages, never exceptions."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from lineprobe.symbolization.elf_image import ElfImage
from lineprobe.symbolization.resolver import AddressSpace, ImageCache, MappedFile


def damaged_files(workloads: Path, tmp_path: Path) -> dict[str, Path]:
    good = (workloads / "hotloop").read_bytes()
    files = {
        "empty": b"",
        "garbage": bytes(range(256)) * 64,
        "elf magic only": b"\x7fELF" + b"\0" * 60,
        "truncated at a quarter": good[: len(good) // 4],
        "section headers zeroed": good[:-4096] + b"\0" * 4096,
        "header flipped": good[:16] + bytes(b ^ 0xFF for b in good[16:64]) + good[64:],
    }
    paths = {}
    for name, data in files.items():
        path = tmp_path / name.replace(" ", "-")
        path.write_bytes(data)
        paths[name] = path
    return paths


def test_damaged_binaries_resolve_without_exceptions(workloads: Path, tmp_path: Path) -> None:
    for name, path in damaged_files(workloads, tmp_path).items():
        started = time.monotonic()
        cache = ImageCache()
        space = AddressSpace([MappedFile(0x1000, 0x100000, 0, str(path))], cache)
        frames = space.resolve_stack([0x1234, 0x2345, 0x5000])
        assert frames, name
        space.problems()  # must not raise either
        assert time.monotonic() - started < 1.0, f"{name}: too slow"
        cache.close()


def test_unreadable_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    image = ElfImage(str(tmp_path / "does-not-exist"))
    assert not image.readable
    assert "not a readable ELF file" in image.problems[0]


@pytest.mark.parametrize("binary", ["primes-stripped"])
def test_stripped_binary_has_no_dwarf_but_dynamic_symbols(workloads: Path, binary: str) -> None:
    image = ElfImage(str(workloads / binary))
    assert image.readable and image.dwarf is None
    image.close()
