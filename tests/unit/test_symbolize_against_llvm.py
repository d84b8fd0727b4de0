"""lineprobe's DWARF resolution against llvm-symbolizer, on every instruction of our workloads."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from lineprobe.symbolization.elf_image import ElfImage
from lineprobe.symbolization.resolver import resolve_in_image

LLVM = shutil.which("llvm-symbolizer") or shutil.which("llvm-symbolizer-14")


def instruction_addresses(binary: Path) -> list[int]:
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(binary)], capture_output=True, text=True)
    addresses = []
    in_text = False
    for line in out.stdout.splitlines():
        if line.startswith("Disassembly of section"):
            in_text = ".text" in line
        m = re.match(r"\s+([0-9a-f]+):", line)
        if in_text and m:
            addresses.append(int(m.group(1), 16))
    return addresses


def llvm_chains(binary: Path, addresses: list[int]) -> dict[int, list[tuple[str, str, int]]]:
    out = subprocess.run(
        [LLVM or "llvm-symbolizer", "--output-style=JSON", "--inlining", f"--obj={binary}"],
        input="\n".join(hex(a) for a in addresses),
        capture_output=True,
        text=True,
        check=True,
    )
    chains = {}
    for line in out.stdout.splitlines():
        record = json.loads(line)
        frames = [(f["FunctionName"] or None, f["FileName"], f["Line"]) for f in record["Symbol"]]
        chains[int(record["Address"], 16)] = frames
    return chains


@pytest.mark.skipif(
    LLVM is None, reason="llvm-symbolizer not installed: `apt-get install llvm` (make setup does)"
)
@pytest.mark.parametrize(
    "name",
    ["inlined-O2", "hotloop-O2", "primes-O2", "primes", "inlined-clang", "inlined-dwarf4", "inlined-zdebug"],
)
def test_full_inline_chains_match_llvm_symbolizer(workloads: Path, name: str) -> None:
    binary = workloads / name
    addresses = instruction_addresses(binary)
    assert len(addresses) > 50
    expected = llvm_chains(binary, addresses)
    image = ElfImage(str(binary))
    dwarf = image.dwarf
    assert dwarf is not None
    compared = mismatches = 0
    for address in addresses:
        want = [f for f in expected[address] if f[1] and f[2]]
        if not want:
            continue  # no line information (e.g. crt code): nothing to compare
        got = [(f.function, f.path, f.line) for f in resolve_in_image(image, address, str(binary))]
        compared += 1
        if got != want:
            mismatches += 1
    image.close()
    assert compared > 30
    assert mismatches == 0, f"{mismatches} of {compared} addresses differ from llvm-symbolizer"
