"""The optional C accelerator for DWARF decoding (dwarf_accel.c), through ctypes.

pyelftools decodes line tables at 12-17 us a row and walks a compilation
unit's DIEs in 0.1-0.3 s: a library like libjvm (6 million rows, 1,071 units)
takes minutes, against about 10 s for llvm-symbolizer. The accelerator decodes
one unit into exactly the arrays the pure-Python path builds
(``tests/unit/test_dwarf_accel.py`` compares every unit of several binaries);
pyelftools still opens the ELF file, inflates compressed sections and reads
``.debug_aranges``.

It is built by ``make accel`` next to this file. Without it, or with
``LINEPROBE_DWARF_ACCEL=0``, decoding falls back to pyelftools. Only
little-endian 64-bit files go through it.
"""

from __future__ import annotations

import ctypes
import os
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lineprobe.symbolization.unit_index import UnitIndex

LIBRARY = Path(__file__).with_name("liblineprobe_dwarf.so")

REF_NONE, REF_STR, REF_LINE_STR, REF_INFO, REF_LINE = range(5)

_SECTIONS = (
    "debug_info_sec",
    "debug_abbrev_sec",
    "debug_line_sec",
    "debug_str_sec",
    "debug_line_str_sec",
    "debug_addr_sec",
    "debug_ranges_sec",
    "debug_rnglists_sec",
    "debug_str_offsets_sec",
)


class _Buf(ctypes.Structure):
    _fields_ = [("p", ctypes.c_void_p), ("n", ctypes.c_uint64)]


_P8 = ctypes.POINTER(ctypes.c_uint8)
_P16 = ctypes.POINTER(ctypes.c_uint16)
_P64 = ctypes.POINTER(ctypes.c_uint64)
_PI64 = ctypes.POINTER(ctypes.c_int64)


class _Unit(ctypes.Structure):
    """Mirror of ``lp_unit`` in dwarf_accel.c (same order, same types)."""

    _fields_ = [
        ("version", ctypes.c_int),
        ("address_size", ctypes.c_int),
        ("unit_name_kind", ctypes.c_int),
        ("unit_name_off", ctypes.c_uint64),
        ("comp_dir_kind", ctypes.c_int),
        ("comp_dir_off", ctypes.c_uint64),
        ("has_line_program", ctypes.c_int),
        ("line_claimed_end", ctypes.c_uint64),
        ("line_version", ctypes.c_int),
        ("n_dirs", ctypes.c_uint64),
        ("dir_kind", _P8),
        ("dir_off", _P64),
        ("n_files", ctypes.c_uint64),
        ("file_kind", _P8),
        ("file_off", _P64),
        ("file_dir", _P64),
        ("file_md5", _P8),
        ("file_has_md5", _P8),
        ("n_rows", ctypes.c_uint64),
        ("row_address", _P64),
        ("row_file", _P64),
        ("row_line", _PI64),
        ("row_column", _P64),
        ("row_end_sequence", _P8),
        ("n_scopes", ctypes.c_uint64),
        ("scope_die", _P64),
        ("scope_depth", _P16),
        ("scope_inlined", _P8),
        ("scope_name", _PI64),
        ("scope_decl_file", _PI64),
        ("scope_decl_line", _PI64),
        ("scope_call_file", _PI64),
        ("scope_call_line", _PI64),
        ("n_names", ctypes.c_uint64),
        ("names_kind", _P8),
        ("names_off", _P64),
        ("n_ranges", ctypes.c_uint64),
        ("range_low", _P64),
        ("range_high", _P64),
        ("range_scope", _P64),
        ("range_parent", _PI64),
        ("line_error", ctypes.c_char * 200),
        ("scope_error", ctypes.c_char * 200),
    ]


_ROW_POINTERS = ("row_address", "row_file", "row_line", "row_column", "row_end_sequence")
_SCOPE_POINTERS = (
    "scope_name",
    "scope_inlined",
    "scope_decl_file",
    "scope_decl_line",
    "scope_call_file",
    "scope_call_line",
)
_RANGE_POINTERS = ("range_low", "range_high", "range_scope", "range_parent")
VIEW_WORDS = 22
"""Words per unit in lp_frames' ``units`` (LP_VIEW_WORDS): see ``Library.unit_view``."""


class _PyBuffer(ctypes.Structure):
    """CPython's ``Py_buffer`` (the buffer protocol's view), enough of it to read ``buf``."""

    _fields_ = [
        ("buf", ctypes.c_void_p),
        ("obj", ctypes.py_object),
        ("len", ctypes.c_ssize_t),
        ("itemsize", ctypes.c_ssize_t),
        ("readonly", ctypes.c_int),
        ("ndim", ctypes.c_int),
        ("format", ctypes.c_char_p),
        ("shape", ctypes.c_void_p),
        ("strides", ctypes.c_void_p),
        ("suboffsets", ctypes.c_void_p),
        ("internal", ctypes.c_void_p),
    ]


_PYBUF_ND_FORMAT = 0x0008 | 0x0004  # PyBUF_ND | PyBUF_FORMAT: contiguous and typed; read-only is fine


@dataclass(frozen=True)
class Library:
    """The loaded shared object with its function signatures set."""

    dll: Any
    get_buffer: Any = None
    """CPython's PyObject_GetBuffer and PyBuffer_Release, typed once, for arrays' addresses."""
    release_buffer: Any = None

    @classmethod
    def load(cls) -> Library | None:
        if os.environ.get("LINEPROBE_DWARF_ACCEL", "1") == "0" or not LIBRARY.is_file():
            return None
        try:
            dll = ctypes.CDLL(str(LIBRARY))
        except OSError:
            return None
        if dll.lp_unit_size() != ctypes.sizeof(_Unit):
            return None  # built from another version of dwarf_accel.c
        dll.lp_open.restype = ctypes.c_void_p
        dll.lp_open.argtypes = [ctypes.POINTER(_Buf)]
        dll.lp_close.argtypes = [ctypes.c_void_p]
        dll.lp_decode_unit.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.POINTER(_Unit)]
        dll.lp_free_unit.argtypes = [ctypes.POINTER(_Unit)]
        try:
            frames, view_words = dll.lp_frames, dll.lp_view_words
        except AttributeError:
            return None  # built from an older dwarf_accel.c
        frames.restype = ctypes.c_uint64
        pointer, count = ctypes.c_void_p, ctypes.c_uint64
        frames.argtypes = [pointer, count, pointer, pointer, count, ctypes.c_uint32]
        frames.argtypes += [pointer, pointer, count, pointer, ctypes.POINTER(ctypes.c_uint64)]
        view_words.restype = ctypes.c_uint64
        if view_words() != VIEW_WORDS:
            return None
        get_buffer = ctypes.PYFUNCTYPE(
            ctypes.c_int, ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int
        )
        release_buffer = ctypes.PYFUNCTYPE(None, ctypes.POINTER(_PyBuffer))
        return cls(
            dll,
            get_buffer(("PyObject_GetBuffer", ctypes.pythonapi)),
            release_buffer(("PyBuffer_Release", ctypes.pythonapi)),
        )

    def address_of(self, values: Any) -> int | bool | None:
        """Where an array's items start in memory (None when empty), or False when C cannot have it.

        The cache's arrays are read-only views of a mapped file, and ctypes' ``from_buffer``
        wants a writable buffer: the address comes from the buffer protocol itself. The view,
        kept by the caller, keeps the mapping alive while C reads it.
        """
        if len(values) == 0:
            return None
        if isinstance(values, array):
            return int(values.buffer_info()[0])
        view = _PyBuffer()
        try:
            if self.get_buffer(values, ctypes.byref(view), _PYBUF_ND_FORMAT) != 0:
                return False
        except (TypeError, ValueError, BufferError):
            return False
        try:
            return int(view.buf) if view.buf else False
        finally:
            self.release_buffer(ctypes.byref(view))

    def unit_view(self, unit: UnitIndex, name_base: int, file_base: int) -> list[int] | None:
        """lp_unit_view's words for one unit: where its arrays are and how long, then where its
        names and files start in the batch's numbering. None when an array cannot be handed to C.

        A unit mapped from the cache knows where each array lies in its entry: one buffer
        query for the entry then gives them all (a query each costs more than the lookups).
        """
        arrays = unit.arrays
        located = unit.layout
        if located is not None:
            entry, positions = located
            base = self.address_of(entry)
            if not base:
                return None
            where = [base + positions[name] for name in (*_ROW_POINTERS, *_SCOPE_POINTERS, *_RANGE_POINTERS)]
        else:
            where = []
            for name in (*_ROW_POINTERS, *_SCOPE_POINTERS, *_RANGE_POINTERS):
                address = self.address_of(arrays[name])
                if address is False:
                    return None
                where.append(address or 0)
        return [
            *where[0:5],
            len(arrays["row_address"]),
            *where[5:11],
            len(arrays["scope_name"]),
            *where[11:15],
            len(arrays["range_low"]),
            name_base,
            len(unit.names),
            file_base,
            len(unit.files),
        ]

    def frames(
        self, views: array[int], unit_of: array[int], addresses: array[int], capacity: int = 0
    ) -> tuple[list[int], array[int]]:
        """For a batch of addresses, ``addresses[i]`` in the unit of ``views`` numbered
        ``unit_of[i]``: the frame records of all of them, ``FRAME_FIELDS`` integers each (see
        ``lp_frames`` in dwarf_accel.c), and how many records each address has (``REDO``: look
        it up in Python). ``capacity``: records of room to start with (the tests start tiny,
        to make it grow)."""
        n = len(addresses)
        counts = array("I", bytes(4 * n))
        chain = array("q", bytes(8 * MAX_CHAIN))
        used = ctypes.c_uint64()
        records: list[int] = []
        done = 0
        # Inline chains in a C++ library average about 3 frames; the room doubles when short.
        capacity = capacity or max(4 * n, MAX_CHAIN)
        while done < n:
            out = array("q", bytes(8 * FRAME_FIELDS * capacity))
            done += self.dll.lp_frames(
                views.buffer_info()[0],
                len(views) // VIEW_WORDS,
                unit_of.buffer_info()[0] + 4 * done,
                addresses.buffer_info()[0] + 8 * done,
                n - done,
                MAX_CHAIN,
                chain.buffer_info()[0],
                out.buffer_info()[0],
                capacity,
                counts.buffer_info()[0] + 4 * done,
                ctypes.byref(used),
            )
            records += out[: used.value * FRAME_FIELDS].tolist()
            capacity *= 2
        return records, counts


MAX_CHAIN = 128
"""Scopes around one address the batch lookup reports (as LP_REDO says to the caller, a chain
that fills them is looked up again in Python)."""
FRAME_FIELDS = 7
"""Integers per frame record (LP_FRAME_FIELDS)."""
NONE = -(1 << 63)
"""An absent line in a frame record (LP_NONE)."""
REDO = 0xFFFFFFFF
"""A count saying the chain filled ``MAX_CHAIN`` scopes (LP_REDO)."""


def accelerator_status() -> str:
    """Whether DWARF is decoded by the accelerator, in words for ``lineprobe capabilities``."""
    if os.environ.get("LINEPROBE_DWARF_ACCEL", "1") == "0":
        return "pyelftools only (LINEPROBE_DWARF_ACCEL=0)"
    if not LIBRARY.is_file():
        return (
            f"pyelftools only: {LIBRARY.name} was not built (no C compiler at install); the same "
            "answers, slower on large binaries. Install gcc and reinstall lineprobe "
            "(make accel in a checkout)"
        )
    if Library.load() is None:
        return f"pyelftools only: {LIBRARY} does not load or is of another version; rebuild it"
    return f"the C accelerator ({LIBRARY})"


def _array(typecode: str, pointer: Any, count: int, itemsize: int) -> array[int]:
    out: array[int] = array(typecode)
    if count and pointer:
        out.frombytes(ctypes.string_at(pointer, count * itemsize))
    return out


@dataclass
class RawUnit:
    """One unit as the accelerator decoded it; strings are still (kind, offset) references."""

    name: tuple[int, int]
    comp_dir: tuple[int, int]
    has_line_program: bool
    line_claimed_end: int
    line_version: int
    directories: list[tuple[int, int]]
    files: list[tuple[int, int, int]]  # (kind, offset, directory index)
    checksums: list[str | None]  # each file's DW_LNCT_MD5, hex
    arrays: dict[str, array[int]]
    names: list[tuple[int, int]]
    line_error: str
    scope_error: str


class AcceleratedDwarf:
    """The accelerator's view of one file's DWARF sections (pyelftools' inflated copies)."""

    def __init__(self, library: Library, info: Any) -> None:
        self._library = library
        self._views: list[memoryview] = []
        self.sections: dict[str, memoryview | None] = {}
        bufs = (_Buf * len(_SECTIONS))()
        for index, name in enumerate(_SECTIONS):
            section = getattr(info, name, None)
            view = section.stream.getbuffer() if section is not None else None
            self.sections[name] = view
            if view is not None and len(view):
                self._views.append(view)
                # The memoryview pins the BytesIO's buffer for as long as this object lives.
                bufs[index].p = ctypes.addressof(ctypes.c_char.from_buffer(view))
                bufs[index].n = len(view)
        # The string sections as bytes (one copy each): bytes.find scans for the NUL in C.
        self._string_tables: dict[int, bytes] = {}
        for kind, name in ((REF_STR, "debug_str_sec"), (REF_LINE_STR, "debug_line_str_sec")):
            view = self.sections.get(name)
            if view is not None:
                self._string_tables[kind] = view.tobytes()
        self._ctx = library.dll.lp_open(bufs)
        if not self._ctx:
            raise MemoryError("DWARF accelerator could not start")

    def close(self) -> None:
        if self._ctx:
            self._library.dll.lp_close(self._ctx)
            self._ctx = None
        for view in self._views:
            view.release()
        self._views = []

    def __del__(self) -> None:
        self.close()

    def string(self, kind: int, offset: int) -> str | None:
        """The NUL-terminated string a (kind, offset) reference names, None if it is outside its section."""
        tables = self._string_tables
        if kind in tables:
            data = tables[kind]
            if offset >= len(data):
                return None
            end = data.find(b"\0", offset)
            return data[offset : end if end >= 0 else len(data)].decode("utf-8", errors="replace")
        section = {REF_INFO: "debug_info_sec", REF_LINE: "debug_line_sec"}.get(kind)
        view = self.sections.get(section) if section else None
        if view is None or offset >= len(view):
            return None
        # A string inside .debug_info or .debug_line (DW_FORM_string): rare, and short.
        chunk = bytes(view[offset : offset + 256])
        end = chunk.find(b"\0")
        raw = chunk[:end] if end >= 0 else _long_string(view, offset)
        return raw.decode("utf-8", errors="replace")

    def decode_unit(self, cu_offset: int) -> RawUnit | None:
        unit = _Unit()
        if not self._library.dll.lp_decode_unit(self._ctx, cu_offset, ctypes.byref(unit)):
            return None
        try:
            arrays = {
                "row_address": _array("Q", unit.row_address, unit.n_rows, 8),
                "row_file": _array("Q", unit.row_file, unit.n_rows, 8),
                "row_line": _array("q", unit.row_line, unit.n_rows, 8),
                "row_column": _array("Q", unit.row_column, unit.n_rows, 8),
                "row_end_sequence": _array("B", unit.row_end_sequence, unit.n_rows, 1),
                "scope_die": _array("Q", unit.scope_die, unit.n_scopes, 8),
                "scope_depth": _array("H", unit.scope_depth, unit.n_scopes, 2),
                "scope_inlined": _array("B", unit.scope_inlined, unit.n_scopes, 1),
                "scope_name": _array("q", unit.scope_name, unit.n_scopes, 8),
                "scope_decl_file": _array("q", unit.scope_decl_file, unit.n_scopes, 8),
                "scope_decl_line": _array("q", unit.scope_decl_line, unit.n_scopes, 8),
                "scope_call_file": _array("q", unit.scope_call_file, unit.n_scopes, 8),
                "scope_call_line": _array("q", unit.scope_call_line, unit.n_scopes, 8),
                "range_low": _array("Q", unit.range_low, unit.n_ranges, 8),
                "range_high": _array("Q", unit.range_high, unit.n_ranges, 8),
                "range_scope": _array("Q", unit.range_scope, unit.n_ranges, 8),
                "range_parent": _array("q", unit.range_parent, unit.n_ranges, 8),
            }
            # Whole arrays through string_at: indexing a ctypes pointer costs a call per item.
            dir_kinds = _array("B", unit.dir_kind, unit.n_dirs, 1)
            dirs = list(zip(dir_kinds, _array("Q", unit.dir_off, unit.n_dirs, 8), strict=True))
            file_kinds = _array("B", unit.file_kind, unit.n_files, 1)
            file_offsets = _array("Q", unit.file_off, unit.n_files, 8)
            file_dirs = _array("Q", unit.file_dir, unit.n_files, 8)
            files = list(zip(file_kinds, file_offsets, file_dirs, strict=True))
            md5 = ctypes.string_at(unit.file_md5, 16 * unit.n_files) if unit.n_files else b""
            has_md5 = _array("B", unit.file_has_md5, unit.n_files, 1)
            checksums = [md5[16 * i : 16 * i + 16].hex() if has else None for i, has in enumerate(has_md5)]
            name_kinds = _array("B", unit.names_kind, unit.n_names, 1)
            names = list(zip(name_kinds, _array("Q", unit.names_off, unit.n_names, 8), strict=True))
            return RawUnit(
                name=(unit.unit_name_kind, unit.unit_name_off),
                comp_dir=(unit.comp_dir_kind, unit.comp_dir_off),
                has_line_program=bool(unit.has_line_program),
                line_claimed_end=unit.line_claimed_end,
                line_version=unit.line_version,
                directories=dirs,
                files=files,
                checksums=checksums,
                arrays=arrays,
                names=names,
                line_error=unit.line_error.decode("utf-8", errors="replace"),
                scope_error=unit.scope_error.decode("utf-8", errors="replace"),
            )
        finally:
            self._library.dll.lp_free_unit(ctypes.byref(unit))


def _long_string(view: memoryview, offset: int) -> bytes:
    data = bytes(view[offset:])
    end = data.find(b"\0")
    return data[:end] if end >= 0 else data
