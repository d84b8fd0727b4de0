"""Fuzz the small parsers of files lineprobe reads besides ELF, with atheris (libFuzzer).

- ``/tmp/perf-PID.map`` (``perf_map.load_perf_map``): written by any JIT, read within bounds;
- ``.gnu_debuglink`` section bytes (``debug_link.parse_debuglink``);
- the index cache's files (``index_cache.read_entry``, ``IndexCache.load_unit``), whose arrays
  the accelerator's batch lookup reads in C, and a build-id's pack of units (``load_pack``).

The input's first byte picks the parser; the rest is the file. An exception escaping, a run
over a second, or runaway memory (``RLIMIT_AS``) is a finding.

    .venv/bin/python tests/fuzz/fuzz_formats.py --make-corpus      # seeds from the built workloads
    .venv/bin/python tests/fuzz/fuzz_formats.py -runs=1000000 /tmp/work tests/fuzz/corpus-formats
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
from pathlib import Path

MEMORY_LIMIT = 2 << 30
BUILD_ID = "ab" * 20


def one_input(data: bytes, folder: Path) -> None:
    from lineprobe.symbolization.debug_link import parse_debuglink
    from lineprobe.symbolization.index_cache import FORMAT, PACK_NAME, IndexCache
    from lineprobe.symbolization.perf_map import load_perf_map

    if not data:
        return
    kind, body = data[0] % 4, data[1:]
    if kind == 0:
        path = folder / "perf-1.map"
        path.write_bytes(body)
        perf_map = load_perf_map(str(path), os.getuid())
        if perf_map is not None:
            for address in (0, 0x1000, 0x7F0000000000, 0xFFFFFFFFFFFFFFFF):
                perf_map.lookup(address)
    elif kind == 1:
        parse_debuglink(body)
    else:
        cache = IndexCache(folder)
        name = "unit-0.lpix" if kind == 2 else PACK_NAME
        path = folder / FORMAT / BUILD_ID[:2] / BUILD_ID[2:] / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        pack = cache.load_pack(BUILD_ID) if kind == 3 else None
        offsets = [offset for offset, _, _ in pack.entries()][:8] if pack is not None else [0]
        for offset in offsets:
            loaded = cache.load_unit(BUILD_ID, offset, pack)
            if loaded is not None:
                for address in (0, 0x1000, 0x1139, 0xFFFFFFFFFFFFFFFF):
                    loaded.frames(address, "fuzz")
                loaded.frames_many([0, 0x1000, 0x1139], "fuzz", _library())
        path.unlink()


def _library():  # type: ignore[no-untyped-def]
    from lineprobe.symbolization.dwarf_accel import Library

    return Library.load()


def make_corpus() -> None:
    """Seeds: a perf map as Node writes it, a debuglink section, a real cache file of a unit,
    and a real pack of one unit."""
    import subprocess

    from lineprobe.symbolization.elf_image import ElfImage
    from lineprobe.symbolization.index_cache import PACK_NAME, IndexCache

    root = Path(__file__).resolve().parents[2]
    corpus = Path(__file__).resolve().parent / "corpus-formats"
    corpus.mkdir(exist_ok=True)
    perf_map = "".join(
        f"{0x7F0000000000 + 0x40 * i:x} 40 LazyCompile:*f{i} /srv/app.js:{i}\n" for i in range(8)
    )
    (corpus / "perf-map").write_bytes(b"\x00" + perf_map.encode())
    with tempfile.TemporaryDirectory() as scratch:
        linked = Path(scratch) / "linked"
        subprocess.run(
            ["objcopy", "--add-gnu-debuglink=/dev/null", str(root / "workloads/build/hotloop"), str(linked)],
            check=True,
            cwd=scratch,
        )
        link = ElfImage(str(linked))._elf.get_section_by_name(".gnu_debuglink").data()
        (corpus / "debuglink").write_bytes(b"\x01" + link)
        cache = IndexCache(Path(scratch) / "cache")
        image = ElfImage(str(root / "workloads/build/inlined-O2"), index_cache=cache)
        assert image.dwarf is not None and image.build_id
        image.dwarf.frames(image.symbols.starts[image.symbols.names.index("main")], "seed")
        image.save()  # one unit: a file of its own
        unit = next((Path(scratch) / "cache").rglob("unit-*.lpix"))
        (corpus / "cache-unit").write_bytes(b"\x02" + unit.read_bytes())
        image.close()
        packed = IndexCache(Path(scratch) / "packed")
        image = ElfImage(str(root / "workloads/build/inlined-O2"), index_cache=packed)
        assert image.dwarf is not None and image.build_id
        unit_index = image.dwarf.unit_for(image.symbols.starts[image.symbols.names.index("main")])
        assert unit_index is not None
        packed.save_units(image.build_id, {0: unit_index, 1: unit_index}, minimum=1)
        pack = next((Path(scratch) / "packed").rglob(PACK_NAME))
        (corpus / "cache-pack").write_bytes(b"\x03" + pack.read_bytes())
    print(f"seeds written to {corpus}")


def main() -> None:
    if sys.argv[1:] == ["--make-corpus"]:
        make_corpus()
        return
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    import atheris

    with atheris.instrument_imports(include=["lineprobe"]):
        import lineprobe.symbolization.debug_link
        import lineprobe.symbolization.index_cache
        import lineprobe.symbolization.perf_map
        import lineprobe.symbolization.unit_index  # noqa: F401
    with tempfile.TemporaryDirectory(prefix="lineprobe-fuzz-formats-") as scratch:
        folder = Path(scratch)
        atheris.Setup(sys.argv, lambda data: one_input(data, folder))
        atheris.Fuzz()


if __name__ == "__main__":
    main()
