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
from collections.abc import Iterator, Mapping, Sequence
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
_SYMBOL_ARRAYS = {"start": "Q", "end": "Q", "names_blob": "B", "names_offsets": "Q"}
_PACK_ARRAYS = {
    "units": "Q",
    "starts": "Q",
    "lengths": "Q",
    "layout": "Q",
    "labels_blob": "B",
    "labels_offsets": "Q",
    "images": "B",
}
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
LAYOUT_WORDS = 2 * len(_UNIT_ARRAYS)


class StringTable(Sequence[str | None]):
    """Strings kept as UTF-8 in one mapped blob, decoded one at a time when a lookup asks.

    A unit of a C++ library names thousands of functions and headers; a
    lookup needs a few of them. ``offsets`` has one more entry than there are
    strings; an empty string stands for an absent one (a path is never empty).
    """

    def __init__(self, blob: memoryview, offsets: memoryview) -> None:
        self._blob = blob
        self._offsets = offsets
        self._count = max(len(offsets) - 1, 0)  # no offsets at all: a damaged file, and not valid()
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
    placed: dict[str, tuple[int, int]]
    """Each array's position in the entry (bytes) and count."""

    @classmethod
    def of(
        cls,
        meta: dict[str, Any],
        arrays: Mapping[str, array[int] | memoryview],
        trailing: tuple[str, str, int] | None = None,
    ) -> Entry:
        """``trailing`` (name, typecode, count) declares one more array, last, whose bytes
        the caller writes after these: a pack's hundreds of MB never sit in memory at once."""
        layout: list[list[str | int]] = []
        placed: dict[str, tuple[int, int]] = {}  # relative to the arrays' start, until the header is known
        offset = 0
        for name, values in arrays.items():
            typecode = values.typecode if isinstance(values, array) else values.format
            layout.append([name, typecode, len(values), offset])
            placed[name] = (offset, len(values))
            offset += _aligned(len(values) * values.itemsize)
        if trailing is not None:
            layout.append([*trailing, offset])
        header = json.dumps(
            {"byteorder": sys.byteorder, "meta": meta, "arrays": layout}, separators=(",", ":")
        ).encode()
        head = _HEADER.pack(MAGIC, len(header)) + header
        head += b"\0" * (_aligned(len(head)) - len(head))
        placed = {name: (len(head) + at, count) for name, (at, count) in placed.items()}
        return cls(head, list(arrays.values()), placed)

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


class MappedArrays(Mapping[str, memoryview]):
    """A unit's arrays as views of its entry, each cast on first use.

    A batch lookup hands C the arrays' positions in the entry and reads few of them
    from Python: casting all of a unit's eighteen arrays cost more than its lookups.
    """

    def __init__(self, entry: memoryview, placed: Mapping[str, tuple[int, int]]) -> None:
        self._entry = entry
        self._placed = placed  # name -> (position in the entry, count), checked to fit
        self._cast: dict[str, memoryview] = {}

    def __getitem__(self, name: str) -> memoryview:
        view = self._cast.get(name)
        if view is None:
            position, count = self._placed[name]
            typecode = _UNIT_ARRAYS[name]
            view = self._entry[position : position + count * _ITEMSIZE[typecode]].cast(typecode)  # type: ignore[call-overload]
            self._cast[name] = view
        return view

    def __len__(self) -> int:
        return len(self._placed)

    def __iter__(self) -> Iterator[str]:
        return iter(self._placed)


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
    file each costs more than the lookups themselves, and so does reading each
    entry's JSON header. ``IndexCache.save_units`` gathers a build-id's units
    into its pack: each entry inside is a unit file's bytes, unchanged, at an
    8-byte boundary, and a directory says where each entry's arrays lie and
    what its unit is named.
    """

    units: memoryview  # unit offsets in .debug_info, ascending
    starts: memoryview  # where each unit's entry begins in ``images``
    lengths: memoryview
    layout: memoryview  # per unit, LAYOUT_WORDS: each of its arrays' position in the entry and count
    labels: StringTable  # per unit, its name and its compilation directory
    images: memoryview
    images_at: int  # where ``images`` begins in the file: it is the last array, up to the end

    def _index(self, offset: int) -> int | None:
        i = bisect.bisect_left(self.units, offset)
        if i == len(self.units) or self.units[i] != offset:
            return None
        if self.starts[i] + self.lengths[i] > len(self.images):
            return None  # a damaged pack: the entry is decoded again
        return i

    def entry(self, offset: int) -> memoryview | None:
        i = self._index(offset)
        return None if i is None else self.images[self.starts[i] : self.starts[i] + self.lengths[i]]

    def unit(self, offset: int) -> tuple[memoryview, list[int], str | None, str | None] | None:
        """A unit's entry, its directory row, name and compilation directory."""
        i = self._index(offset)
        if i is None:
            return None
        start = self.starts[i]
        row = self.layout[i * LAYOUT_WORDS : (i + 1) * LAYOUT_WORDS].tolist()
        return (
            self.images[start : start + self.lengths[i]],
            row,
            self.labels.get(2 * i),
            self.labels.get(2 * i + 1),
        )

    def entries(self) -> list[tuple[int, int, int]]:
        """(unit offset, position in the file, length) of each whole entry."""
        return [
            (unit, self.images_at + start, length)
            for unit, start, length in zip(self.units, self.starts, self.lengths, strict=True)
            if start + length <= len(self.images)
        ]


@dataclass(frozen=True)
class CachedBinary:
    layout: str  # FORMAT, or an older layout's folder, which nothing reads any more
    build_id: str
    bytes: int
    units: int  # compilation units decoded
    current: bool


_LAYOUTS = "dwarf-v*"
"""The folders of every layout FORMAT has named."""


@dataclass
class IndexCache:
    root: Path

    @classmethod
    def default(cls) -> IndexCache:
        return cls(default_root())

    def usage(self) -> list[CachedBinary]:
        """What the cache holds, one entry per layout and build-id, largest first."""
        found = []
        for layout in sorted(self.root.glob(_LAYOUTS)):
            for folder in layout.glob("??/*"):
                if folder.is_dir():
                    files = [f for f in folder.iterdir() if f.is_file()]
                    size = sum(f.stat().st_size for f in files)
                    units = sum(1 for f in files if f.name.startswith("unit-"))
                    build_id = folder.parent.name + folder.name
                    current = layout.name == FORMAT
                    pack = self.load_pack(build_id) if current else None
                    units += len(pack.entries()) if pack is not None else 0
                    found.append(CachedBinary(layout.name, build_id, size, units, current))
        return sorted(found, key=lambda c: -c.bytes)

    def clear(self) -> int:
        """Delete every layout's folder (never anything else under the root); the bytes freed."""
        import shutil

        freed = sum(c.bytes for c in self.usage())
        for layout in self.root.glob(_LAYOUTS):
            shutil.rmtree(layout, ignore_errors=True)
        return freed

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

    def load_ranges(self, build_id: str) -> tuple[memoryview, memoryview, memoryview] | None:
        """The CUs' address ranges as ``save_ranges`` kept them: lows (ascending), highs, CU offsets.

        Mapped, not copied into tuples: libjvm has 29,000 of them.
        """
        folder = self._folder(build_id)
        loaded = read_entry(folder / "units.lpix", _RANGE_ARRAYS) if folder else None
        if loaded is None:
            return None
        a = loaded.arrays
        if not len(a["low"]) == len(a["high"]) == len(a["unit"]):
            return None
        return a["low"], a["high"], a["unit"]

    def save_ranges(
        self, build_id: str, lows: Sequence[int], highs: Sequence[int], units: Sequence[int]
    ) -> None:
        folder = self._folder(build_id)
        if folder is not None:
            arrays = {"low": array("Q", lows), "high": array("Q", highs), "unit": array("Q", units)}
            self._write(folder / "units.lpix", Entry.of({}, arrays).encode())

    def load_pack(self, build_id: str) -> UnitPack | None:
        folder = self._folder(build_id)
        mapped = _map(folder / PACK_NAME, populate=False) if folder else None
        loaded = parse(memoryview(mapped), _PACK_ARRAYS) if mapped is not None else None
        if loaded is None:
            return None
        a = loaded.arrays
        n = len(a["units"])
        labels = StringTable(a["labels_blob"], a["labels_offsets"])
        if not (n == len(a["starts"]) == len(a["lengths"]) and len(a["layout"]) == n * LAYOUT_WORDS):
            return None
        if not labels.valid() or len(labels) != 2 * n:
            return None
        assert mapped is not None
        at = len(mapped) - len(a["images"])
        return UnitPack(a["units"], a["starts"], a["lengths"], a["layout"], labels, a["images"], at)

    def load_unit(self, build_id: str, offset: int, pack: UnitPack | None = None) -> UnitIndex | None:
        """A unit from ``pack`` when it holds it, else from its own file; None when neither does."""
        found = pack.unit(offset) if pack is not None else None
        loaded = None
        if found is not None:  # by the directory; by the entry's own header if that is damaged
            entry, row, name, comp_dir = found
            placed = _placed_by_row(entry, row)
            unit = _unit_of(entry, placed, name, comp_dir) if placed is not None else None
            if unit is not None:
                return unit
            loaded = parse(entry, _UNIT_ARRAYS)
        if loaded is None:
            folder = self._folder(build_id)
            loaded = read_entry(folder / f"unit-{offset:x}.lpix", _UNIT_ARRAYS) if folder else None
        if loaded is None:
            return None
        name, comp_dir = loaded.meta.get("name"), loaded.meta.get("comp_dir")
        if not ((name is None or isinstance(name, str)) and (comp_dir is None or isinstance(comp_dir, str))):
            return None
        return _unit_of(loaded.entry, _placed(loaded), name, comp_dir)

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
        items: dict[int, _PackItem] = {}
        old = self.load_pack(build_id)
        if old is not None:
            for offset, start, length in old.entries():
                entry = old.entry(offset)
                parsed = parse(entry, _UNIT_ARRAYS) if entry is not None else None
                if parsed is not None:
                    items[offset] = _PackItem.copied(parsed, (str(folder / PACK_NAME), start, length))
        for offset, path in loose.items():
            mapped = _map(path, populate=False)
            parsed = parse(memoryview(mapped), _UNIT_ARRAYS) if mapped is not None else None
            if parsed is not None:  # only a readable entry goes in: the rest is decoded again when needed
                items[offset] = _PackItem.copied(parsed, (str(path), 0, len(parsed.entry)))
        for offset, unit in units.items():
            encoded = _unit_entry(unit)
            row = [word for name in _UNIT_ARRAYS for word in encoded.placed[name]]
            items[offset] = _PackItem(encoded.size(), row, unit.name, unit.comp_dir, encoded)
        offsets = sorted(items)
        starts, lengths, layout = array("Q"), array("Q"), array("Q")
        total = 0
        for offset in offsets:
            item = items[offset]
            starts.append(total)
            lengths.append(item.length)
            layout.extend(item.layout)
            total += _aligned(item.length)
        labels_blob, labels_offsets = StringTable.build(
            [label or "" for offset in offsets for label in (items[offset].name, items[offset].comp_dir)]
        )
        directory = {
            "units": array("Q", offsets),
            "starts": starts,
            "lengths": lengths,
            "layout": layout,
            "labels_blob": labels_blob,
            "labels_offsets": labels_offsets,
        }
        head = Entry.of({}, directory, ("images", "B", total)).encode()
        import tempfile

        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(head)
                for offset in offsets:
                    item = items[offset]
                    if item.entry is not None:
                        item.entry.write(out)
                    elif item.source is not None:
                        out.flush()
                        _copy_range(item.source, out.fileno())
                    out.write(b"\0" * (_aligned(item.length) - item.length))
            os.replace(temporary, folder / PACK_NAME)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            return False
        for path in loose.values():
            with contextlib.suppress(OSError):
                path.unlink()
        return True

    def load_symbols(self, build_id: str, tables: str) -> tuple[memoryview, memoryview, StringTable] | None:
        """A file's function symbols (starts, ends, names), as ``save_symbols`` kept them.

        ``tables`` names the symbol tables the file holds (``ElfImage.symbol_tables``): a
        stripped library and its separate debug file share a build-id, but only the debug
        file's ``.symtab`` names its static functions, so each keeps its own entry.
        Names stay in their mapped blob until a lookup names one: libjvm has 44,000.
        """
        folder = self._folder(build_id)
        loaded = read_entry(folder / f"symbols-{tables}.lpix", _SYMBOL_ARRAYS) if folder else None
        if loaded is None:
            return None
        a = loaded.arrays
        names = StringTable(a["names_blob"], a["names_offsets"])
        if not names.valid() or not len(names) == len(a["start"]) == len(a["end"]):
            return None
        return a["start"], a["end"], names

    def save_symbols(
        self,
        build_id: str,
        tables: str,
        starts: Sequence[int],
        ends: Sequence[int],
        names: Sequence[str | None],
    ) -> None:
        folder = self._folder(build_id)
        if folder is not None:
            blob, offsets = StringTable.build([name or "" for name in names])
            arrays = {
                "start": array("Q", starts),
                "end": array("Q", ends),
                "names_blob": blob,
                "names_offsets": offsets,
            }
            self._write(folder / f"symbols-{tables}.lpix", Entry.of({}, arrays).encode())


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


@dataclass
class _PackItem:
    """One unit on its way into a pack: its entry's length and directory row, its name, and
    where its bytes come from (an entry to encode, or a range of a file to copy)."""

    length: int
    layout: list[int]
    name: str | None
    comp_dir: str | None
    entry: Entry | None = None
    source: tuple[str, int, int] | None = None

    @classmethod
    def copied(cls, parsed: Parsed, source: tuple[str, int, int]) -> _PackItem:
        placed = _placed(parsed)
        layout = [word for name in _UNIT_ARRAYS for word in placed[name]]
        meta = parsed.meta
        name, comp_dir = meta.get("name"), meta.get("comp_dir")
        return cls(
            len(parsed.entry),
            layout,
            name if isinstance(name, str) else None,
            comp_dir if isinstance(comp_dir, str) else None,
            source=source,
        )


def _placed_by_row(entry: memoryview, row: list[int]) -> dict[str, tuple[int, int]] | None:
    """Where a pack's directory row says each array of the unit lies in its entry (position,
    count); None when one would not fit the entry."""
    placed: dict[str, tuple[int, int]] = {}
    for k, (field, typecode) in enumerate(_UNIT_ARRAYS.items()):
        position, count = row[2 * k], row[2 * k + 1]
        if position + count * _ITEMSIZE[typecode] > len(entry):
            return None
        placed[field] = (position, count)
    return placed


def _placed(parsed: Parsed) -> dict[str, tuple[int, int]]:
    """Where each array of an entry read by its header lies in it (position, count)."""
    return {name: (parsed.positions[name], len(parsed.arrays[name])) for name in _UNIT_ARRAYS}


def _unit_of(
    entry: memoryview, placed: dict[str, tuple[int, int]], name: str | None, comp_dir: str | None
) -> UnitIndex | None:
    """A unit from its entry and where its arrays lie in it (checked to fit), each array cast
    only when Python reads it (``MappedArrays``); None when the arrays do not hang together."""
    # Arrays read side by side must be as long as each other: the accelerator's batch
    # lookup indexes one by the other's length.
    for group in _PARALLEL_ARRAYS:
        if len({placed[field][1] for field in group}) != 1:
            return None
    strings = MappedArrays(entry, {field: placed[field] for field in _STRING_ARRAYS})
    names = StringTable(strings["names_blob"], strings["names_offsets"])
    files = StringTable(strings["files_blob"], strings["files_offsets"])
    checksums = StringTable(strings["md5_blob"], strings["md5_offsets"])
    if not (names.valid() and files.valid() and checksums.valid()):
        return None
    arrays = MappedArrays(entry, {field: placed[field] for field in ARRAY_FIELDS})
    positions = {field: placed[field][0] for field in ARRAY_FIELDS}
    return UnitIndex(name, comp_dir, files, names, arrays, checksums, (entry, positions))


def _copy_range(source: tuple[str, int, int], out: int) -> None:
    path, start, length = source
    with open(path, "rb") as file:
        while length > 0:
            sent = os.sendfile(out, file.fileno(), start, length)
            if sent <= 0:
                raise OSError(f"{path}: shorter than its entry")
            start += sent
            length -= sent
