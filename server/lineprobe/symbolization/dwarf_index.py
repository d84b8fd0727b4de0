"""DWARF lookups by address: line tables and inlined scopes, decoded per compilation unit.

Nothing is decoded until an address needs it: the compilation unit (CU) that
covers an address comes from ``.debug_aranges`` (or, without it, from each
CU's top DIE ranges), and only that CU's line program and scope tree are
decoded, once, into sorted arrays that answer every later lookup with a
binary search. A profile touches a handful of CUs; a large library has
thousands.

Names follow the DWARF 5 specification: a *line table row* is a row of the
matrix of section 6.2, a *scope* is a DW_TAG_subprogram or
DW_TAG_inlined_subroutine DIE with its address ranges (section 2.17).
"""

from __future__ import annotations

import bisect
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lineprobe.symbolization.frame import SourceFrame
from lineprobe.symbolization.index_cache import IndexCache

MAX_SCOPE_DEPTH = 64
"""Deeper nesting than this is a malformed (or hostile) DIE tree."""


@dataclass(frozen=True, slots=True)
class Scope:
    """A function body or an inlined call, with where it sits in the source."""

    ranges: tuple[tuple[int, int], ...]
    depth: int
    name: str | None
    inlined: bool
    decl_file: str | None
    decl_line: int | None
    call_file: str | None
    call_line: int | None

    def contains(self, address: int) -> bool:
        return any(low <= address < high for low, high in self.ranges)


@dataclass
class LineTable:
    """One CU's line table as sorted parallel arrays (end-of-sequence rows kept as stops)."""

    addresses: list[int] = field(default_factory=list)
    files: list[str | None] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    columns: list[int] = field(default_factory=list)
    end_sequence: list[bool] = field(default_factory=list)

    def lookup(self, address: int) -> tuple[str | None, int, int] | None:
        i = bisect.bisect_right(self.addresses, address) - 1
        if i < 0 or self.end_sequence[i]:
            return None
        return self.files[i], self.lines[i], self.columns[i]


@dataclass
class UnitIndex:
    """Everything decoded from one CU."""

    name: str | None
    comp_dir: str | None
    line_table: LineTable
    scopes: list[Scope]
    """Sorted by (lowest address, depth): outer scopes before the scopes they contain."""

    def scope_chain(self, address: int) -> list[Scope]:
        """Scopes containing ``address``, outermost first."""
        chain = [s for s in self.scopes if s.contains(address)]
        chain.sort(key=lambda s: s.depth)
        return chain


class DwarfIndex:
    """Lazy per-CU DWARF decoding for one ELF file."""

    def __init__(
        self,
        info: Any,
        display_path: str,
        build_id: str | None = None,
        cache: IndexCache | None = None,
    ) -> None:
        self._info = info
        self.display_path = display_path
        self.problems: list[str] = []
        self._units: dict[int, UnitIndex | None] = {}
        self._cu_starts: list[int] = []
        self._cu_ranges: list[tuple[int, int, int]] = []  # (low, high, cu offset), sorted
        # Only a build-id says which bytes were decoded: without one, nothing is kept on disk.
        self._cache = cache if build_id else None
        self._build_id = build_id or ""
        cached = self._cache.load_ranges(self._build_id) if self._cache else None
        if cached is not None:
            self._cu_ranges = sorted(cached)
            self._cu_starts = [r[0] for r in self._cu_ranges]
        else:
            self._build_cu_ranges()
            if self._cache is not None:
                self._cache.save_ranges(self._build_id, self._cu_ranges)

    # -- which CU covers an address ---------------------------------------------

    def _build_cu_ranges(self) -> None:
        ranges: list[tuple[int, int, int]] = []
        aranges = self._info.get_aranges()
        if aranges is not None:
            for entry in aranges.entries:
                if entry.length:
                    ranges.append((entry.begin_addr, entry.begin_addr + entry.length, entry.info_offset))
        if not ranges:
            for cu in self._info.iter_CUs():
                for low, high in self._die_ranges(cu.get_top_DIE(), cu):
                    ranges.append((low, high, cu.cu_offset))
        ranges.sort()
        self._cu_ranges = ranges
        self._cu_starts = [r[0] for r in ranges]

    def _cu_offset_for(self, address: int) -> int | None:
        i = bisect.bisect_right(self._cu_starts, address) - 1
        # Ranges of different CUs do not overlap, but one CU may have many.
        while i >= 0:
            low, high, offset = self._cu_ranges[i]
            if low <= address < high:
                return offset
            if high <= address and i > 0 and self._cu_ranges[i - 1][1] <= low:
                return None
            i -= 1
        return None

    # -- decoding one CU ------------------------------------------------------------

    def unit_for(self, address: int) -> UnitIndex | None:
        offset = self._cu_offset_for(address)
        if offset is None:
            return None
        if offset not in self._units and self._cache is not None:
            cached = self._cache.load_unit(self._build_id, offset)
            if cached is not None:
                self._units[offset] = cached
        if offset not in self._units:
            from lineprobe.symbolization.elf_image import PARSE_ERRORS

            try:
                self._units[offset] = self._decode_unit(self._info.get_CU_at(offset))
                if self._cache is not None and self._units[offset] is not None and not self.problems:
                    unit = self._units[offset]
                    assert unit is not None
                    self._cache.save_unit(self._build_id, offset, unit)
            except PARSE_ERRORS as exc:
                self.problems.append(
                    f"{self.display_path}: compilation unit at 0x{offset:x} unreadable "
                    f"({type(exc).__name__}: {exc})"
                )
                self._units[offset] = None
        return self._units[offset]

    def _decode_unit(self, cu: Any) -> UnitIndex:
        top = cu.get_top_DIE()
        name = _attr_str(top, "DW_AT_name")
        comp_dir = _attr_str(top, "DW_AT_comp_dir")
        program = self._info.line_program_for_CU(cu)
        file_names = _file_names(program, comp_dir) if program is not None else []
        table = LineTable()
        line_section = getattr(self._info, "debug_line_sec", None)
        end = program.program_end_offset if program is not None else 0
        if line_section is not None and end > line_section.size:
            # pyelftools stops silently at the end of a truncated .debug_line:
            # the rows it did decode are kept, the loss is said.
            self.problems.append(
                f"{self.display_path}: line table of the compilation unit at 0x{cu.cu_offset:x} is "
                f"truncated (ends at 0x{end:x}, .debug_line has 0x{line_section.size:x} bytes): "
                "some lines are missing"
            )
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
        if entries:
            rows: list[tuple[int, bool, str | None, int, int]] = []
            for entry in entries:
                state = entry.state
                if state is None:
                    continue
                path = file_names[state.file] if 0 <= state.file < len(file_names) else None
                rows.append((state.address, not state.end_sequence, path, state.line, state.column))
            # Sorting on (address, not end_sequence) puts an end-of-sequence row
            # before a row that starts a new sequence at the same address, so the
            # "last row at or below the address" rule finds the real row.
            rows.sort(key=lambda r: (r[0], r[1]))
            for address, live, path, line, column in rows:
                table.addresses.append(address)
                table.end_sequence.append(not live)
                table.files.append(path)
                table.lines.append(line)
                table.columns.append(column)
        scopes = list(self._scopes(top, cu, file_names))
        scopes.sort(key=lambda s: (min((r[0] for r in s.ranges), default=0), s.depth))
        return UnitIndex(name, comp_dir, table, scopes)

    def _scopes(self, top: Any, cu: Any, file_names: list[str | None]) -> Iterator[Scope]:
        # Iterative walk: a DIE tree is attacker-shaped input, recursion is not safe.
        stack: list[tuple[Any, int]] = [(child, 0) for child in top.iter_children()]
        while stack:
            die, depth = stack.pop()
            tag = die.tag
            next_depth = depth
            if tag in ("DW_TAG_subprogram", "DW_TAG_inlined_subroutine"):
                ranges = tuple(self._die_ranges(die, cu))
                if ranges:
                    yield self._scope(die, tag == "DW_TAG_inlined_subroutine", depth, ranges, file_names)
                next_depth = depth + 1
            if depth < MAX_SCOPE_DEPTH and die.has_children and tag in _SCOPE_PARENTS:
                stack.extend((child, next_depth) for child in die.iter_children())

    def _scope(
        self,
        die: Any,
        inlined: bool,
        depth: int,
        ranges: tuple[tuple[int, int], ...],
        files: list[str | None],
    ) -> Scope:
        origin = _origin(die)
        name = _attr_str(origin, "DW_AT_name") or _attr_str(origin, "DW_AT_linkage_name")
        decl_file = _file_attr(origin, "DW_AT_decl_file", files)
        decl_line = _attr_int(origin, "DW_AT_decl_line")
        call_file = _file_attr(die, "DW_AT_call_file", files) if inlined else None
        call_line = _attr_int(die, "DW_AT_call_line") if inlined else None
        return Scope(ranges, depth, name, inlined, decl_file, decl_line, call_file, call_line)

    def _die_ranges(self, die: Any, cu: Any) -> Iterator[tuple[int, int]]:
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
                "DW_FORM_addrx4",
                "DW_FORM_GNU_addr_index",
            ):
                high = self._address_value(high_attr, cu)
            else:
                high = low + high_attr.value
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
            entries = range_lists.get_range_list_at_index(attr.value, cu)  # pragma: no cover
        else:
            entries = range_lists.get_range_list_at_offset(attr.value, cu=cu)
        for entry in entries:
            if hasattr(entry, "base_address"):
                base = entry.base_address
                continue
            if not hasattr(entry, "begin_offset"):
                continue
            low = entry.begin_offset if getattr(entry, "is_absolute", False) else base + entry.begin_offset
            high = entry.end_offset if getattr(entry, "is_absolute", False) else base + entry.end_offset
            if high > low:
                yield low, high

    def _address_value(self, attr: Any, cu: Any) -> int:
        if attr.form.startswith("DW_FORM_addrx") or attr.form == "DW_FORM_GNU_addr_index":
            return int(self._info.get_addr(cu, attr.value))
        return int(attr.value)

    # -- public lookups -------------------------------------------------------------------

    def frames(self, address: int, binary: str) -> list[SourceFrame] | None:
        """The source frames at ``address``, innermost first; None if no CU covers it."""
        unit = self.unit_for(address)
        if unit is None:
            return None
        row = unit.line_table.lookup(address)
        chain = unit.scope_chain(address)
        path, line, column = row if row is not None else (None, None, None)
        if not chain:
            return [SourceFrame(None, path, line, column or None, False, binary)]
        frames: list[SourceFrame] = []
        # Innermost scope first: its body holds the line-table row; each inlined
        # scope's call site is the line in the scope that contains it.
        for index in range(len(chain) - 1, -1, -1):
            scope = chain[index]
            frames.append(
                SourceFrame(
                    function=scope.name,
                    path=path,
                    line=line,
                    column=column or None,
                    inlined=scope.inlined,
                    binary=binary,
                    function_path=scope.decl_file,
                    function_line=scope.decl_line,
                )
            )
            if not scope.inlined:
                break
            path, line, column = scope.call_file, scope.call_line, None
        return frames

    def functions_by_file(self) -> dict[str, list[tuple[str, int]]]:
        """Every out-of-line function with a declaration line, grouped by source file.

        Walks all CUs: meant for the program's own binaries (small), to place
        code lenses on functions before any sample exists.
        """
        result: dict[str, list[tuple[str, int]]] = {}
        for cu in self._info.iter_CUs():
            top = cu.get_top_DIE()
            program = self._info.line_program_for_CU(cu)
            if program is None:
                continue
            files = _file_names(program, _attr_str(top, "DW_AT_comp_dir"))
            for die in top.iter_children():
                if die.tag != "DW_TAG_subprogram" or not any(self._die_ranges(die, cu)):
                    continue
                origin = _origin(die)
                name = _attr_str(origin, "DW_AT_name")
                path = _file_attr(origin, "DW_AT_decl_file", files)
                line = _attr_int(origin, "DW_AT_decl_line")
                if name and path and line:
                    result.setdefault(path, []).append((name, line))
        return result

    def source_files(self) -> set[str]:
        """Absolute paths of every CU's primary source file."""
        paths: set[str] = set()
        for cu in self._info.iter_CUs():
            top = cu.get_top_DIE()
            name = _attr_str(top, "DW_AT_name")
            if name:
                paths.add(_join(_attr_str(top, "DW_AT_comp_dir"), name))
        return paths


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


def _attr_str(die: Any, name: str) -> str | None:
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


def _file_attr(die: Any, name: str, files: list[str | None]) -> str | None:
    index = _attr_int(die, name)
    if index is None or not 0 <= index < len(files):
        return None
    return files[index]


def _join(directory: str | None, name: str) -> str:
    if posixpath.isabs(name) or not directory:
        return posixpath.normpath(name)
    return posixpath.normpath(posixpath.join(directory, name))


def _file_names(program: Any, comp_dir: str | None) -> list[str | None]:
    """Absolute paths indexed as DW_AT_decl_file and line rows index them.

    DWARF 5 numbers files from 0 and directories from 0 (entry 0 is the
    compilation directory); DWARF 2-4 number files from 1 and directories
    from 1, with 0 meaning the compilation directory (sections 6.2.4).
    """
    header = program.header
    directories = [
        d.decode("utf-8", errors="replace") if isinstance(d, bytes) else str(d)
        for d in header["include_directory"]
    ]
    names: list[str | None] = []
    line_version = header["version"]
    if line_version < 5:
        names.append(None)  # index 0 is unused before DWARF 5
    for entry in header["file_entry"]:
        raw = entry.name
        name = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
        dir_index = entry.dir_index
        if line_version >= 5:
            directory = directories[dir_index] if 0 <= dir_index < len(directories) else comp_dir
        else:
            directory = (
                comp_dir
                if dir_index == 0
                else (directories[dir_index - 1] if 0 < dir_index <= len(directories) else comp_dir)
            )
        if directory and not posixpath.isabs(directory) and comp_dir:
            directory = posixpath.join(comp_dir, directory)
        names.append(_join(directory, name))
    return names
