"""The reference decoder of one compilation unit: pyelftools' line programs and DIE tree.

It fills the same arrays as the C accelerator (``dwarf_accel.c``), which must
match it exactly (``tests/unit/test_dwarf_accel.py``); it is what runs where
the accelerator is not built, and it stays the definition of what each array
holds.
"""

from __future__ import annotations

import posixpath
from array import array
from collections.abc import Iterator
from typing import Any

from elftools.common.exceptions import DWARFError

from lineprobe.symbolization.line_header_guard import hostile_line_header, line_header_bytes
from lineprobe.symbolization.unit_index import UnitIndex, empty_arrays

MAX_SCOPE_DEPTH = 64
"""Deeper nesting than this is a malformed (or hostile) DIE tree."""

_U64 = (1 << 64) - 1


def truncated_lines_problem(display_path: str, offset: int, end: int, size: int) -> str:
    return (
        f"{display_path}: line table of the compilation unit at 0x{offset:x} is "
        f"truncated (ends at 0x{end:x}, .debug_line has 0x{size:x} bytes): some lines are missing"
    )


class PyelftoolsDecoder:
    """Decodes units of one file's DWARF (pyelftools' DWARFInfo); problems go to ``problems``."""

    def __init__(self, info: Any, display_path: str, problems: list[str]) -> None:
        self._info = info
        self.display_path = display_path
        self.problems = problems

    def _hostile_line_header(self, offset: int) -> str | None:
        section = getattr(self._info, "debug_line_sec", None)
        if section is None or not isinstance(offset, int):
            return None
        header = line_header_bytes(section.stream, offset, section.size)
        return hostile_line_header(header, self._info.config.little_endian)

    def decode(self, offset: int) -> UnitIndex:
        """The pure-Python decoding, through pyelftools: the reference the accelerator matches."""
        cu = self._info.get_CU_at(offset)
        top = cu.get_top_DIE()
        name = attr_str(top, "DW_AT_name")
        comp_dir = attr_str(top, "DW_AT_comp_dir")
        program = None
        stmt_list = top.attributes.get("DW_AT_stmt_list")
        hostile = self._hostile_line_header(stmt_list.value) if stmt_list is not None else None
        if hostile is not None:
            self.problems.append(
                f"{self.display_path}: line table header of the compilation unit at 0x{offset:x} "
                f"claims {hostile}: its functions are shown without lines"
            )
        else:
            program = self._info.line_program_for_CU(cu)
        files: list[str | None] = []
        checksums: list[str | None] = []
        if program is not None:
            header = program.header
            if header["version"] >= 5:
                checksums = [_md5_hex(entry.get("DW_LNCT_MD5")) for entry in header.get("file_names") or ()]
            else:
                checksums = [None] * (len(header["file_entry"]) + 1)
            files = file_names(
                header["version"],
                [_text(d) for d in header["include_directory"]],
                [(_text(entry.name), entry.dir_index) for entry in header["file_entry"]],
                comp_dir,
            )
        arrays = empty_arrays()
        line_section = getattr(self._info, "debug_line_sec", None)
        end = program.program_end_offset if program is not None else 0
        if line_section is not None and end > line_section.size:
            size = line_section.size
            self.problems.append(truncated_lines_problem(self.display_path, cu.cu_offset, end, size))
        entries: list[Any] = []
        if program is not None:
            from lineprobe.symbolization.elf_image import PARSE_ERRORS

            try:
                entries = program.get_entries()
            except PARSE_ERRORS as exc:
                # A damaged line program costs this CU its lines, not its functions (the scopes below).
                self.problems.append(
                    f"{self.display_path}: line table of the compilation unit at 0x{cu.cu_offset:x} "
                    f"unreadable ({type(exc).__name__}: {exc}): its functions are shown without lines"
                )
        rows = [
            (
                state.address & _U64,
                not state.end_sequence,
                state.file & _U64,
                state.line if -(2**63) <= state.line < 2**63 else 0,
                state.column & _U64,
            )
            for state in (entry.state for entry in entries)
            if state is not None
        ]
        # Sorting on (address, not end_sequence) puts an end-of-sequence row
        # before a row that starts a new sequence at the same address, so the
        # "last row at or below the address" rule finds the real row.
        rows.sort(key=lambda r: (r[0], r[1]))
        for address, live, file_index, line, column in rows:
            arrays["row_address"].append(address)
            arrays["row_end_sequence"].append(0 if live else 1)
            arrays["row_file"].append(file_index)
            arrays["row_line"].append(line)
            arrays["row_column"].append(column)
        names = self._python_scopes(top, cu, arrays)
        return UnitIndex(name, comp_dir, files, names, arrays, checksums)

    def _python_scopes(self, top: Any, cu: Any, arrays: dict[str, array[int]]) -> list[str]:
        found: list[tuple[int, int, bool, Any, tuple[tuple[int, int], ...]]] = []
        # Iterative walk: a DIE tree is attacker-shaped input, recursion is not safe.
        stack: list[tuple[Any, int]] = [(child, 0) for child in top.iter_children()]
        while stack:
            die, depth = stack.pop()
            tag = die.tag
            next_depth = depth
            if tag in ("DW_TAG_subprogram", "DW_TAG_inlined_subroutine"):
                ranges = tuple(self.die_ranges(die, cu))
                if ranges:
                    found.append((die.offset, depth, tag == "DW_TAG_inlined_subroutine", die, ranges))
                next_depth = depth + 1
            if depth < MAX_SCOPE_DEPTH and die.has_children and tag in _SCOPE_PARENTS:
                stack.extend((child, next_depth) for child in die.iter_children())
        found.sort(key=lambda f: f[0])
        names: list[str] = []
        interned: dict[str, int] = {}
        spans: list[tuple[int, int, int, int, int, int]] = []
        for index, (offset, depth, inlined, die, ranges) in enumerate(found):
            origin = _origin(die)
            name = attr_str(origin, "DW_AT_name")
            if name is None:
                name = attr_str(origin, "DW_AT_linkage_name")
            arrays["scope_die"].append(offset)
            arrays["scope_depth"].append(depth)
            arrays["scope_inlined"].append(1 if inlined else 0)
            arrays["scope_name"].append(interned.setdefault(name, len(interned)) if name is not None else -1)
            if name is not None and len(interned) > len(names):
                names.append(name)
            same_unit = origin.cu.cu_offset == cu.cu_offset
            arrays["scope_decl_file"].append(_small_int(origin, "DW_AT_decl_file") if same_unit else -1)
            arrays["scope_decl_line"].append(_small_int(origin, "DW_AT_decl_line"))
            arrays["scope_call_file"].append(_small_int(die, "DW_AT_call_file") if inlined else -1)
            arrays["scope_call_line"].append(_small_int(die, "DW_AT_call_line") if inlined else -1)
            for low, high in ranges:
                spans.append((low, high, depth, offset, len(spans), index))
        spans.sort(key=lambda r: (r[0], -r[1], r[2], r[3], r[4]))
        open_ranges: list[int] = []
        for i, (low, high, _, _, _, scope) in enumerate(spans):
            while open_ranges and spans[open_ranges[-1]][1] < high:
                open_ranges.pop()
            arrays["range_parent"].append(open_ranges[-1] if open_ranges else -1)
            open_ranges.append(i)
            arrays["range_low"].append(low)
            arrays["range_high"].append(high)
            arrays["range_scope"].append(scope)
        return names

    def die_ranges(self, die: Any, cu: Any) -> Iterator[tuple[int, int]]:
        attrs = die.attributes
        if "DW_AT_low_pc" in attrs and "DW_AT_high_pc" in attrs:
            low = self._address_value(attrs["DW_AT_low_pc"], cu)
            high_attr = attrs["DW_AT_high_pc"]
            # DWARF 4+: high_pc of constant class is an offset from low_pc (section 2.17.2).
            if high_attr.form in (
                "DW_FORM_addr",
                "DW_FORM_addrx",
                "DW_FORM_addrx1",
                "DW_FORM_addrx2",
                "DW_FORM_addrx3",
                "DW_FORM_addrx4",
                "DW_FORM_GNU_addr_index",
            ):
                high = self._address_value(high_attr, cu)
            else:
                high = (low + high_attr.value) & _U64
            if high > low:
                yield low, high
        elif "DW_AT_ranges" in attrs:
            yield from self._range_list(die, cu)

    def _range_list(self, die: Any, cu: Any) -> Iterator[tuple[int, int]]:
        range_lists = self._info.range_lists()
        if range_lists is None:
            return
        attr = die.attributes["DW_AT_ranges"]
        top = cu.get_top_DIE()
        base = 0
        if "DW_AT_low_pc" in top.attributes:
            base = self._address_value(top.attributes["DW_AT_low_pc"], cu)
        if attr.form == "DW_FORM_rnglistx":
            raise DWARFError("DW_FORM_rnglistx not supported")
        entries = range_lists.get_range_list_at_offset(attr.value, cu=cu)
        for entry in entries:
            if hasattr(entry, "base_address"):
                base = entry.base_address
                continue
            if not hasattr(entry, "begin_offset"):
                continue
            absolute = getattr(entry, "is_absolute", False)
            low = entry.begin_offset if absolute else (base + entry.begin_offset) & _U64
            high = entry.end_offset if absolute else (base + entry.end_offset) & _U64
            if high > low:
                yield low, high

    def _address_value(self, attr: Any, cu: Any) -> int:
        # pyelftools resolves DW_FORM_addrx* through .debug_addr itself (the index stays in raw_value).
        return int(attr.value)


_SCOPE_PARENTS = frozenset(
    {
        "DW_TAG_subprogram",
        "DW_TAG_inlined_subroutine",
        "DW_TAG_lexical_block",
        "DW_TAG_namespace",
        "DW_TAG_class_type",
        "DW_TAG_structure_type",
    }
)


def _origin(die: Any) -> Any:
    """Follow DW_AT_abstract_origin / DW_AT_specification to the DIE that has the name."""
    seen = 0
    while seen < 8:
        seen += 1
        for attr in ("DW_AT_abstract_origin", "DW_AT_specification"):
            if attr in die.attributes:
                die = die.get_DIE_from_attribute(attr)
                break
        else:
            return die
    return die


def attr_str(die: Any, name: str) -> str | None:
    attr = die.attributes.get(name)
    if attr is None:
        return None
    value = attr.value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _attr_int(die: Any, name: str) -> int | None:
    attr = die.attributes.get(name)
    return int(attr.value) if attr is not None and isinstance(attr.value, int) else None


def join_path(directory: str | None, name: str) -> str:
    if posixpath.isabs(name) or not directory:
        return posixpath.normpath(name)
    return posixpath.normpath(posixpath.join(directory, name))


def file_names(
    version: int, directories: list[str], entries: list[tuple[str, int]], comp_dir: str | None
) -> list[str | None]:
    """Absolute paths indexed as DW_AT_decl_file and line rows index them.

    DWARF 5 numbers files from 0 and directories from 0 (entry 0 is the
    compilation directory); DWARF 2-4 number files from 1 and directories
    from 1, with 0 meaning the compilation directory (sections 6.2.4).
    """
    names: list[str | None] = []
    if version < 5:
        names.append(None)  # index 0 is unused before DWARF 5
    for name, dir_index in entries:
        if version >= 5:
            directory = directories[dir_index] if 0 <= dir_index < len(directories) else comp_dir
        else:
            directory = (
                comp_dir
                if dir_index == 0
                else (directories[dir_index - 1] if 0 < dir_index <= len(directories) else comp_dir)
            )
        if directory and not posixpath.isabs(directory) and comp_dir:
            directory = posixpath.join(comp_dir, directory)
        names.append(join_path(directory, name))
    return names


def _md5_hex(value: Any) -> str | None:
    """DW_LNCT_MD5 as pyelftools gives it (16 byte values, DW_FORM_data16) in hex."""
    if isinstance(value, (list, tuple, bytes)) and len(value) == 16:
        return bytes(value).hex()
    return None


def _text(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _small_int(die: Any, name: str) -> int:
    """An attribute's integer value, or -1 when absent or outside 0..2**31-1 (as the accelerator)."""
    value = _attr_int(die, name)
    return value if value is not None and 0 <= value <= 0x7FFFFFFF else -1
