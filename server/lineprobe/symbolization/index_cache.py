"""Decoded DWARF kept on disk, per GNU build-id, so a binary is decoded once per machine.

A build-id names the exact bytes the linker produced, so what was decoded
from one file holds for every copy of it: the compilation units' address
ranges, and each compilation unit's line table and scopes once a lookup has
needed them. Entries are msgpack files (a unit's arrays as raw bytes in this machine's
byte order, so loading one is a copy, not a decode) written to a temporary name and
renamed, so concurrent readers (the CLI and a language server) never see
half a file; anything unreadable is ignored and decoded again.

The folder is ``$LINEPROBE_CACHE_DIR``, else ``$XDG_CACHE_HOME/lineprobe``,
else ``~/.cache/lineprobe``; ``FORMAT`` changes whenever the encoding does.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from lineprobe.symbolization.dwarf_index import UnitIndex


class _UnitRecord(msgspec.Struct, array_like=True):
    name: str | None
    comp_dir: str | None
    files: list[str | None]
    names: list[str]
    arrays: dict[str, bytes]


FORMAT = "dwarf-v2"
_BUILD_ID = re.compile(r"^[0-9a-f]{8,128}$")


def default_root() -> Path:
    explicit = os.environ.get("LINEPROBE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lineprobe"


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

    def _read(self, path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except OSError:
            return None

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
        data = self._read(folder / "units.msgpack") if folder else None
        if data is None:
            return None
        try:
            return msgspec.msgpack.decode(data, type=list[tuple[int, int, int]])
        except msgspec.DecodeError:
            return None

    def save_ranges(self, build_id: str, ranges: list[tuple[int, int, int]]) -> None:
        folder = self._folder(build_id)
        if folder is not None:
            self._write(folder / "units.msgpack", msgspec.msgpack.encode(ranges))

    def load_unit(self, build_id: str, offset: int) -> UnitIndex | None:
        from lineprobe.symbolization.dwarf_index import UnitIndex, empty_arrays

        folder = self._folder(build_id)
        data = self._read(folder / f"unit-{offset:x}.msgpack") if folder else None
        if data is None:
            return None
        try:
            record = msgspec.msgpack.decode(data, type=_UnitRecord)
        except (msgspec.DecodeError, TypeError, ValueError):
            return None
        arrays = empty_arrays()
        if set(record.arrays) != set(arrays):
            return None
        try:
            for name, values in arrays.items():
                values.frombytes(record.arrays[name])
        except ValueError:  # a length that is not a whole number of items
            return None
        return UnitIndex(record.name, record.comp_dir, record.files, record.names, arrays)

    def save_unit(self, build_id: str, offset: int, unit: UnitIndex) -> None:
        folder = self._folder(build_id)
        if folder is not None:
            record = _UnitRecord(
                unit.name,
                unit.comp_dir,
                unit.files,
                unit.names,
                {name: values.tobytes() for name, values in unit.arrays.items()},
            )
            self._write(folder / f"unit-{offset:x}.msgpack", msgspec.msgpack.encode(record))
