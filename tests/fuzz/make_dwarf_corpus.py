"""Write the seed corpus of the accelerator's fuzz harness (tests/fuzz/corpus-dwarf/).

    make -C workloads && .venv/bin/python tests/fuzz/make_dwarf_corpus.py

Each seed is the DWARF sections of one workload binary (DWARF 5 from gcc -O0
and -O2, C and C++), in the layout tests/fuzz/fuzz_dwarf_accel.c reads: nine
u32 sizes, then the sections' bytes.
"""

from __future__ import annotations

import struct
from pathlib import Path

from elftools.elf.elffile import ELFFile

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "workloads" / "build"
CORPUS = Path(__file__).resolve().parent / "corpus-dwarf"
SECTIONS = (
    ".debug_info",
    ".debug_abbrev",
    ".debug_line",
    ".debug_str",
    ".debug_line_str",
    ".debug_addr",
    ".debug_ranges",
    ".debug_rnglists",
    ".debug_str_offsets",
)
SEEDS = ("hotloop", "inlined-O2", "primes-O2", "logger", "wordcount-O2", "server-O2")


def seed(binary: Path) -> bytes:
    with binary.open("rb") as stream:
        elf = ELFFile(stream)
        blobs = []
        for name in SECTIONS:
            section = elf.get_section_by_name(name)
            blobs.append(section.data() if section is not None else b"")
    return struct.pack(f"<{len(SECTIONS)}I", *(len(b) for b in blobs)) + b"".join(blobs)


def main() -> None:
    CORPUS.mkdir(exist_ok=True)
    for name in SEEDS:
        data = seed(BUILD / name)
        (CORPUS / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
