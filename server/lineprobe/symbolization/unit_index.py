"""One compilation unit's decoded DWARF as flat arrays, and the lookups over them.

The arrays come from either decoder (the C accelerator or pyelftools) or are
views of a file mapped from the on-disk cache; lookups treat all three alike.
Names follow the DWARF 5 specification: a *line table row* is a row of the
matrix of section 6.2, a *scope* is a DW_TAG_subprogram or
DW_TAG_inlined_subroutine DIE with its address ranges (section 2.17).
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import TYPE_CHECKING, TypeAlias, cast

from lineprobe.symbolization.frame import INLINED, NATIVE, SourceFrame

if TYPE_CHECKING:
    from lineprobe.symbolization.dwarf_accel import Library

_UNREAD = object()

ScopeInfo: TypeAlias = "tuple[str | None, bool, str | None, int | None, str | None, int | None]"
"""(function, inlined, declaration file, declaration line, call file, call line)."""

# As in dwarf_accel (kept apart so that importing this module never loads ctypes).
FRAME_FIELDS = 7
NONE = -(1 << 63)
REDO = 0xFFFFFFFF
_KIND_OF_INLINED = (NATIVE, INLINED)
"""A frame record's inlined flag (0 or 1, lp_frames) as the frame's kind."""


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
    layout: tuple[memoryview, Mapping[str, int]] | None = None
    """For arrays mapped from the cache: the entry they are views of, and where each begins in
    it (bytes), so that the accelerator finds them all with one buffer query."""
    file: Callable[[int], str | None] = field(init=False, repr=False, compare=False)
    """The path of a file number, None when out of range."""
    function: Callable[[int], str | None] = field(init=False, repr=False, compare=False)
    """The function name at an index of ``names``, None when out of range."""

    _scopes: dict[int, ScopeInfo | None] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.file = _getter(self.files)
        self.function = _getter(self.names)
        self._scope_arrays: tuple[IntArray, ...] = ()  # read on the first Python scope lookup

    def _scope(self, scope: int) -> ScopeInfo | None:
        """A scope's name, inlined flag, declaration and call site, read from the arrays once."""
        known = self._scopes.get(scope, _UNREAD)
        if known is not _UNREAD:
            return known  # type: ignore[return-value]
        if not self._scope_arrays:
            a = self.arrays
            fields = ("scope_name", "scope_inlined", "scope_decl_file", "scope_decl_line")
            self._scope_arrays = tuple(a[f] for f in (*fields, "scope_call_file", "scope_call_line"))
        names, inlined, decl_files, decl_lines, call_files, call_lines = self._scope_arrays
        info = None
        if 0 <= scope < len(names):
            decl_line = decl_lines[scope]
            call_line = call_lines[scope]
            info = (
                self.function(names[scope]),
                bool(inlined[scope]),
                self.file(decl_files[scope]),
                decl_line if decl_line >= 0 else None,
                self.file(call_files[scope]),
                call_line if call_line >= 0 else None,
            )
        self._scopes[scope] = info
        return info

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
        """``frames`` for each address; the accelerator, when given, builds the frames' records."""
        return frames_in_units([self], array("I", bytes(4 * len(addresses))), addresses, binary, library)

    def frames_of(
        self, row: tuple[str | None, int, int] | None, chain: list[int], binary: str
    ) -> list[SourceFrame]:
        """The inline chain from a line-table row and the scopes around it (innermost first)."""
        path, line, column = row if row is not None else (None, None, None)
        if not chain:
            return [SourceFrame(None, path, line, column or None, NATIVE, binary)]
        frames: list[SourceFrame] = []
        scope_of = self._scope
        # Innermost scope first: its body holds the line-table row; each inlined
        # scope's call site is the line in the scope that contains it.
        for scope in chain:
            known = scope_of(scope)
            if known is None:
                break  # only a damaged cache file names a scope that is not there
            function, inlined, decl_path, decl_line, call_path, call_line = known
            # Positional: half the cost of keywords, and a deep inline chain makes many frames.
            frames.append(
                SourceFrame(
                    function,
                    path,
                    line,
                    column or None,
                    INLINED if inlined else NATIVE,
                    binary,
                    decl_path,
                    decl_line,
                )
            )
            if not inlined:
                break
            path, line, column = call_path, call_line, None
        return frames


def frames_in_units(
    units: Sequence[UnitIndex],
    unit_of: array[int],
    addresses: list[int],
    binary: str,
    library: Library | None,
    capacity: int = 0,
) -> list[list[SourceFrame]]:
    """``units[unit_of[i]].frames(addresses[i], binary)`` for each address.

    With the accelerator, one C call builds every frame's record for the whole batch, and
    the frames are made column by column, each column in one C-level pass: a record's
    names and paths are numbers, and a batch names few distinct ones, each decoded once.
    ``capacity`` is passed on to ``Library.frames`` (for tests).
    """
    if library is None:
        return [units[u].frames(address, binary) for u, address in zip(unit_of, addresses, strict=True)]
    views: array[int] = array("Q")
    name_bases, file_bases = [], []
    name_base = file_base = 0
    for unit in units:
        view = library.unit_view(unit, name_base, file_base)
        if view is None:  # an array C cannot have: this batch is looked up in Python
            return frames_in_units(units, unit_of, addresses, binary, None)
        views.extend(view)
        name_bases.append(name_base)
        file_bases.append(file_base)
        name_base += len(unit.names)
        file_base += len(unit.files)
    records, counts = library.frames(views, unit_of, array("Q", addresses), capacity)

    names, paths, decl_paths = records[0::FRAME_FIELDS], records[1::FRAME_FIELDS], records[5::FRAME_FIELDS]
    functions = _numbered(units, name_bases, set(names), lambda unit: unit.function)
    files = _numbered(units, file_bases, {*paths, *decl_paths}, lambda unit: unit.file)
    columns = zip(
        map(functions.__getitem__, names),
        map(files.__getitem__, paths),
        [None if line == NONE else line for line in records[2::FRAME_FIELDS]],
        [(c if c >= 0 else c + (1 << 64)) or None for c in records[3::FRAME_FIELDS]],
        map(_KIND_OF_INLINED.__getitem__, records[4::FRAME_FIELDS]),
        repeat(binary),
        map(files.__getitem__, decl_paths),
        [None if line == NONE else line for line in records[6::FRAME_FIELDS]],
    )
    # tuple.__new__ on each row: a SourceFrame without the named tuple's Python-level __new__.
    made: list[SourceFrame] = list(map(tuple.__new__, repeat(SourceFrame), columns))
    result = []
    start = 0
    for u, address, count in zip(unit_of, addresses, counts, strict=True):
        if count == REDO:  # possibly cut short: the Python walk has no limit
            result.append(units[u].frames(address, binary))
        else:
            result.append(made[start : start + count])
            start += count
    return result


def _numbered(
    units: Sequence[UnitIndex],
    bases: list[int],
    numbers: set[int],
    strings: Callable[[UnitIndex], Callable[[int], str | None]],
) -> dict[int, str | None]:
    """The strings batch-wide numbers stand for (see lp_frames), each read from its unit:
    in ascending order, the units are walked once."""
    found: dict[int, str | None] = {}
    u, string = -1, None
    for number in sorted(numbers):
        if number < 0:
            found[number] = None
            continue
        while u + 1 < len(bases) and bases[u + 1] <= number:
            u += 1
            string = None
        if string is None:
            string = strings(units[u])
        found[number] = string(number - bases[u])
    return found


def has_checksums(unit: UnitIndex) -> bool:
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
