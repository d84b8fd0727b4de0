"""DWARF lookups by address for one ELF file, decoded per compilation unit on demand.

Nothing is decoded until an address needs it: the compilation unit (CU) that
covers an address comes from ``.debug_aranges`` (or, without it, from each
CU's top DIE ranges), and only that CU is decoded, once, into a ``UnitIndex``
(``unit_index.py``) that answers every later lookup with binary searches.
A profile touches a handful of CUs; a large library has thousands. A unit
comes from the on-disk cache (``index_cache.py``), else from the C
accelerator (``dwarf_accel.py``), else from pyelftools
(``pyelftools_decoder.py``), which the accelerator matches exactly.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from elftools.common.exceptions import DWARFError

from lineprobe.symbolization.frame import SourceFrame
from lineprobe.symbolization.index_cache import IndexCache, UnitPack
from lineprobe.symbolization.pyelftools_decoder import (
    PyelftoolsDecoder,
    attr_str,
    file_names,
    join_path,
    truncated_lines_problem,
)
from lineprobe.symbolization.unit_index import UnitIndex, frames_in_units, has_checksums

if TYPE_CHECKING:
    from lineprobe.symbolization.dwarf_accel import AcceleratedDwarf, Library


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
        self._decoder_value: PyelftoolsDecoder | None = None
        self._checksums: dict[str, str] = {}  # source path -> MD5, from the units decoded so far
        self._checksums_pending: list[UnitIndex] = []  # units loaded since checksum() last looked
        self.display_path = display_path
        self.problems: list[str] = []
        self._units: dict[int, UnitIndex | None] = {}
        # The CUs' address ranges, sorted by low: lists when built here, views of the cache's file.
        self._cu_lows: Sequence[int] = []
        self._cu_highs: Sequence[int] = []
        self._cu_units: Sequence[int] = []  # each range's CU offset
        # Only a build-id says which bytes were decoded: without one, nothing is kept on disk.
        self._cache = cache if build_id else None
        self._build_id = build_id or ""
        self._pack: UnitPack | None = None
        self._pack_tried = False
        self._unsaved: dict[int, UnitIndex] = {}  # decoded here, cleanly, and not yet on disk
        cached = self._cache.load_ranges(self._build_id) if self._cache else None
        if cached is not None:
            # Saved sorted: a damaged file gives wrong CUs (decoded, then found wanting), never a hang.
            self._cu_lows, self._cu_highs, self._cu_units = cached
        else:
            self._build_cu_ranges()
            if self._cache is not None:
                self._cache.save_ranges(self._build_id, self._cu_lows, self._cu_highs, self._cu_units)

    @property
    def _info(self) -> Any:
        if self._info_value is None:
            self._info_value = self._load_info()
        return self._info_value

    @property
    def _decoder(self) -> PyelftoolsDecoder:
        if self._decoder_value is None:
            self._decoder_value = PyelftoolsDecoder(self._info, self.display_path, self.problems)
        return self._decoder_value

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
                for low, high in self._decoder.die_ranges(cu.get_top_DIE(), cu):
                    ranges.append((low, high, cu.cu_offset))
        ranges.sort()
        self._cu_lows = [r[0] for r in ranges]
        self._cu_highs = [r[1] for r in ranges]
        self._cu_units = [r[2] for r in ranges]

    def _cu_offset_for(self, address: int) -> int | None:
        lows, highs = self._cu_lows, self._cu_highs
        i = bisect.bisect_right(lows, address) - 1
        # Ranges of different CUs do not overlap, but one CU may have many.
        while i >= 0:
            low, high = lows[i], highs[i]
            if low <= address < high:
                return self._cu_units[i]
            if high <= address and i > 0 and highs[i - 1] <= low:
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
        unit = None
        if self._cache is not None:
            if not self._pack_tried:
                self._pack_tried = True
                self._pack = self._cache.load_pack(self._build_id)
            unit = self._cache.load_unit(self._build_id, offset, self._pack)
        if unit is None:
            from lineprobe.symbolization.elf_image import PARSE_ERRORS

            problems_before = len(self.problems)
            try:
                unit = self._decode_accelerated(offset) if self.accelerated else self._decoder.decode(offset)
                if self._cache is not None and unit is not None and len(self.problems) == problems_before:
                    self._unsaved[offset] = unit
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
            claimed = raw.line_claimed_end
            self.problems.append(
                truncated_lines_problem(self.display_path, offset, claimed, len(line_section))
            )
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
            files = file_names(raw.line_version, directories, entries, comp_dir)
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

    def save(self) -> None:
        """Write the units decoded since the last save to the on-disk cache.

        Kept until now, not written one by one, so that a run decoding hundreds of
        units writes them once, into the pack, rather than once each and again.
        """
        if self._cache is not None and self._unsaved:
            self._cache.save_units(self._build_id, self._unsaved)
        self._unsaved = {}

    # -- public lookups -------------------------------------------------------------------

    def frames(self, address: int, binary: str) -> list[SourceFrame] | None:
        """The source frames at ``address``, innermost first; None if no CU covers it."""
        unit = self.unit_for(address)
        if unit is None:
            return None
        return unit.frames(address, binary)

    def frames_many(self, addresses: list[int], binary: str) -> list[list[SourceFrame] | None]:
        """``frames`` for a batch, every unit's searches in one accelerator call.

        Addresses go in ascending order: neighbours share a unit and the pages of its
        arrays that the searches read.
        """
        units: list[UnitIndex] = []
        numbers: dict[int, int] = {}  # unit offset -> its place in ``units``
        unit_of: array[int] = array("I")
        routed: list[int] = []  # positions in ``addresses``, in the order looked up
        for position in sorted(range(len(addresses)), key=addresses.__getitem__):
            offset = self._cu_offset_for(addresses[position])
            if offset is None:
                continue
            number = numbers.get(offset)
            if number is None:
                unit = self.unit_at(offset)
                number = numbers[offset] = len(units) if unit is not None else -1
                if unit is not None:
                    units.append(unit)
            if number >= 0:
                unit_of.append(number)
                routed.append(position)
        found = frames_in_units(
            units, unit_of, [addresses[p] for p in routed], binary, self._lookup_library()
        )
        result: list[list[SourceFrame] | None] = [None] * len(addresses)
        for position, frames in zip(routed, found, strict=True):
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
            if has_checksums(unit):
                for index, checksum in enumerate(unit.checksums):
                    file = unit.file(index)
                    if checksum and file is not None:
                        self._checksums.setdefault(file, checksum)
        return self._checksums.get(path)

    def units(self) -> Iterator[UnitIndex]:
        """Every unit that decodes, in .debug_info's order (decoded on the way, then cached)."""
        for cu in self._info.iter_CUs():
            unit = self.unit_at(cu.cu_offset)
            if unit is not None:
                yield unit

    def functions_by_file(self) -> dict[str, list[tuple[str, int]]]:
        """Every out-of-line function with a declaration line, grouped by source file.

        Walks all CUs: meant for the program's own binaries (small), to place
        code lenses on functions before any sample exists.
        """
        result: dict[str, list[tuple[str, int]]] = {}
        for unit in self.units():
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
            name = attr_str(top, "DW_AT_name")
            if name:
                paths.add(join_path(attr_str(top, "DW_AT_comp_dir"), name))
        return paths
