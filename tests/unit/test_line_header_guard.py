"""line_header_guard: a DWARF 5 line table header whose entry counts its bytes cannot hold."""

from __future__ import annotations

import struct

from lineprobe.symbolization.line_header_guard import hostile_line_header

DW_FORM_STRING, DW_FORM_LINE_STRP, DW_FORM_UDATA, DW_FORM_FLAG_PRESENT, DW_FORM_DATA16 = (
    0x08,
    0x1F,
    0x0F,
    0x19,
    0x1E,
)
DW_LNCT_PATH, DW_LNCT_DIRECTORY_INDEX, DW_LNCT_MD5 = 1, 2, 5


def uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def header(
    directories: list[bytes],
    dir_forms: list[tuple[int, int]],
    files: bytes,
    file_forms: list[tuple[int, int]],
    files_count: int,
) -> bytes:
    """A 32-bit DWARF 5 line program header with these tables (directory entries given as bytes)."""
    body = bytes([1, 1, 1, 0xFB, 14, 13]) + bytes([0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1])
    body += bytes([len(dir_forms)]) + b"".join(uleb(c) + uleb(f) for c, f in dir_forms)
    body += uleb(len(directories)) + b"".join(directories)
    body += bytes([len(file_forms)]) + b"".join(uleb(c) + uleb(f) for c, f in file_forms)
    body += uleb(files_count) + files
    after_length = struct.pack("<HBB", 5, 8, 0) + struct.pack("<I", len(body)) + body
    return struct.pack("<I", len(after_length)) + after_length


def test_a_real_shape_of_header_passes() -> None:
    data = header(
        [b"/src\0", b"include\0"],
        [(DW_LNCT_PATH, DW_FORM_STRING)],
        b"main.c\0" + uleb(0) + b"\x11" * 16,
        [
            (DW_LNCT_PATH, DW_FORM_STRING),
            (DW_LNCT_DIRECTORY_INDEX, DW_FORM_UDATA),
            (DW_LNCT_MD5, DW_FORM_DATA16),
        ],
        1,
    )
    assert hostile_line_header(data, little_endian=True) is None


def test_endless_entries_of_no_width_are_named() -> None:
    data = header(
        [b"/src\0"], [(DW_LNCT_PATH, DW_FORM_STRING)], b"", [(DW_LNCT_PATH, DW_FORM_FLAG_PRESENT)], 1 << 40
    )
    assert hostile_line_header(data, little_endian=True) == f"{1 << 40} file name entries of no width"


def test_more_entries_than_the_header_holds_are_named() -> None:
    data = header(
        [b"/src\0"] * 2, [(DW_LNCT_PATH, DW_FORM_STRING)], b"", [(DW_LNCT_PATH, DW_FORM_LINE_STRP)], 10**6
    )
    problem = hostile_line_header(data, little_endian=True)
    assert problem is not None and problem.startswith("1000000 file name entries of at least 4 bytes")


def test_dwarf_4_and_cut_headers_are_left_to_pyelftools() -> None:
    dwarf4 = struct.pack("<IH", 30, 4) + b"\0" * 30
    assert hostile_line_header(dwarf4, little_endian=True) is None
    whole = header(
        [b"/src\0"], [(DW_LNCT_PATH, DW_FORM_STRING)], b"", [(DW_LNCT_PATH, DW_FORM_FLAG_PRESENT)], 1 << 40
    )
    assert hostile_line_header(whole[:20], little_endian=True) is None
    unknown_form = header([b"x"], [(DW_LNCT_PATH, 0x7F)], b"", [], 0)
    assert hostile_line_header(unknown_form, little_endian=True) is None
