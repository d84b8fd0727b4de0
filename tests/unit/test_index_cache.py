"""The on-disk DWARF index: warm answers equal cold ones, and damage is ignored."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from lineprobe.symbolization import index_cache
from lineprobe.symbolization.elf_image import ElfImage
from lineprobe.symbolization.index_cache import FORMAT, IndexCache
from lineprobe.symbolization.resolver import resolve_in_image


def answers(binary: Path, cache: IndexCache) -> list[list[tuple]]:
    image = ElfImage(str(binary), index_cache=cache)
    result = []
    for start, end in zip(image.symbols.starts, image.symbols.ends, strict=True):
        for address in range(start, min(end, start + 64), 3):
            frames = resolve_in_image(image, address, str(binary))
            result.append([(f.function, f.path, f.line, f.column, f.kind) for f in frames])
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


def test_cache_files_with_garbage_arrays_never_crash_a_lookup(workloads: Path, tmp_path: Path) -> None:
    # A header that still parses over arrays of random words (a disk error, a half-copied
    # cache): lookups may be wrong, but must not raise or read out of bounds (the batch
    # lookup is C).
    import json
    import random
    from array import array

    from lineprobe.symbolization.index_cache import MAGIC
    from lineprobe.symbolization.unit_index import ARRAY_FIELDS

    binary = workloads / "wordcount-O2"
    cache = IndexCache(tmp_path)
    answers(binary, cache)
    rng = random.Random(7)
    damaged = 0
    for path in (tmp_path / FORMAT).rglob("unit-*.lpix"):
        data = bytearray(path.read_bytes())
        assert data[:4] == MAGIC
        header_size = int.from_bytes(data[4:8], "little")
        header = json.loads(data[8 : 8 + header_size])
        base = (8 + header_size + 7) & ~7
        for name, typecode, count, offset in header["arrays"]:
            if name in ARRAY_FIELDS:  # the strings stay readable, so the file is used
                size = count * array(typecode).itemsize
                data[base + offset : base + offset + size] = rng.randbytes(size)
                damaged += 1
        path.write_bytes(bytes(data))
    assert damaged
    image = ElfImage(str(binary), index_cache=cache)
    assert image.dwarf is not None
    addresses = [a for start in image.symbols.starts for a in range(start, start + 40, 4)]
    batched = image.dwarf.frames_many(addresses, "x")
    one_by_one = [image.dwarf.frames(address, "x") for address in addresses]
    assert batched == one_by_one, "the C and Python searches agree even on garbage"
    assert image.dwarf._units and all(u is not None for u in image.dwarf._units.values()), (
        "damaged files used"
    )
    image.close()


def test_unsafe_build_ids_are_never_paths(tmp_path: Path) -> None:
    cache = IndexCache(tmp_path)
    cache.save_ranges("../../etc", [1], [2], [3])
    assert cache.load_ranges("../../etc") is None
    assert not any(tmp_path.iterdir())


def cache_files(root: Path, pattern: str) -> list[Path]:
    return sorted((root / FORMAT).rglob(pattern))


def build_id_of(pack: Path) -> str:
    return pack.parent.parent.name + pack.parent.name


def packed(
    binary: Path, root: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[IndexCache, list[list[tuple]], Path]:
    """A cache whose units all went into the pack (gathered from two on), the cold answers,
    and the pack's path."""
    monkeypatch.setattr(index_cache, "CONSOLIDATE_AT", 2)
    cache = IndexCache(root)
    cold = answers(binary, cache)
    (pack,) = cache_files(root, index_cache.PACK_NAME)
    return cache, cold, pack


def test_many_units_go_into_one_pack_and_warm_runs_read_it(
    multi_unit: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache, cold, pack = packed(multi_unit, tmp_path / "cache", monkeypatch)
    assert cache_files(tmp_path / "cache", "unit-*.lpix") == [], "the units went into the pack"
    loaded = cache.load_pack(build_id_of(pack))
    assert loaded is not None and len(loaded.entries()) == 3
    written = pack.stat().st_mtime_ns
    warm = answers(multi_unit, cache)
    assert warm == cold and any(frame[1] for chain in cold for frame in chain)
    assert pack.stat().st_mtime_ns == written, "a warm run decodes nothing, so writes nothing"


def test_a_pack_takes_in_the_unit_files_written_before_it(
    multi_unit: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = IndexCache(tmp_path / "cache")
    image = ElfImage(str(multi_unit), index_cache=cache)
    assert image.dwarf is not None
    main = image.symbols.starts[image.symbols.names.index("main")]
    image.dwarf.frames(main, "x")  # one unit: below the threshold, a file of its own
    image.close()
    (alone,) = cache_files(tmp_path / "cache", "unit-*.lpix")
    monkeypatch.setattr(index_cache, "CONSOLIDATE_AT", 3)
    cold = answers(multi_unit, cache)  # the two other units, and the file: three
    assert cache_files(tmp_path / "cache", "unit-*.lpix") == []
    (pack,) = cache_files(tmp_path / "cache", index_cache.PACK_NAME)
    loaded = cache.load_pack(build_id_of(pack))
    assert loaded is not None
    assert int(alone.name[5:-5], 16) in {offset for offset, _, _ in loaded.entries()}
    assert answers(multi_unit, IndexCache(tmp_path / "cache")) == cold


def test_a_damaged_pack_is_decoded_again(
    multi_unit: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache, cold, pack = packed(multi_unit, tmp_path / "cache", monkeypatch)
    whole = pack.read_bytes()
    for damaged in (whole[: len(whole) // 2], whole[:100], b"LPIX" + b"\xff" * 64, whole[:-1] + b"\x01"):
        pack.write_bytes(damaged)
        assert answers(multi_unit, cache) == cold


def test_a_second_writer_leaves_unit_files_instead_of_racing(
    multi_unit: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fcntl

    monkeypatch.setattr(index_cache, "CONSOLIDATE_AT", 2)
    cache = IndexCache(tmp_path / "cache")
    image = ElfImage(str(multi_unit), index_cache=cache)
    assert image.build_id is not None
    folder = tmp_path / "cache" / FORMAT / image.build_id[:2] / image.build_id[2:]
    folder.mkdir(parents=True)
    with open(folder / ".pack.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process, writing the pack
        cold = answers(multi_unit, cache)
    assert len(cache_files(tmp_path / "cache", "unit-*.lpix")) == 3
    assert cache_files(tmp_path / "cache", index_cache.PACK_NAME) == []
    assert answers(multi_unit, cache) == cold
    image.close()


def test_a_pack_directory_that_lies_falls_back_to_each_entry_header(
    multi_unit: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache, cold, pack = packed(multi_unit, tmp_path / "cache", monkeypatch)
    data = bytearray(pack.read_bytes())
    parsed = index_cache.parse(memoryview(bytes(data)), index_cache._PACK_ARRAYS)
    assert parsed is not None
    start = parsed.positions["layout"]
    size = len(parsed.arrays["layout"]) * 8
    data[start : start + size] = b"\xff" * size  # every array said to be far past its entry
    pack.write_bytes(bytes(data))
    image = ElfImage(str(multi_unit), index_cache=cache)
    assert image.dwarf is not None

    def no_pyelftools() -> None:
        raise AssertionError("an entry with a readable header was decoded again")

    image.dwarf._load_info = no_pyelftools
    found = [image.dwarf.frames(start, "x") for start in image.symbols.starts]
    assert len(image.dwarf._units) == 3 and any(f and f[0].path for f in found)
    image.close()
    assert answers(multi_unit, cache) == cold


def test_a_stripped_file_and_its_debug_file_keep_their_own_symbols(workloads: Path, tmp_path: Path) -> None:
    """They share a build-id. The stripped file's few symbols, cached first, used to answer for the
    debug file too: a profile left libc's static functions (__memcmp_evex_movbe) unnamed although
    its installed debug file names them."""
    stripped, debug = tmp_path / "primes-stripped", tmp_path / "primes.debug"
    subprocess.run(["objcopy", "--only-keep-debug", str(workloads / "primes-O2"), str(debug)], check=True)
    subprocess.run(["strip", "--strip-all", "-o", str(stripped), str(workloads / "primes-O2")], check=True)
    cache = IndexCache(tmp_path / "cache")
    assert "is_prime" not in ElfImage(str(stripped), index_cache=cache).symbols.names
    names = ElfImage(str(debug), index_cache=cache).symbols.names
    assert "is_prime" in names and "main" in names
    again = ElfImage(str(debug), index_cache=IndexCache(tmp_path / "cache")).symbols  # from the cache
    assert "is_prime" in list(again.names)
