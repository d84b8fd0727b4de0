"""JavaScript compiled from another language (TypeScript, ...) back to the lines it was written
on, through the source map its compiler wrote: Source Map Revision 3, a JSON file named by the
script's last ``//# sourceMappingURL=`` comment (``tsc --sourceMap``), or inlined there as a
``data:`` URL (``--inlineSourceMap``).

A map's ``mappings`` are lines of segments separated by ``;``, segments by ``,``; each segment
is 1, 4 or 5 Base64 VLQ numbers: the generated column, then the source's index, its line and
its column, then a name's index, each relative to the same field of the previous segment (the
generated column restarts on every line). Lines and columns are 0-based there; V8's jitdump
gives 1-based ones.

Only a map the script names is read, as a regular file within ``MAX_BYTES``, with the rights of
whoever runs lineprobe (never the agent's). A map that cannot be used costs a message and leaves
the JavaScript line as it was. Index maps (``sections``) are made one map; a section that names
its map by URL is not followed.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import os
import re
import stat
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

MAX_BYTES = 64 << 20
"""A script or map larger than this is left unmapped (a bundle's map reaches tens of MB)."""
SCRIPT_SUFFIXES = (".js", ".mjs", ".cjs")
_URL_COMMENT = re.compile(rb"//[#@][ \t]+sourceMappingURL=[ \t]*(\S+)[ \t]*$", re.MULTILINE)
_BASE64 = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}


class SourceMapError(ValueError):
    pass


@dataclass(frozen=True)
class SourceMap:
    sources: tuple[str | None, ...]
    """Each source's path (absolute), None where it is not a local file (``webpack://``)."""
    columns: tuple[tuple[int, ...], ...]
    """Per generated line (0-based), the generated columns where segments start, ascending."""
    targets: tuple[tuple[tuple[int, int] | None, ...], ...]
    """Per generated line, each segment's (source index, original 0-based line), or None."""

    def original(self, line: int, column: int) -> tuple[str, int] | None:
        """The source and 1-based line that 1-based ``line``:``column`` of the script came from:
        the last segment starting at or before the column on that line (before the first
        segment of a line, its first: V8 marks a statement's start, tsc the first token)."""
        if not 0 < line <= len(self.columns) or not self.columns[line - 1]:
            return None
        starts, targets = self.columns[line - 1], self.targets[line - 1]
        target = targets[max(bisect.bisect_right(starts, column - 1) - 1, 0)]
        path = self.sources[target[0]] if target is not None else None
        return (path, target[1] + 1) if path is not None and target is not None else None


def parse_source_map(text: str | bytes, map_path: str) -> SourceMap:
    """The map in ``text``, its sources resolved from ``map_path``'s folder."""
    try:
        raw = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceMapError(f"not JSON ({exc})") from None
    return _from_json(raw, map_path, nested=False)


def _from_json(raw: object, map_path: str, nested: bool) -> SourceMap:
    if not isinstance(raw, dict) or raw.get("version") != 3:
        raise SourceMapError("not a version 3 source map")
    if "sections" in raw:
        if nested:
            raise SourceMapError("an index map inside an index map")
        return _index_map(raw["sections"], map_path)
    names, mappings = raw.get("sources"), raw.get("mappings")
    root = raw.get("sourceRoot") or ""
    if not isinstance(names, list) or not isinstance(mappings, str) or not isinstance(root, str):
        raise SourceMapError("no sources or mappings")
    folder = os.path.dirname(map_path)
    sources = tuple(_source_path(folder, root, name) for name in names)
    columns, targets = _decode(mappings, len(sources))
    return SourceMap(sources, columns, targets)


def _index_map(sections: object, map_path: str) -> SourceMap:
    """An index map (what some bundlers write): sections, each a map of its own placed at an
    offset of the generated file (its column offset counts on its first line only), made one."""
    if not isinstance(sections, list):
        raise SourceMapError("its sections are not a list")
    sources: list[str | None] = []
    lines: dict[int, list[tuple[int, tuple[int, int] | None]]] = {}
    for section in sections:
        offset = section.get("offset") if isinstance(section, dict) else None
        if not isinstance(offset, dict) or "map" not in section:
            raise SourceMapError("a section without an offset and a map (a url section is not followed)")
        first_line, first_column = offset.get("line"), offset.get("column")
        if not isinstance(first_line, int) or not isinstance(first_column, int):
            raise SourceMapError("a section's offset is not two numbers")
        part = _from_json(section["map"], map_path, nested=True)
        base = len(sources)
        sources.extend(part.sources)
        for number, (starts, targets) in enumerate(zip(part.columns, part.targets, strict=True)):
            shift = first_column if number == 0 else 0
            row = lines.setdefault(first_line + number, [])
            for start, target in zip(starts, targets, strict=True):
                row.append((start + shift, (target[0] + base, target[1]) if target is not None else None))
    count = max(lines) + 1 if lines else 0
    rows = [sorted(lines.get(number, []), key=lambda segment: segment[0]) for number in range(count)]
    return SourceMap(
        tuple(sources),
        tuple(tuple(start for start, _ in row) for row in rows),
        tuple(tuple(target for _, target in row) for row in rows),
    )


def _source_path(folder: str, root: str, name: object) -> str | None:
    if not isinstance(name, str):
        return None
    joined = root.rstrip("/") + "/" + name if root else name
    parts = urlsplit(joined)
    if parts.scheme == "file":
        return os.path.normpath(unquote(parts.path))
    if parts.scheme:
        return None  # webpack://, http://: no file of ours
    return os.path.normpath(os.path.join(folder, unquote(joined)))


def _decode(
    mappings: str, source_count: int
) -> tuple[tuple[tuple[int, ...], ...], tuple[tuple[tuple[int, int] | None, ...], ...]]:
    columns: list[tuple[int, ...]] = []
    targets: list[tuple[tuple[int, int] | None, ...]] = []
    source = original_line = original_column = name = 0
    for text in mappings.split(";"):
        line_columns: list[int] = []
        line_targets: list[tuple[int, int] | None] = []
        column = 0
        for segment in text.split(","):
            if not segment:
                continue
            fields = _vlq(segment)
            if len(fields) not in (1, 4, 5):
                raise SourceMapError(f"a segment of {len(fields)} fields ({segment!r})")
            column += fields[0]
            target: tuple[int, int] | None = None
            if len(fields) >= 4:
                source += fields[1]
                original_line += fields[2]
                original_column += fields[3]
                if len(fields) == 5:
                    name += fields[4]
                if not 0 <= source < source_count or original_line < 0:
                    raise SourceMapError(f"a segment points outside its sources ({segment!r})")
                target = (source, original_line)
            line_columns.append(column)
            line_targets.append(target)
        # Segments are meant to come in column order; a map out of order is sorted, not refused.
        order = sorted(range(len(line_columns)), key=line_columns.__getitem__)
        columns.append(tuple(line_columns[i] for i in order))
        targets.append(tuple(line_targets[i] for i in order))
    return tuple(columns), tuple(targets)


def _vlq(segment: str) -> list[int]:
    values: list[int] = []
    value = shift = 0
    for char in segment:
        digit = _BASE64.get(char)
        if digit is None:
            raise SourceMapError(f"{char!r} is not Base64 VLQ")
        value += (digit & 31) << shift
        if digit & 32:
            shift += 5
            if shift > 60:
                raise SourceMapError("a VLQ number too long")
            continue
        values.append(-(value >> 1) if value & 1 else value >> 1)
        value = shift = 0
    if shift:
        raise SourceMapError("a VLQ number cut short")
    return values


@dataclass
class SourceMaps:
    """The maps of the scripts a process ran, each read once (by path and mtime)."""

    root: str = ""
    """Where the target's files are seen from here (its /proc/PID/root, for a container)."""
    problems: list[str] = field(default_factory=list)
    _maps: dict[str, tuple[float, SourceMap | None]] = field(default_factory=dict)

    def original(self, script: str, line: int, column: int | None) -> tuple[str, int] | None:
        """Where ``script``'s 1-based ``line`` and ``column`` were written, or None: no map, or
        a position the map does not cover."""
        if not script.endswith(SCRIPT_SUFFIXES) or not script.startswith("/"):
            return None
        source_map = self._map(script)
        if source_map is None:
            return None
        found = source_map.original(line, column or 1)
        if found is None:
            return None
        path, original_line = found
        # The map's paths are the target's: shown as the target names them.
        if self.root and path.startswith(self.root + "/"):
            path = path[len(self.root) :]
        return path, original_line

    def _map(self, script: str) -> SourceMap | None:
        seen = self.root + script
        try:
            mtime = os.stat(seen).st_mtime
        except OSError:
            return None
        cached = self._maps.get(script)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        source_map = None
        try:
            source_map = self._read(seen)
        except (OSError, SourceMapError) as exc:
            self.problems.append(f"the source map of {script} cannot be used: {exc}")
        self._maps[script] = (mtime, source_map)
        return source_map

    def _read(self, script: str) -> SourceMap | None:
        data = _read_regular(script)
        urls = _URL_COMMENT.findall(data[-65536:]) or _URL_COMMENT.findall(data)
        if not urls:
            return None
        url = urls[-1].decode("utf-8", "replace")
        if url.startswith("data:"):
            header, _, payload = url.partition(",")
            encoded = header.endswith(";base64")
            try:
                text = base64.b64decode(payload, validate=True) if encoded else unquote(payload)
            except (binascii.Error, ValueError) as exc:
                raise SourceMapError(f"its inline map is not Base64 ({exc})") from None
            return parse_source_map(text, script)
        parts = urlsplit(url)
        if parts.scheme not in ("", "file"):
            raise SourceMapError(f"it names {url}, not a local file")
        map_path = os.path.normpath(os.path.join(os.path.dirname(script), unquote(parts.path)))
        return parse_source_map(_read_regular(map_path), map_path)


def _read_regular(path: str) -> bytes:
    """A regular file's bytes (no FIFO or device: a read must end), within MAX_BYTES."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SourceMapError(f"{path} is not a regular file")
        if info.st_size > MAX_BYTES:
            raise SourceMapError(f"{path} is larger than {MAX_BYTES >> 20} MB")
        return file.read(MAX_BYTES)
