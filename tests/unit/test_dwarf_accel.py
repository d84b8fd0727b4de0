"""Issue 3, item 2: the C accelerator decodes exactly what pyelftools decodes.

Every compilation unit of the workloads (C and C++, -O0 and -O2), and a
spread of units of pyenv's libpython, is decoded both ways and compared array
by array: line table rows, scopes, names, ranges and their nesting.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lineprobe.symbolization.dwarf_accel import LIBRARY, Library
from lineprobe.symbolization.dwarf_index import DwarfIndex
from lineprobe.symbolization.elf_image import ElfImage
from lineprobe.symbolization.unit_index import UnitIndex

LIBPYTHON = Path("/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0")


def both_ways(binary: Path, most: int) -> list[tuple[int, UnitIndex | None, UnitIndex | None]]:
    assert Library.load() is not None, f"{LIBRARY} missing or stale: run `make accel`"
    image = ElfImage(str(binary))
    elf = image._elf
    info = elf.get_dwarf_info(relocate_dwarf_sections=False)
    fast = DwarfIndex(lambda: info, str(binary), accelerate=True)
    slow = DwarfIndex(lambda: info, str(binary), accelerate=False)
    assert fast.accelerated and not slow.accelerated
    offsets = [cu.cu_offset for cu in info.iter_CUs()]
    if len(offsets) > most:
        offsets = offsets[:: len(offsets) // most]
    result = [(offset, fast.unit_at(offset), slow.unit_at(offset)) for offset in offsets]
    assert fast.problems == slow.problems == []
    image.close()
    return result


def assert_identical(binary: Path, most: int) -> None:
    rows = 0
    scopes = 0
    for offset, fast, slow in both_ways(binary, most):
        assert fast is not None and slow is not None
        for name in ("name", "comp_dir", "files", "names", "checksums"):
            assert getattr(fast, name) == getattr(slow, name), f"{binary} unit 0x{offset:x}: {name} differs"
        for name, values in slow.arrays.items():
            assert fast.arrays[name] == values, f"{binary} unit 0x{offset:x}: {name} differs"
        rows += len(slow.arrays["row_address"])
        scopes += len(slow.arrays["scope_die"])
    assert rows > 0 and scopes > 0, f"{binary}: nothing decoded, nothing compared"


@pytest.mark.parametrize(
    "name",
    [
        "inlined-O2",
        "primes-O2",
        "hotloop",
        "wordcount-O2",
        "logger",
        "inlined-clang",
        "inlined-dwarf4",
        "inlined-zdebug",
    ],
)
def test_workloads_decode_identically(workloads: Path, name: str) -> None:
    assert_identical(workloads / name, most=1000)


def test_libpython_decodes_identically() -> None:
    if not LIBPYTHON.is_file():
        pytest.skip(f"{LIBPYTHON} not installed (pyenv's Python 3.11.7)")
    assert_identical(LIBPYTHON, most=8)


def test_md5_of_each_source_file_is_read_both_ways(workloads: Path) -> None:
    import hashlib

    from tests.conftest import WORKLOADS

    source = WORKLOADS / "inlined" / "inlined.c"
    for offset, fast, slow in both_ways(workloads / "inlined-clang", most=10):
        assert fast is not None and slow is not None and fast.checksums == slow.checksums
        by_path = dict(zip(fast.files, fast.checksums, strict=True))
        assert by_path[str(source)] == hashlib.md5(source.read_bytes()).hexdigest(), f"unit 0x{offset:x}"


@pytest.mark.parametrize("name", ["inlined-O2", "wordcount-O2", "inlined-clang"])
def test_batched_lookups_match_one_by_one_lookups(workloads: Path, tmp_path: Path, name: str) -> None:
    """The accelerator's batch search (on decoded arrays and on arrays mapped from the cache)
    gives the frames the Python binary searches give, address by address."""
    from lineprobe.symbolization.dwarf_accel import Library
    from lineprobe.symbolization.index_cache import IndexCache

    library = Library.load()
    assert library is not None
    for round_ in ("decoded", "mapped from the cache"):
        image = ElfImage(str(workloads / name), index_cache=IndexCache(tmp_path))
        dwarf = image.dwarf
        assert dwarf is not None
        starts = list(image.symbols.starts)
        addresses = [a for start in starts for a in range(start, start + 64, 3)]
        batched = dwarf.frames_many(addresses, name)
        one_by_one = [dwarf.frames(a, name) for a in addresses]
        assert batched == one_by_one, round_
        assert sum(1 for f in batched if f and f[0].line) >= 20, "lines were found"
        image.close()


def test_one_batch_across_units_matches_one_by_one_lookups(multi_unit: Path) -> None:
    """lp_frames numbers names and files across the units of a batch, and stops when its
    output room is full (the binding calls again with more): neither loses or mixes a frame."""
    from array import array

    from lineprobe.symbolization.dwarf_accel import Library
    from lineprobe.symbolization.unit_index import frames_in_units

    library = Library.load()
    assert library is not None
    image = ElfImage(str(multi_unit))
    dwarf = image.dwarf
    assert dwarf is not None
    addresses = [a for start in image.symbols.starts for a in range(start, start + 48, 3)]
    one_by_one = [dwarf.frames(a, "m") for a in addresses]
    assert dwarf.frames_many(addresses, "m") == one_by_one
    units = sorted({id(u): u for a in addresses if (u := dwarf.unit_for(a)) is not None}.values(), key=id)
    assert len(units) == 3, "one batch spans the three units"
    inside = [a for a in addresses if dwarf.unit_for(a) is not None]
    unit_of = array("I", [units.index(dwarf.unit_for(a)) for a in inside])
    expected = [dwarf.frames(a, "m") for a in inside]
    for capacity in (1, 2, 7, 0):
        assert frames_in_units(units, unit_of, inside, "m", library, capacity) == expected, capacity
    assert sum(len(f) for f in expected) > 7 and any(f[0].path for f in expected)
    image.close()
