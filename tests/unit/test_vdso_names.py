"""Samples in the vDSO (``clock_gettime`` without a system call) are named, as perf names them:
the kernel maps the same vDSO image into every process, so the server reads its own to name the
traced process's. A replayed capture, which may come from another kernel, leaves them unnamed."""

from __future__ import annotations

import ctypes
import io
from pathlib import Path

from elftools.elf.elffile import ELFFile
from lineprobe.model.mapping import MappedFile
from lineprobe.symbolization.index_cache import IndexCache
from lineprobe.symbolization.resolver import AddressSpace, ImageCache

AT_SYSINFO_EHDR = 33


def own_vdso() -> tuple[int, int]:
    for line in Path("/proc/self/maps").read_text().splitlines():
        if line.endswith("[vdso]"):
            low, high = line.split()[0].split("-")
            return int(low, 16), int(high, 16)
    raise AssertionError("this process has no [vdso] mapping")


def clock_gettime_offset(start: int, end: int) -> tuple[int, set[str]]:
    """Where the vDSO's clock_gettime is, read from its ELF as the kernel mapped it (pyelftools
    on the bytes, not lineprobe's symbol tables), and the names it goes by there."""
    with open("/proc/self/mem", "rb", buffering=0) as memory:
        memory.seek(start)
        image = memory.read(end - start)
    table = ELFFile(io.BytesIO(image)).get_section_by_name(".dynsym")
    found = {s.name: s["st_value"] for s in table.iter_symbols() if s.name.endswith("clock_gettime")}
    offset = found["__vdso_clock_gettime"]
    return offset, {name for name, value in found.items() if value == offset}


def test_a_sample_in_the_vdso_is_named(tmp_path: Path) -> None:
    start, end = own_vdso()
    getauxval = ctypes.CDLL(None).getauxval
    getauxval.restype = ctypes.c_ulong
    assert getauxval(ctypes.c_ulong(AT_SYSINFO_EHDR)) == start  # the kernel's word for where it is
    offset, names = clock_gettime_offset(start, end)
    mappings = [MappedFile(start, end, 0, "[vdso]")]
    space = AddressSpace(mappings, ImageCache(index_cache=IndexCache(tmp_path)), kernel_vdso=True)
    [frame] = space.resolve_stack([start + offset + 4])
    assert frame.function in names, (frame, names)
    assert frame.binary == "[vdso]"


def test_a_replay_leaves_the_vdso_unnamed(tmp_path: Path) -> None:
    start, end = own_vdso()
    offset, _ = clock_gettime_offset(start, end)
    space = AddressSpace([MappedFile(start, end, 0, "[vdso]")], ImageCache(index_cache=IndexCache(tmp_path)))
    [frame] = space.resolve_stack([start + offset + 4])
    assert frame.function is None and frame.label == "[unknown in [vdso]]"
