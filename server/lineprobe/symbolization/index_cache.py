"""Decoded DWARF kept on disk, per GNU build-id, so a binary is decoded once per machine.

A build-id names the exact bytes the linker produced, so what was decoded
from one file holds for every copy of it: the compilation units' address
ranges, and each compilation unit's line table and scopes once a lookup has
needed them.

Each entry is a small JSON header (strings, and where each array lies)
followed by the raw arrays, 8-byte aligned, in this machine's byte order.
Loading maps the file and views the arrays in place (``mmap`` and
``memoryview.cast``): no decoding, and only the pages a lookup touches are
read, which is what makes a warm start on a library like libjvm (300 MB of
index for 10,000 addresses) take a fraction of a second. A unit decoded is
written at once to a file of its own; once a build-id has many, they are
gathered into one pack (``UnitPack``), so that a warm run maps one file, not
hundreds. Files are written to a temporary name and renamed, so concurrent
readers (the CLI and a language server) never see half a file; anything
unreadable or from another layout is ignored and decoded again.

The folder is ``$LINEPROBE_CACHE_DIR``, else ``$XDG_CACHE_HOME/lineprobe``,
else ``~/.cache/lineprobe``; ``FORMAT`` changes whenever the layout does.
"""

from __future__ import annotations

import bisect
import contextlib
import fcntl
import io
import json
import mmap
import os
import re
import struct
import sys
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple, overload

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
_PACK_ARRAYS = {"units": "Q", "starts": "Q", "lengths": "Q", "images": "B"}
PACK_NAME = "units-pack.lpix"
CONSOLIDATE_AT = 32
"""Unit files a build-id gathers before ``consolidate`` folds them into its pack: fewer
would rewrite a pack of hundreds of MB for a few units' worth of opens."""
_STRING_ARRAYS = {
    "names_blob": "B",
    "names_offsets": "Q",
    "files_blob": "B",
    "files_offsets": "Q",
    "md5_blob": "B",
    "md5_offsets": "Q",
}
_UNIT_ARRAYS = {**ARRAY_FIELDS, **_STRING_ARRAYS}


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
        value = self._decoded.get(index, self)  # the table itself stands for "not decoded yet"
        if value is not self:
            return value  # type: ignore[return-value]
        value = None
        if 0 <= index < self._count:
            start, end = self._offsets[index], self._offsets[index + 1]
            if start < end:
                value = str(self._blob[start:end], "utf-8", "replace")
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


@dataclass
class Entry:
    """One cache entry ready to write: its header, then its arrays, each padded to 8 bytes."""

    head: bytes
    arrays: list[array[int] | memoryview]

    @classmethod
    def of(
        cls,
        meta: dict[str, Any],
        arrays: Mapping[str, array[int] | memoryview],
        trailing: tuple[str, str, int] | None = None,
    ) -> Entry:
        """``trailing`` (name, typecode, count) declares one more array, last, whose bytes
        the caller writes after these: a pack's hundreds of MB never sit in memory at once."""
        layout = []
        offset = 0
        for name, values in arrays.items():
            typecode = values.typecode if isinstance(values, array) else values.format
            layout.append([name, typecode, len(values), offset])
            offset += _aligned(len(values) * values.itemsize)
        if trailing is not None:
            layout.append([*trailing, offset])
        header = json.dumps(
            {"byteorder": sys.byteorder, "meta": meta, "arrays": layout}, separators=(",", ":")
        ).encode()
        head = _HEADER.pack(MAGIC, len(header)) + header
        return cls(head + b"\0" * (_aligned(len(head)) - len(head)), list(arrays.values()))

    def size(self) -> int:
        return len(self.head) + sum(_aligned(len(v) * v.itemsize) for v in self.arrays)

    def write(self, out: BinaryIO) -> None:
        out.write(self.head)
        for values in self.arrays:
            size = len(values) * values.itemsize
            out.write(values)  # the buffer itself: no copy of a unit's arrays
            out.write(b"\0" * (_aligned(size) - size))

    def encode(self) -> bytes:
        out = io.BytesIO()
        self.write(out)
        return out.getvalue()


def read_entry(path: Path, typecodes: Mapping[str, str]) -> Parsed | None:
    """The header's metadata and the arrays (views into the mapped file), or None if unusable."""
    mapped = _map(path, populate=True)
    return parse(memoryview(mapped), typecodes) if mapped is not None else None


def _map(path: Path, populate: bool) -> mmap.mmap | None:
    try:
        with open(path, "rb") as file:
            # MAP_POPULATE: one pass of read-ahead instead of a page fault per page a lookup
            # touches; not for a pack, of which a run reads a few of hundreds of units.
            flags = _MAP_FLAGS if populate else mmap.MAP_SHARED
            return mmap.mmap(file.fileno(), 0, flags=flags, prot=mmap.PROT_READ)
    except (OSError, ValueError):  # missing, unreadable, or empty (mmap refuses length 0)
        return None


class Parsed(NamedTuple):
    meta: dict[str, Any]
    arrays: dict[str, memoryview]
    entry: memoryview
    """The entry's bytes, which the arrays are views of."""
    positions: dict[str, int]
    """Where each array begins in ``entry``, in bytes."""


def parse(view: memoryview, typecodes: Mapping[str, str]) -> Parsed | None:
    """``read_entry`` of one entry's bytes: a whole file, or a unit's image inside a pack."""
    try:
        if len(view) < _HEADER.size:
            return None
        magic, header_size = _HEADER.unpack_from(view)
        if magic != MAGIC or _HEADER.size + header_size > len(view):
            return None
        header = json.loads(bytes(view[_HEADER.size : _HEADER.size + header_size]))
        if not isinstance(header, dict) or header.get("byteorder") != sys.byteorder:
            return None
        base = _aligned(_HEADER.size + header_size)
        arrays: dict[str, memoryview] = {}
        positions: dict[str, int] = {}
        for name, typecode, count, offset in header["arrays"]:
            if typecodes.get(name) != typecode or not isinstance(count, int) or not isinstance(offset, int):
                return None
            itemsize = _ITEMSIZE.get(typecode, 0)
            if not itemsize:
                return None
            start = base + offset
            if count < 0 or offset < 0 or start + count * itemsize > len(view):
                return None
            arrays[name] = view[start : start + count * itemsize].cast(typecode)
            positions[name] = start
        if set(arrays) != set(typecodes):
            return None
        meta = header["meta"]
        return Parsed(meta, arrays, view, positions) if isinstance(meta, dict) else None
    except (ValueError, TypeError, KeyError, struct.error, json.JSONDecodeError):
        return None


@dataclass
class UnitPack:
    """Many units' cache entries in one mapped file, found by unit offset.

    A large library's lookups touch hundreds of units: opening and mapping one
    file each costs more than the lookups themselves. ``IndexCache.consolidate``
    gathers a build-id's unit files into its pack; each entry inside is a unit
    file's bytes, unchanged, at an 8-byte boundary.
    """

    units: memoryview  # unit offsets in .debug_info, ascending
    starts: memoryview  # where each unit's entry begins in ``images``
    lengths: memoryview
    images: memoryview
    images_at: int  # where ``images`` begins in the file: it is the last array, up to the end

    def entry(self, offset: int) -> memoryview | None:
        i = bisect.bisect_left(self.units, offset)
        if i == len(self.units) or self.units[i] != offset:
            return None
        start, length = self.starts[i], self.lengths[i]
        if start + length > len(self.images):
            return None  # a damaged pack: the entry is decoded again
        return self.images[start : start + length]

    def entries(self) -> list[tuple[int, int, int]]:
        """(unit offset, position in the file, length) of each whole entry."""
        return [
            (unit, self.images_at + start, length)
            for unit, start, length in zip(self.units, self.starts, self.lengths, strict=True)
            if start + length <= len(self.images)
        ]


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
            import tempfile  # here: a warm run writes nothing, and the import costs 5 ms

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
        loaded = read_entry(folder / "units.lpix", _RANGE_ARRAYS) if folder else None
        if loaded is None:
            return None
        arrays = loaded.arrays
        return list(zip(arrays["low"], arrays["high"], arrays["unit"], strict=True))

    def save_ranges(self, build_id: str, ranges: list[tuple[int, int, int]]) -> None:
        folder = self._folder(build_id)
        if folder is not None:
            arrays = {
                "low": array("Q", (r[0] for r in ranges)),
                "high": array("Q", (r[1] for r in ranges)),
                "unit": array("Q", (r[2] for r in ranges)),
            }
            self._write(folder / "units.lpix", Entry.of({}, arrays).encode())

    def load_pack(self, build_id: str) -> UnitPack | None:
        folder = self._folder(build_id)
        mapped = _map(folder / PACK_NAME, populate=False) if folder else None
        loaded = parse(memoryview(mapped), _PACK_ARRAYS) if mapped is not None else None
        if loaded is None:
            return None
        a = loaded.arrays
        if not len(a["units"]) == len(a["starts"]) == len(a["lengths"]):
            return None
        assert mapped is not None
        return UnitPack(a["units"], a["starts"], a["lengths"], a["images"], len(mapped) - len(a["images"]))

    def load_unit(self, build_id: str, offset: int, pack: UnitPack | None = None) -> UnitIndex | None:
        """A unit from ``pack`` when it holds it, else from its own file; None when neither does."""
        entry = pack.entry(offset) if pack is not None else None
        loaded = parse(entry, _UNIT_ARRAYS) if entry is not None else None
        if loaded is None:
            folder = self._folder(build_id)
            loaded = read_entry(folder / f"unit-{offset:x}.lpix", _UNIT_ARRAYS) if folder else None
        if loaded is None:
            return None
        meta, arrays, whole, positions = loaded
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
        return UnitIndex(name, comp_dir, files, names, arrays, checksums, (whole, positions))

    def save_units(self, build_id: str, units: Mapping[int, UnitIndex], minimum: int | None = None) -> None:
        """Keep units decoded in this run: each in a file of its own when the build-id has
        few such files, else (``minimum``, by default ``CONSOLIDATE_AT``, all told) all of
        them, with those files, in the build-id's pack.

        A new pack (the old one's entries, the unit files and ``units``) is written beside
        the old and renamed over it; then the unit files it took in are removed. A process
        still reading the old pack keeps its mapping. An flock makes a second process write
        unit files rather than race: two packs written at once would each miss the other's units.
        """
        folder = self._folder(build_id)
        if folder is None or not units:
            return
        loose: dict[int, Path] = {}
        with contextlib.suppress(OSError):
            for path in folder.glob("unit-*.lpix"):
                with contextlib.suppress(ValueError):
                    loose[int(path.name[5:-5], 16)] = path
        if len(loose) + len(units) >= (minimum or CONSOLIDATE_AT):
            with contextlib.suppress(OSError):
                folder.mkdir(parents=True, exist_ok=True)
                with open(folder / ".pack.lock", "a") as lock:
                    try:
                        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        pass  # another process is writing this build-id's pack
                    else:
                        if self._write_pack(folder, build_id, loose, units):
                            return
        for offset, unit in units.items():
            self._write(folder / f"unit-{offset:x}.lpix", _unit_entry(unit).encode())

    def _write_pack(
        self, folder: Path, build_id: str, loose: dict[int, Path], units: Mapping[int, UnitIndex]
    ) -> bool:
        # Each entry is copied file to file (sendfile), or encoded one at a time: a pack
        # of hundreds of MB never passes through this process's memory.
        sources: dict[int, tuple[str, int, int] | Entry] = {}
        old = self.load_pack(build_id)
        if old is not None:
            for offset, start, length in old.entries():
                sources[offset] = (str(folder / PACK_NAME), start, length)
        for offset, path in loose.items():
            size = _whole_entry_size(path)
            if size is not None:  # only a readable entry goes in: the rest is decoded again when needed
                sources[offset] = (str(path), 0, size)
        sources.update({offset: _unit_entry(unit) for offset, unit in units.items()})
        offsets = sorted(sources)
        lengths = array("Q")
        for offset in offsets:
            source = sources[offset]
            lengths.append(source[2] if isinstance(source, tuple) else source.size())
        starts = array("Q")
        total = 0
        for length in lengths:
            starts.append(total)
            total += _aligned(length)
        head = Entry.of(
            {}, {"units": array("Q", offsets), "starts": starts, "lengths": lengths}, ("images", "B", total)
        ).encode()
        import tempfile

        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(head)
                for offset, length in zip(offsets, lengths, strict=True):
                    source = sources[offset]
                    if isinstance(source, tuple):
                        out.flush()
                        _copy_range(source, out.fileno())
                    else:
                        source.write(out)
                    out.write(b"\0" * (_aligned(length) - length))
            os.replace(temporary, folder / PACK_NAME)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            return False
        for path in loose.values():
            with contextlib.suppress(OSError):
                path.unlink()
        return True

    def load_symbols(self, build_id: str) -> tuple[memoryview, memoryview, list[str]] | None:
        """A file's function symbols (starts, ends, names), as ``save_symbols`` kept them."""
        folder = self._folder(build_id)
        loaded = read_entry(folder / "symbols.lpix", _SYMBOL_ARRAYS) if folder else None
        if loaded is None:
            return None
        meta, arrays = loaded.meta, loaded.arrays
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
            self._write(folder / "symbols.lpix", Entry.of({"names": "\0".join(names)}, arrays).encode())


def _unit_entry(unit: UnitIndex) -> Entry:
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
    return Entry.of({"name": unit.name, "comp_dir": unit.comp_dir}, arrays)


def _whole_entry_size(path: Path) -> int | None:
    """The size of a unit file whose header and arrays are all there, else None."""
    mapped = _map(path, populate=False)
    if mapped is None:
        return None
    with contextlib.closing(mapped):
        loaded = parse(memoryview(mapped), _UNIT_ARRAYS)
        if loaded is None:
            return None
        for view in (*loaded.arrays.values(), loaded.entry):
            view.release()  # views hold the mapping open
        return len(mapped)


def _copy_range(source: tuple[str, int, int], out: int) -> None:
    path, start, length = source
    with open(path, "rb") as file:
        while length > 0:
            sent = os.sendfile(out, file.fileno(), start, length)
            if sent <= 0:
                raise OSError(f"{path}: shorter than its entry")
            start += sent
            length -= sent
