"""The call frame information of each mapped ELF file, loaded once and kept as long as the file.

Unwinding sits above symbolization: it reads ``.eh_frame_hdr``, ``.eh_frame``
and ``.debug_frame`` through ``ElfImage``'s public API (``section``,
``open_dwarf_info``), and keeps what it decoded in the image's ``derived``
slot: the ``ImageCache`` that opened an image decides how long it lives, and
its CFI goes with it. Resolving addresses alone (``lineprobe symbolize``) never
loads any of this.
"""

from __future__ import annotations

from typing import TypeAlias

from elftools.dwarf.callframe import CallFrameInfo

from lineprobe.symbolization.elf_image import PARSE_ERRORS, ElfImage, describe_error
from lineprobe.symbolization.resolver import AddressSpace
from lineprobe.unwinding.call_frame_table import CallFrameTable, FrameRule, IndexedCallFrameTable
from lineprobe.unwinding.eh_frame_hdr import UnsupportedTable, parse_eh_frame_hdr

CallFrames: TypeAlias = CallFrameTable | IndexedCallFrameTable


DERIVED_KEY = "unwinding.call_frames"


def call_frames_of(image: ElfImage) -> CallFrames | None:
    """The image's CFI table, parsed on first use (None: the file has none, or none readable)."""
    if DERIVED_KEY not in image.derived:
        image.derived[DERIVED_KEY] = load_call_frames(image)
    table: CallFrames | None = image.derived[DERIVED_KEY]
    return table


def rule_at(space: AddressSpace, address: int) -> FrameRule | None:
    """The CFI rule at a runtime address of ``space``, through the file that maps it."""
    located = space.file_address(address)
    if located is None:
        return None
    image, vaddr = located
    table = call_frames_of(image)
    if table is None:
        return None
    try:
        return table.rule_for(vaddr)
    except PARSE_ERRORS as exc:
        image.problems.append(f"{image.display_path}: CFI at 0x{vaddr:x} unreadable ({type(exc).__name__})")
        return None


def load_call_frames(image: ElfImage) -> CallFrames | None:
    """The CFI of ``.eh_frame`` (found through ``.eh_frame_hdr`` where it has a usable table),
    else ``.debug_frame``; None when there is none. A damaged file is a problem of the image."""
    try:
        info = image.open_dwarf_info()
        if info is None:
            return None
        if info.has_EH_CFI():
            header = image.section(".eh_frame_hdr")
            eh_frame = image.section(".eh_frame")
            if header is not None and eh_frame is not None:
                try:
                    table = parse_eh_frame_hdr(header.data(), header["sh_addr"])
                    section = info.eh_frame_sec
                    cfi = CallFrameInfo(
                        stream=section.stream,
                        size=section.size,
                        address=section.address,
                        base_structs=info.structs,
                        for_eh_frame=True,
                    )
                    return IndexedCallFrameTable(cfi, table, eh_frame["sh_addr"])
                except UnsupportedTable:
                    pass  # parse every FDE instead
            entries = info.EH_CFI_entries()
        elif info.has_CFI():
            entries = info.CFI_entries()
        else:
            return None
        return CallFrameTable(entries)
    except PARSE_ERRORS as exc:
        image.problems.append(
            f"{image.display_path}: call frame information unreadable ({describe_error(exc)})"
        )
        return None
