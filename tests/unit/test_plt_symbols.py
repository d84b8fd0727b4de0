"""PLT stubs are named as perf and objdump name them (``memcpy@plt``): a sample in a stub
is the call on its way to the library, and perf names it from the relocations of ``.rela.plt``.
Checked against objdump's names of every stub, in the workloads and in system libraries."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from lineprobe.symbolization.elf_image import ElfImage

from tests.conftest import BUILD

STUB = re.compile(r"^([0-9a-f]+) <(.+@plt)>:$", re.MULTILINE)


def objdump_stubs(path: Path) -> dict[int, str]:
    found: dict[int, str] = {}
    for section in (".plt", ".plt.sec"):
        out = subprocess.run(
            ["objdump", "-d", f"--section={section}", str(path)], capture_output=True, text=True
        ).stdout
        found |= {int(address, 16): name for address, name in STUB.findall(out)}
    return found


@pytest.mark.skipif(shutil.which("objdump") is None, reason="needs objdump (binutils): sudo make setup")
@pytest.mark.parametrize(
    "path",
    [
        BUILD / "primes",
        BUILD / "wordcount-O2",
        Path("/usr/lib/x86_64-linux-gnu/libstdc++.so.6"),
        Path("/usr/lib/x86_64-linux-gnu/libgomp.so.1"),
    ],
    ids=lambda p: p.name,
)
def test_every_plt_stub_is_named_as_objdump_names_it(path: Path) -> None:
    stubs = objdump_stubs(path)
    assert stubs, f"objdump finds no PLT stub in {path}"
    symbols = ElfImage(str(path)).symbols
    named = {address: symbols.lookup(address) for address in stubs}
    assert named == stubs
    # The stub's whole entry is its (16 bytes), not the function after it.
    first = min(stubs)
    assert symbols.lookup(first + 15) == stubs[first]
