"""CFI decoding of what compilers emit beyond the basic rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from elftools.dwarf.callframe import CallFrameInstruction
from lineprobe.symbolization.elf_image import ElfImage
from lineprobe.unwinding.call_frame_table import DW_CFA_GNU_ARGS_SIZE, _decode


def test_an_fde_with_gnu_args_size_decodes_to_the_same_rules(workloads: Path) -> None:
    """pyelftools fails on DW_CFA_GNU_args_size (`CFI ... unreadable (ValueError)` on mariadbd);
    the instruction moves nothing, so the rules are those of the same FDE without it."""

    def an_fde() -> Any:  # parsed afresh each time: pyelftools caches an entry's decoded table
        elf = ElfImage(str(workloads / "primes-O2"))._elf
        assert elf is not None
        entries = elf.get_dwarf_info().EH_CFI_entries()
        return next(e for e in entries if hasattr(e, "cie") and len(e.instructions) > 2)

    expected = _decode(an_fde())
    with_args_size = an_fde()
    with_args_size.instructions.insert(1, CallFrameInstruction(DW_CFA_GNU_ARGS_SIZE, [16]))
    assert _decode(with_args_size) == expected
    assert expected  # the FDE has rules at all
