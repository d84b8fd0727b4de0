"""Rebuild the seed corpus (tests/fuzz/corpus/) from the built workloads.

    make -C workloads && .venv/bin/python tests/fuzz/make_corpus.py

Small real binaries (with DWARF, -O2 with inlining, stripped) and damaged
copies of them: truncated files and sections, corrupt section headers, DIE
reference cycles, a compressed-section size bomb, a .gnu_debuglink.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import elf_mutations as m

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "workloads" / "build"
CORPUS = Path(__file__).resolve().parent / "corpus"


def objcopy(data: bytes, *args: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in"
        path.write_bytes(data)
        (Path(tmp) / "target.debug").write_bytes(b"")
        subprocess.run(["objcopy", *args, str(path)], check=True, cwd=tmp)
        return path.read_bytes()


def main() -> None:
    hotloop = (BUILD / "hotloop").read_bytes()
    inlined = (BUILD / "inlined-O2").read_bytes()
    clang = (BUILD / "inlined-clang").read_bytes()
    seeds = {
        "hotloop": hotloop,
        "inlined-O2": inlined,
        "primes-stripped": (BUILD / "primes-stripped").read_bytes(),
        "hotloop-stripped": objcopy(hotloop, "--strip-all"),
        "hotloop-zdebug": objcopy(hotloop, "--compress-debug-sections=zlib"),
        "hotloop-debuglink": objcopy(hotloop, "--strip-debug", "--add-gnu-debuglink=target.debug"),
        "hotloop-half": hotloop[: len(hotloop) // 2],
        "hotloop-header-only": hotloop[:64],
        "hotloop-debug-line-truncated": m.truncated_debug_line(hotloop),
        "hotloop-shoff-out-of-file": m.section_headers_out_of_file(hotloop),
        "hotloop-shnum-huge": m.section_header_count_huge(hotloop),
        "hotloop-shstrndx-bad": m.section_names_index_bad(hotloop),
        "hotloop-section-offsets-garbage": m.section_offsets_garbage(hotloop),
        "hotloop-debug-info-bomb": m.compressed_size_bomb(hotloop),
        "inlined-O2-die-cycle": m.die_reference_cycle(inlined)[0],
        "inlined-clang-endless-directories": m.line_header_endless_directories(clang),
    }
    CORPUS.mkdir(exist_ok=True)
    for name, data in seeds.items():
        (CORPUS / name).write_bytes(data)
    total = sum(len(d) for d in seeds.values())
    print(f"{len(seeds)} seeds, {total} bytes in {CORPUS}")


if __name__ == "__main__":
    main()
