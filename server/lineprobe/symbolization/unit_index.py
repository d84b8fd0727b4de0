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
from itertools import islice
from typing import TYPE_CHECKING, TypeAlias, cast

from lineprobe.symbolization.frame import SourceFrame

if TYPE_CHECKING:
    from lineprobe.symbolization.dwarf_accel import Library

_UNREAD = object()

ScopeInfo: TypeAlias = "tuple[str | None, bool, str | None, int | None, str | None, int | None]"
"""(function, inlined, declaration file, declaration line, call file, call line)."""

# As in dwarf_accel (kept apart so that importing this module never loads ctypes).
MAX_CHAIN = 128
FRAME_FIELDS = 7
NONE = -(1 << 63)
REDO = 0xFFFFFFFF


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

    _scopes: dict[int, tuple[str | None, bool, str | None, int | None, str | None, int | None] | None] = (
        field(init=False, repr=False, compare=False, default_factory=dict)
    )

    def __post_init__(self) -> None:
        self.file = _getter(self.files)
        self.function = _getter(self.names)
        a = self.arrays
        fields = ("scope_name", "scope_inlined", "scope_decl_file", "scope_decl_line")
        self._scope_arrays = tuple(a[f] for f in (*fields, "scope_call_file", "scope_call_line"))

    def _scope(
        self, scope: int
    ) -> tuple[str | None, bool, str | None, int | None, str | None, int | None] | None:
        """A scope's name, inlined flag, declaration and call site, read from the arrays once."""
        known = self._scopes.get(scope, _UNREAD)
        if known is not _UNREAD:
            return known  # type: ignore[return-value]
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
        found = library.frames(self.arrays, addresses) if library is not None else None
        if found is None:
            return [self.frames(address, binary) for address in addresses]
        records, counts = found
        function, file = self.function, self.file
        # One tuple of FRAME_FIELDS per frame, taken in order: zip over one iterator groups them.
        grouped = zip(*[iter(records)] * FRAME_FIELDS, strict=True)
        result = []
        for address, count in zip(addresses, counts, strict=True):
            if count == REDO:  # possibly cut short: the Python walk has no limit
                result.append(self.frames(address, binary))
                continue
            result.append(
                [
                    SourceFrame(
                        function(name),
                        file(path),
                        None if line == NONE else line,
                        (column if column >= 0 else column + (1 << 64)) or None,
                        inlined == 1,
                        binary,
                        file(decl_path),
                        None if decl_line == NONE else decl_line,
                    )
                    for name, path, line, column, inlined, decl_path, decl_line in islice(grouped, count)
                ]
            )
        return result

    def frames_of(
        self, row: tuple[str | None, int, int] | None, chain: list[int], binary: str
    ) -> list[SourceFrame]:
        """The inline chain from a line-table row and the scopes around it (innermost first)."""
        path, line, column = row if row is not None else (None, None, None)
        if not chain:
            return [SourceFrame(None, path, line, column or None, False, binary)]
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
                SourceFrame(function, path, line, column or None, inlined, binary, decl_path, decl_line)
            )
            if not inlined:
                break
            path, line, column = call_path, call_line, None
        return frames


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
