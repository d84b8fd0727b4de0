"""Byte-level damage to 64-bit little-endian ELF files, for the seed corpus and the unit tests.

Pure Python (struct, zlib; pyelftools only to find DIE attribute offsets), so
each damaged file is built the same way on any machine.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
SHDR = struct.Struct("<IIQQQQIIQQ")
CHDR = struct.Struct("<IIQQ")
"""Elf64_Chdr: ch_type, ch_reserved, ch_size, ch_addralign."""
SHF_COMPRESSED = 0x800
ELFCOMPRESS_ZLIB = 1
E_SHOFF = 0x28
E_SHNUM = 0x3C
E_SHSTRNDX = 0x3E


@dataclass(frozen=True)
class Section:
    name: str
    header_offset: int
    """Where this section's Elf64_Shdr is in the file."""
    flags: int
    offset: int
    size: int


def sections(data: bytes) -> dict[str, Section]:
    fields = EHDR.unpack_from(data)
    shoff, shentsize, shnum, shstrndx = fields[6], fields[11], fields[12], fields[13]
    headers = [SHDR.unpack_from(data, shoff + i * shentsize) for i in range(shnum)]
    strtab = headers[shstrndx]
    names = data[strtab[4] : strtab[4] + strtab[5]]
    result = {}
    for i, h in enumerate(headers):
        name = names[h[0] : names.index(b"\0", h[0])].decode()
        result[name] = Section(name, shoff + i * shentsize, h[2], h[4], h[5])
    return result


def patch(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def with_section_size(data: bytes, name: str, size: int) -> bytes:
    """The section header of ``name`` claims ``size`` bytes (its data is untouched)."""
    return patch(data, sections(data)[name].header_offset + 0x20, "<Q", size)


def truncated_debug_line(data: bytes) -> bytes:
    """.debug_line cut to a third of its length: the line program runs past the section's end."""
    line = sections(data)[".debug_line"]
    return with_section_size(data, ".debug_line", line.size // 3)


def section_headers_out_of_file(data: bytes) -> bytes:
    return patch(data, E_SHOFF, "<Q", len(data) + 0x10000)


def section_header_count_huge(data: bytes) -> bytes:
    return patch(data, E_SHNUM, "<H", 0xFFFF)


def section_names_index_bad(data: bytes) -> bytes:
    return patch(data, E_SHSTRNDX, "<H", 0xFFF0)


def section_offsets_garbage(data: bytes, names: tuple[str, ...] = (".debug_info", ".symtab")) -> bytes:
    """Named sections point far past the end of the file."""
    for name in names:
        data = patch(data, sections(data)[name].header_offset + 0x18, "<Q", 0x7FFF_FFFF_0000)
    return data


def compressed_size_bomb(
    data: bytes, name: str = ".debug_info", claimed: int | None = 64 << 30, corrupt: bool = False
) -> bytes:
    """``name`` made SHF_COMPRESSED in place, its header claiming ``claimed`` decompressed bytes.

    ``claimed=None``: the true size; ``corrupt``: the deflate stream is damaged half-way.
    """
    section = sections(data)[name]
    payload = zlib.compress(data[section.offset : section.offset + section.size], 9)
    if claimed is None:
        claimed = section.size
    if corrupt:
        middle = len(payload) // 2
        damaged = bytes(b ^ 0x5A for b in payload[middle : middle + 16])
        payload = payload[:middle] + damaged + payload[middle + 16 :]
    blob = CHDR.pack(ELFCOMPRESS_ZLIB, 0, claimed, 1) + payload
    if len(blob) > section.size:
        raise ValueError(f"{name} does not shrink enough to be compressed in place")
    out = bytearray(data)
    out[section.offset : section.offset + len(blob)] = blob
    struct.pack_into("<Q", out, section.header_offset + 0x08, section.flags | SHF_COMPRESSED)
    struct.pack_into("<Q", out, section.header_offset + 0x20, len(blob))
    return bytes(out)


def legacy_zdebug_bomb(data: bytes, name: str = ".debug_info", claimed: int = 64 << 30) -> bytes:
    """``name`` turned into a legacy GNU ``.zdebug_`` section whose "ZLIB" header claims ``claimed`` bytes.

    The new name goes into a copy of the section-name table appended to the file.
    """
    section = sections(data)[name]
    blob = (
        b"ZLIB"
        + claimed.to_bytes(8, "big")
        + zlib.compress(data[section.offset : section.offset + section.size])
    )
    if len(blob) > section.size:
        raise ValueError(f"{name} does not shrink enough to be compressed in place")
    fields = EHDR.unpack_from(data)
    shoff, shentsize, shstrndx = fields[6], fields[11], fields[13]
    names_header = shoff + shstrndx * shentsize
    names_offset, names_size = struct.unpack_from("<QQ", data, names_header + 0x18)
    table = data[names_offset : names_offset + names_size] + b".z" + name[1:].encode() + b"\0"
    out = bytearray(data)
    out[section.offset : section.offset + len(blob)] = blob
    struct.pack_into("<Q", out, section.header_offset + 0x20, len(blob))
    struct.pack_into("<I", out, section.header_offset, names_size)  # sh_name: the appended string
    struct.pack_into("<QQ", out, names_header + 0x18, len(out), len(table))
    return bytes(out + table)


def die_reference_cycle(data: bytes) -> tuple[bytes, int]:
    """Every DW_AT_abstract_origin / DW_AT_specification (ref4) points at its own DIE.

    Returns the damaged file and how many references were rewritten.
    """
    from elftools.elf.elffile import ELFFile

    info_offset = sections(data)[".debug_info"].offset
    out = bytearray(data)
    count = 0
    dwarf = ELFFile(io.BytesIO(data)).get_dwarf_info(relocate_dwarf_sections=False)
    for cu in dwarf.iter_CUs():
        for die in cu.iter_DIEs():
            for name in ("DW_AT_abstract_origin", "DW_AT_specification"):
                attr = die.attributes.get(name)
                if attr is not None and attr.form == "DW_FORM_ref4":
                    struct.pack_into("<I", out, info_offset + attr.offset, die.offset - cu.cu_offset)
                    count += 1
    return bytes(out), count


def line_header_endless_directories(data: bytes) -> bytes:
    """The first (DWARF 5) line table's directories made of fields of no width
    (DW_FORM_flag_present) and counted 2**56: read as given, they never end.

    Built in place: the one directory format pair keeps its bytes, and the 9-byte count
    takes the room of the old one-byte count and its 4-byte directory entries.
    """
    line = sections(data)[".debug_line"]
    base = line.offset
    assert data[base + 4 : base + 6] == b"\x05\x00", "a DWARF 5 line table"
    formats_at = base + 18 + data[base + 17] - 1  # after the standard opcodes' argument counts
    assert data[formats_at] == 1 and data[formats_at + 2] == 0x1F, "one (path, line_strp) pair"
    count_at = formats_at + 3
    assert 1 + 4 * data[count_at] >= 9, "room for a 9-byte count"
    out = bytearray(data)
    out[formats_at + 2] = 0x19  # DW_FORM_flag_present
    out[count_at : count_at + 9] = b"\x80" * 8 + b"\x01"  # ULEB128 of 2**56
    return bytes(out)
