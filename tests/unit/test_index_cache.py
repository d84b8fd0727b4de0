"""The on-disk DWARF index: warm answers equal cold ones, and damage is ignored."""

from __future__ import annotations

from pathlib import Path

from lineprobe.symbolization.elf_image import ElfImage
from lineprobe.symbolization.index_cache import FORMAT, IndexCache
from lineprobe.symbolization.resolver import resolve_in_image


def answers(binary: Path, cache: IndexCache) -> list[list[tuple]]:
    image = ElfImage(str(binary), index_cache=cache)
    result = []
    for start, end in zip(image.symbols.starts, image.symbols.ends, strict=True):
        for address in range(start, min(end, start + 64), 3):
            frames = resolve_in_image(image, address, str(binary))
            result.append([(f.function, f.path, f.line, f.column, f.inlined) for f in frames])
    image.close()
    return result


def test_warm_equals_cold_and_skips_decoding(workloads: Path, tmp_path: Path) -> None:
    binary = workloads / "inlined-O2"
    cache = IndexCache(tmp_path)
    cold = answers(binary, cache)
    files = list((tmp_path / FORMAT).rglob("*.lpix"))
    assert any(f.name == "units.lpix" for f in files) and any(f.name.startswith("unit-") for f in files)
    warm = answers(binary, cache)
    assert warm == cold
    image = ElfImage(str(binary), index_cache=cache)
    assert image.dwarf is not None

    def no_pyelftools() -> None:
        raise AssertionError("a warm lookup opened pyelftools' DWARF")

    image.dwarf._load_info = no_pyelftools  # a warm lookup must not touch pyelftools' DWARF at all
    address = image.symbols.starts[image.symbols.names.index("main")]
    assert image.dwarf.frames(address, "x")
    image.close()


def test_damaged_cache_files_are_decoded_again(workloads: Path, tmp_path: Path) -> None:
    binary = workloads / "hotloop-O2"
    cache = IndexCache(tmp_path)
    cold = answers(binary, cache)
    for path in (tmp_path / FORMAT).rglob("*.lpix"):
        path.write_bytes(b"\xc1garbage")
    assert answers(binary, cache) == cold


def test_unsafe_build_ids_are_never_paths(tmp_path: Path) -> None:
    cache = IndexCache(tmp_path)
    cache.save_ranges("../../etc", [(1, 2, 3)])
    assert cache.load_ranges("../../etc") is None
    assert not any(tmp_path.iterdir())
