"""Frames kept with a capture, so that it resolves again where its files are not.

A saved capture (``--save``) holds the agent's raw answer: addresses. Resolving them again needs
the traced files; the target's own binaries are copied beside the capture, the system's are
expected on a machine like the one traced. A ``FrameArchive`` is the rest of the way: the
frames every address resolved to when the capture was made, kept in the capture file itself,
so that it opens with the same lines anywhere, the copies and the system's libraries gone.

Unwinding copied stacks (system calls, allocations) needs each file's call frame information
too: the archive also keeps the rule each unwound pc used (``unwinding/call_frame_cache.py``
gives and reads them; here they are plain lists, since symbolization sits below unwinding).

Frames and rules are kept by the code's place in its file, not by the process's address, so that any
process of the same build shares them: a file-backed mapping's address is its build-id (its
name when it has none) and the file offset; memory no file backs (JIT code) is the traced
process's own, by runtime address.

While a capture is resolved with an archive (``ImageCache.for_capture``), the address space
asks it first for each mapping's addresses (``ArchivedFrameSource``) and has the usual source
name only what it lacks, which the archive then keeps: an empty archive records a capture,
one read from a file replays it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lineprobe.model.mapping import MappedFile
from lineprobe.symbolization.frame import FrameKind, SourceFrame
from lineprobe.symbolization.frame_sources import FrameSource
from lineprobe.symbolization.jvm_methods import JvmMethods, methods_from_json, methods_to_json

_KINDS = {kind.value: kind for kind in FrameKind}


class FrameArchiveUnreadable(ValueError):
    """Frames in a capture that are not in the shape ``FrameArchive.to_json`` writes."""


@dataclass
class FrameArchive:
    """Frames by code identity and place (see the module's description)."""

    frames: dict[str, dict[int, list[SourceFrame]]] = field(default_factory=dict)
    """Code identity (``code_identity``) -> file offset (or runtime address) -> frames, innermost first."""
    rules: dict[str, dict[int, list[int | None] | None]] = field(default_factory=dict)
    """Code identity -> file offset of an unwound pc -> its CFI rule's fields (None: no rule there)."""
    jvm_methods: dict[str, JvmMethods] = field(default_factory=dict)
    """A process's memory (``code_identity``) -> the Java methods its interpreter frames ran
    (``jvm_methods.py``): interpreted frames are named by their slots, not by their place."""

    def __len__(self) -> int:
        kept = sum(len(places) for places in self.frames.values())
        return kept + sum(len(places) for places in self.rules.values())

    def places(self, identity: str) -> dict[int, list[SourceFrame]]:
        """The frames kept for one piece of code, by place (created empty when new)."""
        return self.frames.setdefault(identity, {})

    def rule_places(self, identity: str) -> dict[int, list[int | None] | None]:
        """The unwinding rules kept for one piece of code, by place (created empty when new)."""
        return self.rules.setdefault(identity, {})

    def merge(self, other: FrameArchive) -> None:
        for identity, places in other.frames.items():
            self.places(identity).update(places)
        for identity, rules in other.rules.items():
            self.rule_places(identity).update(rules)
        for identity, methods in other.jvm_methods.items():
            mine = self.jvm_methods.setdefault(
                identity, JvmMethods(methods.path, methods.method_slot, methods.bcp_slot)
            )
            mine.by_pointer.update(methods.by_pointer)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON: places as decimal strings, each frame as a list of its fields."""
        frames = {
            identity: {str(place): [_frame_to_json(f) for f in chain] for place, chain in places.items()}
            for identity, places in self.frames.items()
        }
        rules = {
            identity: {str(place): rule for place, rule in places.items()}
            for identity, places in self.rules.items()
        }
        kept = {identity: methods_to_json(m) for identity, m in self.jvm_methods.items() if m.by_pointer}
        return {"frames": frames, "rules": rules, **({"jvm_methods": kept} if kept else {})}

    @classmethod
    def from_json(cls, value: object) -> FrameArchive:
        """Reads what ``to_json`` wrote; raises FrameArchiveUnreadable on anything else."""
        if not isinstance(value, dict) or not isinstance(value.get("frames"), dict):
            raise FrameArchiveUnreadable("frames: not an object of frames and rules")
        archive = cls()
        try:
            for identity, places in value["frames"].items():
                kept = archive.places(str(identity))
                for place, frames in places.items():
                    kept[int(place)] = [_frame_from_json(frame) for frame in frames]
            for identity, places in value.get("rules", {}).items():
                rules = archive.rule_places(str(identity))
                for place, rule in places.items():
                    rules[int(place)] = None if rule is None else [_optional(part, int) for part in rule]
            for identity, methods in value.get("jvm_methods", {}).items():
                archive.jvm_methods[str(identity)] = methods_from_json(methods, f"{identity} (kept)")
        except (AttributeError, TypeError, ValueError, KeyError) as exc:
            raise FrameArchiveUnreadable(f"frames: {exc}") from None
        return archive


def code_identity(mapping: MappedFile | None, pid: int) -> str:
    """What names a mapping's code across processes and machines (see the module's description)."""
    if mapping is None or not mapping.path:
        return f"[memory of {pid}]"
    if mapping.build_id:
        return f"build-id:{mapping.build_id}"
    # A replay names the target's own binaries by their copies beside the capture: the same
    # file name, another folder.
    return f"file:{os.path.basename(mapping.path)}" if mapping.path.startswith("/") else mapping.path


def code_place(mapping: MappedFile | None, address: int) -> int:
    """Where ``address`` is in its code: the file offset, or the address itself in memory no file backs."""
    if mapping is None or not mapping.path:
        return address
    return address - mapping.start + mapping.offset


class ArchivedFrameSource:
    """A mapping's frames from the archive; what it lacks is named by ``named_otherwise``'s
    source (chosen on first need, so a capture replayed from its archive never opens a file
    that is not there) and kept in the archive."""

    def __init__(
        self,
        places: dict[int, list[SourceFrame]],
        mapping: MappedFile | None,
        named_otherwise: Callable[[], FrameSource],
    ) -> None:
        self._places = places
        self._mapping = mapping
        self._named_otherwise = named_otherwise
        self._otherwise: FrameSource | None = None

    def frames(self, addresses: Sequence[int]) -> list[list[SourceFrame]]:
        places = self._places
        where = [code_place(self._mapping, address) for address in addresses]
        missing = [i for i, place in enumerate(where) if place not in places]
        if missing:
            if self._otherwise is None:
                self._otherwise = self._named_otherwise()
            named = self._otherwise.frames([addresses[i] for i in missing])
            for i, frames in zip(missing, named, strict=True):
                places[where[i]] = frames
        mapped = (
            self._mapping.path if self._mapping is not None and self._mapping.path.startswith("/") else None
        )
        if mapped is None:
            return [places[place] for place in where]
        # A file's frames name the file as this process maps it: a replay's copy beside the capture,
        # whose build-id the header gives (a diff tells a rebuilt binary by it).
        result = []
        for place in where:
            frames = places[place]
            if any(f.binary != mapped and f.binary.startswith("/") for f in frames):
                frames = places[place] = [
                    f._replace(binary=mapped) if f.binary.startswith("/") else f for f in frames
                ]
            result.append(frames)
        return result


def _frame_to_json(frame: SourceFrame) -> list[Any]:
    return [
        frame.function,
        frame.path,
        frame.line,
        frame.column,
        frame.kind.value,
        frame.binary,
        frame.function_path,
        frame.function_line,
    ]


def _frame_from_json(value: list[Any]) -> SourceFrame:
    function, path, line, column, kind, binary, function_path, function_line = value
    return SourceFrame(
        _optional(function, str),
        _optional(path, str),
        _optional(line, int),
        _optional(column, int),
        _KINDS[kind],
        str(binary),
        _optional(function_path, str),
        _optional(function_line, int),
    )


def _optional(value: object, kind: type) -> Any:
    if value is None or isinstance(value, kind):
        return value
    raise ValueError(f"{value!r} is not a {kind.__name__}")
