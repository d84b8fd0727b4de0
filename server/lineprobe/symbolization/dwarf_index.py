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
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from elftools.common.exceptions import DWARFError

from lineprobe.symbolization.frame import SourceFrame
from lineprobe.symbolization.index_cache import IndexCache

if TYPE_CHECKING:
    from lineprobe.symbolization.dwarf_accel import AcceleratedDwarf, Library

MAX_CHAIN = 128
"""As dwarf_accel.MAX_CHAIN (kept apart so that importing this module never loads ctypes)."""

MAX_SCOPE_DEPTH = 64
"""Deeper nesting than this is a malformed (or hostile) DIE tree."""

_U64 = (1 << 64) - 1


IntArray: TypeAlias = "array[int] | memoryview"

ARRAY_FIELDS: dict[str, str] = {
    # line table rows (section 6.2), sorted by address, end-of-sequence rows first at equal addresses
    "row_address": "Q",
    "row_file": "Q",  # the row's file register: an index into ``files``
    "row_line": "q",
    "row_column": "Q",
    "row_end_sequence": "B",
    # scopes, in DIE order; -1 means absent
    "scope_die": "Q",  # the DIE's offset in .debug_info
    "scope_depth": "H",
    "scope_inlined": "B",
    "scope_name": "q",  # index into ``names``
    "scope_decl_file": "q",  # index into ``files`` (-1 when the name's DIE is in another unit)
    "scope_decl_line": "q",
    "scope_call_file": "q",
    "scope_call_line": "q",
    # the scopes' address ranges sorted by (low, high descending, depth, DIE), each linked to
    # the nearest range before it that encloses it: the scopes around an address are a walk up
    "range_low": "Q",
    "range_high": "Q",
    "range_scope": "Q",
    "range_parent": "q",
}


@dataclass
class UnitIndex:
    """Everything decoded from one CU, as flat arrays: compact in memory and on disk."""

    name: str | None
    comp_dir: str | None
    files: Sequence[str | None]
    names: Sequence[str | None]
    arrays: Mapping[str, IntArray]
    """The ARRAY_FIELDS: built arrays when decoded here, views into the mapped file from the cache."""
    checksums: Sequence[str | None] = ()
    """Each file's MD5 from the line table (DWARF 5 DW_LNCT_MD5, hex), parallel to ``files``."""
    file: Callable[[int], str | None] = field(init=False, repr=False, compare=False)
    """The path of a file number, None when out of range."""
    function: Callable[[int], str | None] = field(init=False, repr=False, compare=False)
    """The function name at an index of ``names``, None when out of range."""

    def __post_init__(self) -> None:
        self.file = _getter(self.files)
        self.function = _getter(self.names)

    def row_at(self, address: int) -> tuple[str | None, int, int] | None:
        addresses = self.arrays["row_address"]
        i = bisect.bisect_right(addresses, address) - 1
        if i < 0 or self.arrays["row_end_sequence"][i]:
            return None
        a = self.arrays
        return self.file(a["row_file"][i]), a["row_line"][i], a["row_column"][i]

    def scope_chain(self, address: int) -> list[int]:
        """Indexes of the scopes containing ``address``, innermost first."""
        lows, highs = self.arrays["range_low"], self.arrays["range_high"]
        scopes, parents = self.arrays["range_scope"], self.arrays["range_parent"]
        chain: list[int] = []
        i = bisect.bisect_right(lows, address) - 1
        while i >= 0:  # parents come strictly earlier: the walk ends
            if address < highs[i] and scopes[i] not in chain:
                chain.append(scopes[i])
            parent = parents[i]
            if parent >= i:
                break  # only a damaged cache file breaks that rule
            i = parent
        return chain

    def frames(self, address: int, binary: str) -> list[SourceFrame]:
        return self.frames_of(self.row_at(address), self.scope_chain(address), binary)

    def frames_many(
        self, addresses: list[int], binary: str, library: Library | None
    ) -> list[list[SourceFrame]]:
        """``frames`` for each address; the accelerator, when given, does the searches in one call."""
        found = library.lookup(self.arrays, addresses) if library is not None else None
        if found is None:
            return [self.frames(address, binary) for address in addresses]
        rows, chains, counts = found
        a = self.arrays
        result = []
        for i, address in enumerate(addresses):
            count = counts[i]
            if count == MAX_CHAIN:  # possibly cut short: the Python walk has no limit
                result.append(self.frames(address, binary))
                continue
            row = rows[i]
            where = (
                (self.file(a["row_file"][row]), a["row_line"][row], a["row_column"][row])
                if row >= 0
                else None
            )
            result.append(self.frames_of(where, list(chains[i * MAX_CHAIN : i * MAX_CHAIN + count]), binary))
        return result

    def frames_of(
        self, row: tuple[str | None, int, int] | None, chain: list[int], binary: str
    ) -> list[SourceFrame]:
        """The inline chain from a line-table row and the scopes around it (innermost first)."""
        path, line, column = row if row is not None else (None, None, None)
        if not chain:
            return [SourceFrame(None, path, line, column or None, False, binary)]
        a = self.arrays
        frames: list[SourceFrame] = []
        # Innermost scope first: its body holds the line-table row; each inlined
        # scope's call site is the line in the scope that contains it.
        for scope in chain:
            decl_line = a["scope_decl_line"][scope]
            inlined = bool(a["scope_inlined"][scope])
            frames.append(
                SourceFrame(
                    function=self.function(a["scope_name"][scope]),
                    path=path,
                    line=line,
                    column=column or None,
                    inlined=inlined,
                    binary=binary,
                    function_path=self.file(a["scope_decl_file"][scope]),
                    function_line=decl_line if decl_line >= 0 else None,
                )
            )
            if not inlined:
                break
            call_line = a["scope_call_line"][scope]
            path, line, column = (
                self.file(a["scope_call_file"][scope]),
                call_line if call_line >= 0 else None,
                None,
            )
        return frames


def _any_checksum(unit: UnitIndex) -> bool:
    checksums = unit.checksums
    has_any = getattr(checksums, "has_any", None)  # the cache's StringTable knows without decoding
    return bool(has_any()) if has_any is not None else any(checksums)


def _getter(strings: Sequence[str | None]) -> Callable[[int], str | None]:
    get = getattr(strings, "get", None)  # the cache's StringTable has its own
    if get is not None:
        return cast(Callable[[int], str | None], get)
    count = len(strings)

    def item(index: int) -> str | None:
        return strings[index] if 0 <= index < count else None

    return item


def empty_arrays() -> dict[str, array[int]]:
    return {name: array(code) for name, code in ARRAY_FIELDS.items()}


class DwarfIndex:
    """Lazy per-CU DWARF decoding for one ELF file.

    ``load_info`` returns pyelftools' DWARFInfo; it is called only when a unit
    is missing from the on-disk cache, since opening inflates every compressed
    debug section (seconds on a large library).
    """

    def __init__(
        self,
        load_info: Callable[[], Any],
        display_path: str,
        build_id: str | None = None,
        cache: IndexCache | None = None,
        accelerate: bool = True,
    ) -> None:
        self._load_info = load_info
        self._info_value: Any = None
        self._accelerate = accelerate
        self._accel: AcceleratedDwarf | None = None
        self._accel_tried = False
        self._library: Library | None = None
        self._library_tried = False
        self._checksums: dict[str, str] = {}  # source path -> MD5, from the units decoded so far
        self._checksums_pending: list[UnitIndex] = []  # units loaded since checksum() last looked
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

    @property
    def _info(self) -> Any:
        if self._info_value is None:
            self._info_value = self._load_info()
        return self._info_value

    @_info.setter
    def _info(self, value: Any) -> None:
        self._info_value = value

    @property
    def accelerated(self) -> bool:
        """Whether units are decoded by the C accelerator (dwarf_accel.py)."""
        if not self._accel_tried:
            self._accel_tried = True
            # Imported here: a warm cache answers without decoding, and without ctypes.
            from lineprobe.symbolization.dwarf_accel import AcceleratedDwarf, Library

            library = Library.load() if self._accelerate else None
            info = self._info
            # The accelerator reads little-endian ELF64 only; anything else stays with pyelftools.
            if library is not None and info.config.little_endian and info.config.default_address_size == 8:
                self._accel = AcceleratedDwarf(library, info)
        return self._accel is not None

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
        return self.unit_at(offset)

    def unit_at(self, offset: int) -> UnitIndex | None:
        """The unit whose header is at ``offset`` in .debug_info, decoded once."""
        if offset in self._units:
            return self._units[offset]
        unit = self._cache.load_unit(self._build_id, offset) if self._cache is not None else None
        if unit is None:
            from lineprobe.symbolization.elf_image import PARSE_ERRORS

            problems_before = len(self.problems)
            try:
                unit = self._decode_accelerated(offset) if self.accelerated else self._decode_unit(offset)
                if self._cache is not None and unit is not None and len(self.problems) == problems_before:
                    self._cache.save_unit(self._build_id, offset, unit)
            except PARSE_ERRORS as exc:
                self.problems.append(
                    f"{self.display_path}: compilation unit at 0x{offset:x} unreadable "
                    f"({type(exc).__name__}: {exc})"
                )
                unit = None
        self._units[offset] = unit
        if unit is not None:
            self._checksums_pending.append(unit)
        return unit

    def _decode_accelerated(self, offset: int) -> UnitIndex | None:
        accel = self._accel
        assert accel is not None
        raw = accel.decode_unit(offset)
        if raw is None:
            raise DWARFError(f"no compilation unit header at 0x{offset:x}")
        if raw.scope_error:
            self.problems.append(f"{self.display_path}: compilation unit at 0x{offset:x}: {raw.scope_error}")
        line_section = accel.sections.get("debug_line_sec")
        if line_section is not None and raw.line_claimed_end > len(line_section):
            self.problems.append(self._truncated_lines(offset, raw.line_claimed_end, len(line_section)))
        if raw.line_error:
            self.problems.append(
                f"{self.display_path}: line table of the compilation unit at 0x{offset:x} unreadable "
                f"({raw.line_error}): its functions are shown without lines"
            )
        comp_dir = accel.string(*raw.comp_dir)
        files: list[str | None] = []
        if raw.has_line_program:
            directories = [accel.string(kind, off) or "" for kind, off in raw.directories]
            entries = [(accel.string(kind, off) or "", directory) for kind, off, directory in raw.files]
            files = _file_names(raw.line_version, directories, entries, comp_dir)
        names: list[str] = []
        remap: list[int] = []
        seen: dict[str, int] = {}
        for kind, off in raw.names:
            text = accel.string(kind, off) or ""
            remap.append(seen.setdefault(text, len(names)))
            if remap[-1] == len(names):
                names.append(text)
        if len(names) != len(remap):  # the same text at two offsets: one name, as pyelftools sees it
            scope_name = raw.arrays["scope_name"]
            for i, index in enumerate(scope_name):
                if index >= 0:
                    scope_name[i] = remap[index]
        checksums: list[str | None] = []
        if raw.has_line_program:
            checksums = [*([None] if raw.line_version < 5 else []), *raw.checksums]
        return UnitIndex(accel.string(*raw.name), comp_dir, files, names, raw.arrays, checksums)

    def _truncated_lines(self, offset: int, end: int, size: int) -> str:
        return (
            f"{self.display_path}: line table of the compilation unit at 0x{offset:x} is "
            f"truncated (ends at 0x{end:x}, .debug_line has 0x{size:x} bytes): some lines are missing"
        )

    def _decode_unit(self, offset: int) -> UnitIndex:
        """The pure-Python decoding, through pyelftools: the reference the accelerator matches."""
        cu = self._info.get_CU_at(offset)
        top = cu.get_top_DIE()
        name = _attr_str(top, "DW_AT_name")
        comp_dir = _attr_str(top, "DW_AT_comp_dir")
        program = self._info.line_program_for_CU(cu)
        files: list[str | None] = []
        checksums: list[str | None] = []
        if program is not None:
            header = program.header
            if header["version"] >= 5:
                checksums = [_md5_hex(entry.get("DW_LNCT_MD5")) for entry in header.get("file_names") or ()]
            else:
                checksums = [None] * (len(header["file_entry"]) + 1)
            files = _file_names(
                header["version"],
                [_text(d) for d in header["include_directory"]],
                [(_text(entry.name), entry.dir_index) for entry in header["file_entry"]],
                comp_dir,
            )
        arrays = empty_arrays()
        line_section = getattr(self._info, "debug_line_sec", None)
        end = program.program_end_offset if program is not None else 0
        if line_section is not None and end > line_section.size:
            self.problems.append(self._truncated_lines(cu.cu_offset, end, line_section.size))
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
                ranges = tuple(self._die_ranges(die, cu))
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
            name = _attr_str(origin, "DW_AT_name")
            if name is None:
                name = _attr_str(origin, "DW_AT_linkage_name")
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

    # -- public lookups -------------------------------------------------------------------

    def frames(self, address: int, binary: str) -> list[SourceFrame] | None:
        """The source frames at ``address``, innermost first; None if no CU covers it."""
        unit = self.unit_for(address)
        if unit is None:
            return None
        return unit.frames(address, binary)

    def frames_many(self, addresses: list[int], binary: str) -> list[list[SourceFrame] | None]:
        """``frames`` for a batch: grouped by unit, each unit's searches in one accelerator call."""
        by_unit: dict[int, tuple[UnitIndex, list[int]]] = {}
        for position, address in enumerate(addresses):
            unit = self.unit_for(address)
            if unit is not None:
                by_unit.setdefault(id(unit), (unit, []))[1].append(position)
        result: list[list[SourceFrame] | None] = [None] * len(addresses)
        library = self._lookup_library()
        for unit, positions in by_unit.values():
            answers = unit.frames_many([addresses[p] for p in positions], binary, library)
            for position, frames in zip(positions, answers, strict=True):
                result[position] = frames
        return result

    def _lookup_library(self) -> Library | None:
        if not self._library_tried:
            self._library_tried = True
            if self._accelerate:
                from lineprobe.symbolization.dwarf_accel import Library

                self._library = Library.load()
        return self._library

    def checksum(self, path: str) -> str | None:
        """The MD5 a decoded unit's line table gives for ``path`` (DWARF 5), if any."""
        while self._checksums_pending:
            unit = self._checksums_pending.pop()
            # Most units carry none (gcc writes no MD5): those cost one test, not a scan of their files.
            if _any_checksum(unit):
                for index, checksum in enumerate(unit.checksums):
                    file = unit.file(index)
                    if checksum and file is not None:
                        self._checksums.setdefault(file, checksum)
        return self._checksums.get(path)

    def functions_by_file(self) -> dict[str, list[tuple[str, int]]]:
        """Every out-of-line function with a declaration line, grouped by source file.

        Walks all CUs: meant for the program's own binaries (small), to place
        code lenses on functions before any sample exists.
        """
        result: dict[str, list[tuple[str, int]]] = {}
        for cu in self._info.iter_CUs():
            unit = self.unit_at(cu.cu_offset)
            if unit is None:
                continue
            a = unit.arrays
            for scope in range(len(a["scope_die"])):
                if a["scope_inlined"][scope] or a["scope_depth"][scope] != 0:
                    continue
                name_index, line = a["scope_name"][scope], a["scope_decl_line"][scope]
                path = unit.file(a["scope_decl_file"][scope])
                name = unit.function(name_index)
                if name and path and line > 0:
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


def _file_names(
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
        names.append(_join(directory, name))
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
