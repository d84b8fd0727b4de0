"""A DWARF 5 line table header checked against its own size before pyelftools reads it.

DWARF 5 describes the directory and file tables of a line program by a list of
(content, form) pairs, then an entry count (section 6.2.4). pyelftools reads
the count as given and builds that many entries: with forms of no width
(DW_FORM_flag_present) a count of 2**56 never ends, and with forms of some
width it reads to the end of the section first. The C accelerator bounds the
count by the header's bytes; this does the same for the pure-Python path, so
that a hostile header costs its unit's lines, not the resolution.
"""

from __future__ import annotations

from typing import BinaryIO, Literal

# Forms a line table header may use (DWARF 5, section 6.2.4.1), by how they are laid out.
_FIXED = {0x0B: 1, 0x05: 2, 0x06: 4, 0x07: 8, 0x1E: 16, 0x0C: 1, 0x19: 0, 0x25: 1, 0x26: 2, 0x27: 3, 0x28: 4}
"""data1, data2, data4, data8, data16, flag, flag_present, strx1-4: their size in bytes."""
_OFFSETS = {0x0E, 0x1F, 0x1D, 0x17}
"""strp, line_strp, strp_sup, sec_offset: an offset, 4 or 8 bytes."""
_ULEB = {0x0F, 0x1A}
"""udata, strx."""
_STRING = 0x08
_BLOCKS = {0x09: 0, 0x0A: 1, 0x03: 2, 0x04: 4}
"""block (ULEB length), block1, block2, block4: the size of the length field (0: a ULEB)."""

MAX_ZERO_WIDTH_ENTRIES = 1 << 16
"""Entries of no width at all hold no information: more than this is damage, not a program."""


class _Reader:
    def __init__(self, data: bytes, little_endian: bool) -> None:
        self.data = data
        self.pos = 0
        self.byteorder: Literal["little", "big"] = "little" if little_endian else "big"

    def fixed(self, size: int) -> int:
        if self.pos + size > len(self.data):
            raise ValueError("past the header")
        value = int.from_bytes(self.data[self.pos : self.pos + size], self.byteorder)
        self.pos += size
        return value

    def uleb(self) -> int:
        value = shift = 0
        while True:
            byte = self.fixed(1)
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value
            if shift > 70:
                raise ValueError("ULEB128 longer than 10 bytes")

    def skip(self, form: int, offset_size: int) -> None:
        if form in _FIXED:
            self.fixed(_FIXED[form])
        elif form in _OFFSETS:
            self.fixed(offset_size)
        elif form in _ULEB:
            self.uleb()
        elif form == _STRING:
            end = self.data.find(b"\0", self.pos)
            if end < 0:
                raise ValueError("string past the header")
            self.pos = end + 1
        else:
            width = _BLOCKS[form]
            self.fixed(self.uleb() if width == 0 else self.fixed(width))


def _least_width(form: int, offset_size: int) -> int | None:
    """The fewest bytes an entry field of ``form`` takes; None for a form a header cannot use."""
    if form in _FIXED:
        return _FIXED[form]
    if form in _OFFSETS:
        return offset_size
    if form in _ULEB or form == _STRING:
        return 1
    if form in _BLOCKS:
        return _BLOCKS[form] or 1
    return None


def hostile_line_header(header: bytes, little_endian: bool) -> str | None:
    """Why ``header`` (a line program's bytes from its unit length on, at least its whole header)
    claims more directory or file entries than it can hold; None when it does not, or is not
    DWARF 5, or uses a form this does not know (pyelftools then reports it)."""
    reader = _Reader(header, little_endian)
    try:
        offset_size = 4
        if reader.fixed(4) == 0xFFFFFFFF:
            reader.fixed(8)
            offset_size = 8
        if reader.fixed(2) < 5:
            return None
        reader.fixed(2)  # address size, segment selector size
        header_length = reader.fixed(offset_size)
        header_end = min(reader.pos + header_length, len(header))
        reader.fixed(5)  # minimum instruction length .. line range
        reader.fixed(max(reader.fixed(1) - 1, 0))  # the standard opcodes' argument counts
        for table in ("directory", "file name"):
            forms = [(reader.uleb(), reader.uleb())[1] for _ in range(reader.fixed(1))]
            count = reader.uleb()
            widths = [_least_width(form, offset_size) for form in forms]
            if any(width is None for width in widths):
                return None
            least = sum(w for w in widths if w is not None)
            if least == 0 and count > MAX_ZERO_WIDTH_ENTRIES:
                return f"{count} {table} entries of no width"
            if least * count > header_end - reader.pos:
                return f"{count} {table} entries of at least {least} bytes in a {header_length}-byte header"
            if table == "directory":
                for _ in range(count):
                    for form in forms:
                        reader.skip(form, offset_size)
    except (ValueError, KeyError):
        return None  # cut short: pyelftools reports what it finds
    return None


def line_header_bytes(stream: BinaryIO, offset: int, section_size: int) -> bytes:
    """A line program's unit length and header, read from ``stream`` (its section) at ``offset``."""
    if not 0 <= offset < section_size:
        return b""
    stream.seek(offset)
    start = stream.read(min(24, section_size - offset))
    dwarf64 = start[:4] == b"\xff\xff\xff\xff"
    length_at = 18 if dwarf64 else 10  # unit length, version, address and selector sizes
    size = 8 if dwarf64 else 4
    if len(start) < length_at + size:
        return start
    header_length = int.from_bytes(start[length_at : length_at + size], "little")
    # Endianness aside (a big-endian length reads larger, which only reads more), the header ends here.
    wanted = min(length_at + size + header_length, section_size - offset, 1 << 24)
    stream.seek(offset)
    return stream.read(wanted)
