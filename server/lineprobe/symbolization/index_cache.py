"""Decoded DWARF kept on disk, per GNU build-id, so a binary is decoded once per machine.

A build-id names the exact bytes the linker produced, so what was decoded
from one file holds for every copy of it: the compilation units' address
ranges, and each compilation unit's line table and scopes once a lookup has
needed them.

Each entry is one file: a small JSON header (strings, and where each array
lies) followed by the raw arrays, 8-byte aligned, in this machine's byte
order. Loading maps the file and views the arrays in place (``mmap`` and
``memoryview.cast``): no decoding, and only the pages a lookup touches are
read, which is what makes a warm start on a library like libjvm (100 MB of
index) take a fraction of a second. Files are written to a temporary name
and renamed, so concurrent readers (the CLI and a language server) never see
half a file; anything unreadable or from another layout is ignored and
decoded again.

The folder is ``$LINEPROBE_CACHE_DIR``, else ``$XDG_CACHE_HOME/lineprobe``,
else ``~/.cache/lineprobe``; ``FORMAT`` changes whenever the layout does.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import re
import struct
import sys
import tempfile
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

from lineprobe.symbolization.unit_index import ARRAY_FIELDS, UnitIndex

FORMAT = "dwarf-v4"
MAGIC = b"LPIX"
_HEADER = struct.Struct("<4sI")
_MAP_FLAGS = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
_BUILD_ID = re.compile(r"^[0-9a-f]{8,128}$")
_PARALLEL_ARRAYS = (
    ("row_address", "row_file", "row_line", "row_column", "row_end_sequence"),
    ("range_low", "range_high", "range_scope", "range_parent"),
    (
        "scope_die",
        "scope_depth",
        "scope_inlined",
        "scope_name",
        "scope_decl_file",
        "scope_decl_line",
        "scope_call_file",
        "scope_call_line",
    ),
)
_ITEMSIZE = {code: array(code).itemsize for code in "BHIQiq"}
_RANGE_ARRAYS = {"low": "Q", "high": "Q", "unit": "Q"}
_SYMBOL_ARRAYS = {"start": "Q", "end": "Q"}
_STRING_ARRAYS = {
    "names_blob": "B",
    "names_offsets": "Q",
    "files_blob": "B",
    "files_offsets": "Q",
    "md5_blob": "B",
    "md5_offsets": "Q",
}


class StringTable(Sequence[str | None]):
    """Strings kept as UTF-8 in one mapped blob, decoded one at a time when a lookup asks.

    A unit of a C++ library names thousands of functions and headers; a
    lookup needs a few of them. ``offsets`` has one more entry than there are
    strings; an empty string stands for an absent one (a path is never empty).
    """

    def __init__(self, blob: memoryview, offsets: memoryview) -> None:
        self._blob = blob
        self._offsets = offsets
        self._count = len(offsets) - 1
        self._decoded: dict[int, str | None] = {}

    def get(self, index: int) -> str | None:
        """The string at ``index``, None when absent or out of range (lookups' fast path)."""
        try:
            return self._decoded[index]
        except KeyError:
            pass
        value = None
        if 0 <= index < self._count:
            start, end = self._offsets[index], self._offsets[index + 1]
            if start < end:
                value = bytes(self._blob[start:end]).decode("utf-8", errors="replace")
        self._decoded[index] = value
        return value

    @staticmethod
    def build(strings: list[str]) -> tuple[array[int], array[int]]:
        encoded = [s.encode("utf-8", errors="replace") for s in strings]
        offsets = array("Q", [0])
        for item in encoded:
            offsets.append(offsets[-1] + len(item))
        return array("B", b"".join(encoded)), offsets

    def has_any(self) -> bool:
        """Whether any string is present (an absent one is stored empty)."""
        return self._count > 0 and self._offsets[-1] > 0

    def valid(self) -> bool:
        offsets = self._offsets
        return len(offsets) >= 1 and offsets[0] == 0 and offsets[-1] <= len(self._blob)

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> str | None: ...
    @overload
    def __getitem__(self, index: slice) -> list[str | None]: ...
    def __getitem__(self, index: int | slice) -> str | list[str | None] | None:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(index)
        return self.get(index)


def default_root() -> Path:
    explicit = os.environ.get("LINEPROBE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lineprobe"


def _aligned(n: int) -> int:
    return (n + 7) & ~7


def pack(meta: dict[str, Any], arrays: Mapping[str, array[int] | memoryview]) -> bytes:
    """One cache entry: the header, then each array's bytes at an 8-byte boundary."""
    layout = []
    blobs = []
    offset = 0
    for name, values in arrays.items():
        data = values.tobytes()
        typecode = values.typecode if isinstance(values, array) else values.format
        layout.append([name, typecode, len(values), offset])
        blobs.append(data + b"\0" * (_aligned(len(data)) - len(data)))
        offset += _aligned(len(data))
    header = json.dumps(
        {"byteorder": sys.byteorder, "meta": meta, "arrays": layout}, separators=(",", ":")
    ).encode()
    head = _HEADER.pack(MAGIC, len(header)) + header
    return head + b"\0" * (_aligned(len(head)) - len(head)) + b"".join(blobs)


def unpack(path: Path, typecodes: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, memoryview]] | None:
    """The header's metadata and the arrays (views into the mapped file), or None if unusable."""
    try:
        with open(path, "rb") as file:
            # MAP_POPULATE: one pass of read-ahead instead of a page fault per page a lookup touches.
            mapped = mmap.mmap(file.fileno(), 0, flags=_MAP_FLAGS, prot=mmap.PROT_READ)
    except (OSError, ValueError):  # missing, unreadable, or empty (mmap refuses length 0)
        return None
    try:
        if len(mapped) < _HEADER.size:
            return None
        magic, header_size = _HEADER.unpack_from(mapped)
        if magic != MAGIC or _HEADER.size + header_size > len(mapped):
            return None
        header = json.loads(mapped[_HEADER.size : _HEADER.size + header_size])
        if not isinstance(header, dict) or header.get("byteorder") != sys.byteorder:
            return None
        base = _aligned(_HEADER.size + header_size)
        view = memoryview(mapped)
        arrays: dict[str, memoryview] = {}
        for name, typecode, count, offset in header["arrays"]:
            if typecodes.get(name) != typecode or not isinstance(count, int) or not isinstance(offset, int):
                return None
            itemsize = _ITEMSIZE.get(typecode, 0)
            if not itemsize:
                return None
            start = base + offset
            if count < 0 or offset < 0 or start + count * itemsize > len(mapped):
                return None
            arrays[name] = view[start : start + count * itemsize].cast(typecode)
        if set(arrays) != set(typecodes):
            return None
        meta = header["meta"]
        return (meta, arrays) if isinstance(meta, dict) else None
    except (ValueError, TypeError, KeyError, struct.error, json.JSONDecodeError):
        return None


@dataclass
class IndexCache:
    root: Path

    @classmethod
    def default(cls) -> IndexCache:
        return cls(default_root())

    def _folder(self, build_id: str) -> Path | None:
        if not _BUILD_ID.match(build_id):
            return None  # never let a file's bytes choose a path
        return self.root / FORMAT / build_id[:2] / build_id[2:]

    def _write(self, path: Path, data: bytes) -> None:
        with contextlib.suppress(OSError):  # a read-only or full disk only costs speed
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                os.replace(temporary, path)
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)

    def load_ranges(self, build_id: str) -> list[tuple[int, int, int]] | None:
        folder = self._folder(build_id)
        loaded = unpack(folder / "units.lpix", _RANGE_ARRAYS) if folder else None
        if loaded is None:
            return None
        _, arrays = loaded
        return list(zip(arrays["low"], arrays["high"], arrays["unit"], strict=True))

    def save_ranges(self, build_id: str, ranges: list[tuple[int, int, int]]) -> None:
        folder = self._folder(build_id)
        if folder is not None:
            arrays = {
                "low": array("Q", (r[0] for r in ranges)),
                "high": array("Q", (r[1] for r in ranges)),
                "unit": array("Q", (r[2] for r in ranges)),
            }
            self._write(folder / "units.lpix", pack({}, arrays))

    def load_unit(self, build_id: str, offset: int) -> UnitIndex | None:
        folder = self._folder(build_id)
        loaded = (
            unpack(folder / f"unit-{offset:x}.lpix", {**ARRAY_FIELDS, **_STRING_ARRAYS}) if folder else None
        )
        if loaded is None:
            return None
        meta, arrays = loaded
        name, comp_dir = meta.get("name"), meta.get("comp_dir")
        if not ((name is None or isinstance(name, str)) and (comp_dir is None or isinstance(comp_dir, str))):
            return None
        # Arrays read side by side must be as long as each other: the accelerator's batch
        # lookup indexes one by the other's length.
        for group in _PARALLEL_ARRAYS:
            if len({len(arrays[name]) for name in group}) != 1:
                return None
        names = StringTable(arrays.pop("names_blob"), arrays.pop("names_offsets"))
        files = StringTable(arrays.pop("files_blob"), arrays.pop("files_offsets"))
        checksums = StringTable(arrays.pop("md5_blob"), arrays.pop("md5_offsets"))
        if not (names.valid() and files.valid() and checksums.valid()):
            return None
        return UnitIndex(name, comp_dir, files, names, arrays, checksums)

    def save_unit(self, build_id: str, offset: int, unit: UnitIndex) -> None:
        folder = self._folder(build_id)
        if folder is not None:
            names_blob, names_offsets = StringTable.build([n or "" for n in unit.names])
            files_blob, files_offsets = StringTable.build([f or "" for f in unit.files])
            md5_blob, md5_offsets = StringTable.build([c or "" for c in unit.checksums])
            arrays = {
                **unit.arrays,
                "names_blob": names_blob,
                "names_offsets": names_offsets,
                "files_blob": files_blob,
                "files_offsets": files_offsets,
                "md5_blob": md5_blob,
                "md5_offsets": md5_offsets,
            }
            meta = {"name": unit.name, "comp_dir": unit.comp_dir}
            self._write(folder / f"unit-{offset:x}.lpix", pack(meta, arrays))

    def load_symbols(self, build_id: str) -> tuple[memoryview, memoryview, list[str]] | None:
        """A file's function symbols (starts, ends, names), as ``save_symbols`` kept them."""
        folder = self._folder(build_id)
        loaded = unpack(folder / "symbols.lpix", _SYMBOL_ARRAYS) if folder else None
        if loaded is None:
            return None
        meta, arrays = loaded
        joined = meta.get("names")
        if not isinstance(joined, str):
            return None
        names = joined.split("\0") if joined else []
        if not len(names) == len(arrays["start"]) == len(arrays["end"]):
            return None
        return arrays["start"], arrays["end"], names

    def save_symbols(self, build_id: str, starts: list[int], ends: list[int], names: list[str]) -> None:
        folder = self._folder(build_id)
        if folder is not None:
            arrays = {"start": array("Q", starts), "end": array("Q", ends)}
            self._write(folder / "symbols.lpix", pack({"names": "\0".join(names)}, arrays))
