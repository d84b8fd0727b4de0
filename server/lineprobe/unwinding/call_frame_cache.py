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
from lineprobe.symbolization.frame_archive import code_identity, code_place
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
    """The CFI rule at a runtime address of ``space``, through the file that maps it, or the
    frame archive of the capture being resolved (``symbolization/frame_archive.py``): a saved
    capture unwinds where its files are not, one being saved keeps the rules it used."""
    archive = space.cache.frame_archive
    if archive is None:
        return _rule_in_file(space, address)
    mapping = space.mapping_for(address)
    if mapping is None:
        return None
    kept = archive.rule_places(code_identity(mapping, space.pid))
    place = code_place(mapping, address)
    if place in kept:
        return _rule_from_fields(kept[place])
    rule = _rule_in_file(space, address)
    kept[place] = _rule_fields(rule)
    return rule


def _rule_fields(rule: FrameRule | None) -> list[int | None] | None:
    if rule is None:
        return None
    return [
        rule.pc,
        rule.cfa_register,
        rule.cfa_offset,
        rule.return_address_offset,
        rule.rbp_offset,
        int(rule.plt_expression),
    ]


def _rule_from_fields(fields: list[int | None] | None) -> FrameRule | None:
    if fields is None or len(fields) != 6:
        return None
    pc, cfa_register, cfa_offset, return_address_offset, rbp_offset, plt = fields
    if pc is None or cfa_offset is None:
        return None
    return FrameRule(pc, cfa_register, cfa_offset, return_address_offset, rbp_offset, bool(plt))


def _rule_in_file(space: AddressSpace, address: int) -> FrameRule | None:
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
