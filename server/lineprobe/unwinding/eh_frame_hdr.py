"""The binary search table of ``.eh_frame_hdr``: which FDE covers a pc, without parsing them all.

Linkers write this table (LSB, "Exception Frame Header") so that unwinders
find a function's FDE by binary search; parsing every FDE of libc with
pyelftools to build the same index costs most of a second. The table is a
header (version, pointer encodings, the ``.eh_frame`` pointer and the FDE
count) followed by sorted (initial location, FDE address) pairs, almost
always encoded as 4-byte signed offsets from the start of the header
(``DW_EH_PE_datarel | DW_EH_PE_sdata4``); other encodings are not read and
the caller falls back to parsing ``.eh_frame``.
"""

from __future__ import annotations

import bisect
import itertools
import struct
from array import array
from dataclasses import dataclass

DW_EH_PE_OMIT = 0xFF
DW_EH_PE_UDATA4 = 0x03
DW_EH_PE_SDATA4 = 0x0B
DW_EH_PE_PCREL = 0x10
DW_EH_PE_DATAREL = 0x30


class UnsupportedTable(ValueError):
    pass


@dataclass
class FdeTable:
    locations: array[int]
    """Initial locations (ELF virtual addresses), sorted."""
    fde_addresses: array[int]
    """Where each FDE starts (ELF virtual address, inside .eh_frame)."""

    def fde_for(self, pc: int) -> int | None:
        """Address of the FDE whose range may hold ``pc`` (the caller checks its end)."""
        i = bisect.bisect_right(self.locations, pc) - 1
        return self.fde_addresses[i] if i >= 0 else None

    def __len__(self) -> int:
        return len(self.locations)


def _read_encoded(data: bytes, offset: int, encoding: int, section_address: int) -> tuple[int, int]:
    """(value, next offset) for the two pointer encodings the header itself uses."""
    base = 0
    if encoding & 0x70 == DW_EH_PE_PCREL:
        base = section_address + offset
    elif encoding & 0x70 == DW_EH_PE_DATAREL:
        base = section_address
    elif encoding & 0x70:
        raise UnsupportedTable(f"pointer application 0x{encoding & 0x70:x}")
    form = encoding & 0x0F
    if form == DW_EH_PE_SDATA4:
        return base + struct.unpack_from("<i", data, offset)[0], offset + 4
    if form == DW_EH_PE_UDATA4:
        return base + struct.unpack_from("<I", data, offset)[0], offset + 4
    raise UnsupportedTable(f"pointer format 0x{form:x}")


def parse_eh_frame_hdr(data: bytes, section_address: int) -> FdeTable:
    if len(data) < 4 or data[0] != 1:
        raise UnsupportedTable("not a version 1 .eh_frame_hdr")
    eh_frame_ptr_enc, fde_count_enc, table_enc = data[1], data[2], data[3]
    if fde_count_enc == DW_EH_PE_OMIT or table_enc != (DW_EH_PE_DATAREL | DW_EH_PE_SDATA4):
        raise UnsupportedTable("no binary search table in a known encoding")
    _, offset = _read_encoded(data, 4, eh_frame_ptr_enc, section_address)
    count, offset = _read_encoded(data, offset, fde_count_enc, section_address)
    if count < 0 or offset + 8 * count > len(data):
        raise UnsupportedTable(f"table of {count} entries does not fit in the section")
    pairs = array("i")
    pairs.frombytes(data[offset : offset + 8 * count])
    if pairs.itemsize != 4:
        raise UnsupportedTable("platform int is not 32 bits")
    locations = array("q", (section_address + v for v in pairs[0::2]))
    fde_addresses = array("q", (section_address + v for v in pairs[1::2]))
    if any(b < a for a, b in itertools.pairwise(locations)):
        raise UnsupportedTable("table is not sorted")
    return FdeTable(locations, fde_addresses)
