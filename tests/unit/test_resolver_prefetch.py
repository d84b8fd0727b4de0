"""AddressSpace.prefetch: a profile's stacks resolved in one batch per binary, as one by one."""

from __future__ import annotations

from pathlib import Path

from lineprobe.symbolization.elf_image import ElfImage
from lineprobe.symbolization.resolver import AddressSpace, ImageCache, MappedFile

BASE = 0x555555554000


def runtime_address(image: ElfImage, vaddr: int) -> int | None:
    """Where ``vaddr`` is in a process that maps the whole file at BASE (None: not in the file)."""
    for segment in image.segments:
        if segment.vaddr <= vaddr < segment.vaddr + segment.filesz:
            return BASE + vaddr - segment.vaddr + segment.offset
    return None


def test_prefetched_stacks_resolve_as_they_do_one_by_one(workloads: Path) -> None:
    binary = workloads / "wordcount-O2"
    image = ElfImage(str(binary))
    starts = list(image.symbols.starts)
    stacks = [
        [a for start in starts[i : i + 4] if (a := runtime_address(image, start + offset)) is not None]
        for i in range(0, len(starts), 3)
        for offset in (0, 5, 17)
    ]
    size = binary.stat().st_size
    image.close()

    def space() -> AddressSpace:
        return AddressSpace([MappedFile(BASE, BASE + size, 0, str(binary))], ImageCache(index_cache=None))

    one_by_one = space()
    expected = [one_by_one.resolve_stack(stack) for stack in stacks]
    batched = space()
    batched.prefetch(stacks)

    def not_again(address: int) -> None:
        raise AssertionError(f"0x{address:x} was not prefetched")

    batched._frames_of = not_again  # type: ignore[method-assign]
    assert [batched.resolve_stack(stack) for stack in stacks] == expected
    assert sum(1 for frames in expected for f in frames if f.line) > len(stacks), "lines were found"
    one_by_one.cache.close()
    batched.cache.close()
