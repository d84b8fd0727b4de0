"""Process addresses to source frames, through the memory map the agent captured.

A runtime address belongs to a mapping of a file; the file offset it maps
(address - mapping start + mapping offset) falls in one PT_LOAD segment, which
gives the ELF virtual address DWARF and the symbol table speak of. That works
the same for PIE executables, shared libraries and fixed-address binaries,
whatever ASLR chose.

Return addresses point after the call instruction, which may already be the
next line (or outside an inlined call); like perf and llvm-symbolizer we
resolve ``address - 1`` for every frame but the sampled one.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lineprobe.symbolization.debug_link import find_debug_file
from lineprobe.symbolization.demangle import Demangler
from lineprobe.symbolization.elf_image import PARSE_ERRORS, ElfImage, debug_file_for
from lineprobe.symbolization.frame import JIT, NATIVE, SourceFrame
from lineprobe.symbolization.index_cache import IndexCache
from lineprobe.symbolization.perf_map import PerfMap, load_perf_map, perf_map_path
from lineprobe.symbolization.source_freshness import source_problem
from lineprobe.symbolization.user_code import SYSTEM_PREFIXES

if TYPE_CHECKING:
    from lineprobe.unwinding.call_frame_table import FrameRule


@dataclass(frozen=True)
class MappedFile:
    """One executable mapping of a process (a line of /proc/PID/maps)."""

    start: int
    end: int
    offset: int
    path: str
    build_id: str | None = None


@dataclass
class ImageCache:
    """Opened ELF images, shared by every profile a server resolves.

    Keyed by path and build-id, so a binary rebuilt on disk between two
    profiles is opened afresh, and a build-id mismatch is noticed.
    """

    images: dict[tuple[str, str | None], ElfImage] = field(default_factory=dict)
    debug_images: dict[str, ElfImage | None] = field(default_factory=dict)
    index_cache: IndexCache | None = field(default_factory=IndexCache.default)
    """Decoded DWARF on disk, by build-id (None: decode in memory only)."""
    demangle: Demangler = field(default_factory=Demangler)
    debug_root: Path = Path("/usr/lib/debug")
    """Where .gnu_debuglink files are looked for last (GDB's debug-file-directory)."""

    def image(self, path: str, build_id: str | None, root: str = "") -> ElfImage:
        key = (path, build_id)
        image = self.images.get(key)
        if image is None:
            image = ElfImage(root + path, display_path=path, index_cache=self.index_cache)
            if build_id and image.build_id and image.build_id != build_id:
                image.problems.append(
                    f"{path}: the file on disk (build-id {image.build_id[:12]}) is not the one the "
                    f"process runs (build-id {build_id[:12]}); it was rebuilt or replaced: lines may be wrong"
                )
            self.images[key] = image
        return image

    def debug_image(self, image: ElfImage) -> ElfImage | None:
        """The separate debug file of ``image``: by build-id, else by ``.gnu_debuglink``."""
        key = image.build_id or f"path:{image.path}"
        if key not in self.debug_images:
            path = debug_file_for(image.build_id)
            if path is None:
                link = image.debuglink()
                if link is not None:
                    path, problems = find_debug_file(image.path, link, self.debug_root)
                    image.problems.extend(problems)
            self.debug_images[key] = ElfImage(str(path), index_cache=self.index_cache) if path else None
        return self.debug_images[key]

    def save(self) -> None:
        """Write what was decoded since the last save to the on-disk cache (a server calls
        this after each capture; ``close`` does it too)."""
        for image in self.images.values():
            image.save()
        for debug in self.debug_images.values():
            if debug is not None:
                debug.save()

    def close(self) -> None:
        for image in self.images.values():
            image.close()
        for debug in self.debug_images.values():
            if debug is not None:
                debug.close()
        self.images.clear()
        self.debug_images.clear()


@dataclass
class AddressSpace:
    """Resolves addresses of one process, given the mappings the agent recorded."""

    mappings: Sequence[MappedFile]
    cache: ImageCache
    root: str = ""
    """Prefix for reading mapped files (``/proc/PID/root`` for a process in a container)."""
    _starts: list[int] = field(init=False)
    _resolved: dict[tuple[int, bool], list[SourceFrame]] = field(default_factory=dict, init=False)
    binaries_without_debug_info: set[str] = field(default_factory=set, init=False)

    perf_map: PerfMap | None = None
    """Names for JIT code in anonymous mappings (``/tmp/perf-PID.map``)."""

    def __post_init__(self) -> None:
        self.mappings = sorted(self.mappings, key=lambda m: m.start)
        self._starts = [m.start for m in self.mappings]

    @classmethod
    def of_process(
        cls, pid: int, mappings: Sequence[MappedFile], cache: ImageCache, exited: bool
    ) -> AddressSpace:
        """The address space of a traced process: its files through /proc/PID/root while it
        lives, and the perf map of its JIT, if it wrote one."""
        root = proc_root(pid) if not exited else ""
        try:
            owner = os.stat(f"/proc/{pid}").st_uid if not exited else os.getuid()
        except OSError:
            owner = os.getuid()  # gone since: the user asking stands in for it, as for perf
        perf_map = load_perf_map(perf_map_path(pid, root), owner)
        return cls(mappings, cache, root, perf_map=perf_map)

    def mapping_for(self, address: int) -> MappedFile | None:
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0 and address < self.mappings[i].end:
            return self.mappings[i]
        return None

    def frame_rule(self, address: int) -> FrameRule | None:
        """The CFI rule at a runtime address, through the image that maps it."""
        mapping = self.mapping_for(address)
        if mapping is None or not mapping.path.startswith("/"):
            return None
        image = self.cache.image(mapping.path, mapping.build_id, self.root)
        vaddr = image.file_offset_to_vaddr(address - mapping.start + mapping.offset)
        table = image.call_frames if vaddr is not None else None
        if table is None or vaddr is None:
            return None
        try:
            return table.rule_for(vaddr)
        except PARSE_ERRORS as exc:
            image.problems.append(f"{mapping.path}: CFI at 0x{vaddr:x} unreadable ({type(exc).__name__})")
            return None

    def resolve(self, address: int, is_return_address: bool) -> list[SourceFrame]:
        key = (address, is_return_address)
        frames = self._resolved.get(key)
        if frames is None:
            frames = self._resolve(address - 1 if is_return_address else address)
            self._resolved[key] = frames
        return frames

    def resolve_stack(self, addresses: Iterable[int]) -> list[SourceFrame]:
        """A user stack (leaf first) as source frames, innermost first, inline frames expanded."""
        frames: list[SourceFrame] = []
        for depth, address in enumerate(addresses):
            frames.extend(self.resolve(address, is_return_address=depth > 0))
        return frames

    def stale_sources(self) -> dict[str, str]:
        """Source files of resolved frames that may not match their binary: path -> why."""
        binaries: dict[str, str] = {}
        for frames in self._resolved.values():
            for frame in frames:
                if frame.path and frame.binary.startswith("/"):
                    binaries.setdefault(frame.path, frame.binary)
        images = {path: image for (path, _), image in self.cache.images.items()}
        stale: dict[str, str] = {}
        for source, binary in sorted(binaries.items()):
            image = images.get(binary)
            dwarf = image.dwarf if image is not None else None
            checksum = dwarf.checksum(source) if dwarf is not None else None
            problem = source_problem(source, checksum, self.root + binary)
            if problem is not None:
                stale[source] = problem
        return stale

    def problems(self) -> list[str]:
        seen: list[str] = list(self.perf_map.problems) if self.perf_map is not None else []
        for image in self.cache.images.values():
            seen.extend(image.problems)
            seen.extend(image.dwarf_problems)
        return list(dict.fromkeys(seen))

    def prefetch(self, stacks: Iterable[Sequence[int]]) -> None:
        """Resolve every address of these user stacks (leaf first) now, a batch per binary, so
        that the accelerator searches each binary's units in one call; ``resolve`` and
        ``resolve_stack`` then answer from what this kept."""
        batches: dict[int, tuple[_InImage, list[tuple[int, bool]], list[int]]] = {}
        for stack in stacks:
            for depth, address in enumerate(stack):
                key = (address, depth > 0)
                if key in self._resolved:
                    continue
                located = self._locate(address - 1 if depth > 0 else address)
                if isinstance(located, list):
                    self._resolved[key] = located
                    continue
                keys, vaddrs = batches.setdefault(id(located.image), (located, [], []))[1:]
                keys.append(key)
                vaddrs.append(located.vaddr)
        for where, keys, vaddrs in batches.values():
            found = resolve_many(where.image, vaddrs, where.binary, where.debug, self.cache.demangle)
            self._resolved.update(zip(keys, found, strict=True))

    def _resolve(self, address: int) -> list[SourceFrame]:
        located = self._locate(address)
        if isinstance(located, list):
            return located
        return resolve_in_image(
            located.image, located.vaddr, located.binary, located.debug, self.cache.demangle
        )

    def _locate(self, address: int) -> list[SourceFrame] | _InImage:
        """The frames of an address that no DWARF names (JIT code, unmapped, system libraries),
        or the binary whose DWARF will."""
        mapping = self.mapping_for(address)
        if (mapping is None or not mapping.path) and self.perf_map is not None:
            jitted = self.perf_map.lookup(address)
            if jitted is not None:
                return [SourceFrame(jitted, None, None, None, JIT, "[jit]")]
        if mapping is None:
            return [SourceFrame(None, None, None, None, NATIVE, "[unmapped]")]
        binary = mapping.path or "[anonymous]"
        if not mapping.path.startswith("/"):
            # [vdso], anonymous JIT code and the like: no file to read.
            return [SourceFrame(None, None, None, None, NATIVE, binary)]
        image = self.cache.image(mapping.path, mapping.build_id, self.root)
        vaddr = image.file_offset_to_vaddr(address - mapping.start + mapping.offset)
        if vaddr is None:
            return [SourceFrame(None, None, None, None, NATIVE, binary)]
        if mapping.path.startswith(SYSTEM_PREFIXES):
            # The system's libraries are never the site of a finding: their
            # function names are enough, and decoding their (often separate,
            # large) DWARF would cost the first profile most of a second.
            # A separate debug file still names static functions through its .symtab.
            name = image.symbols.lookup(vaddr)
            if name is None:
                debug = self.cache.debug_image(image)
                name = debug.symbols.lookup(vaddr) if debug is not None else None
            if name is not None:
                name = self.cache.demangle(name)
            return [SourceFrame(name, None, None, None, NATIVE, binary)]
        debug = self.cache.debug_image(image) if image.dwarf is None else None
        if image.dwarf is None and (debug is None or debug.dwarf is None):
            self.binaries_without_debug_info.add(binary)
        return _InImage(image, vaddr, binary, debug)


@dataclass(frozen=True)
class _InImage:
    """An address located in a binary that has (or has a debug file with) DWARF to read."""

    image: ElfImage
    vaddr: int
    binary: str
    debug: ElfImage | None


def resolve_in_image(
    image: ElfImage,
    vaddr: int,
    binary: str,
    debug: ElfImage | None = None,
    demangle: Callable[[str], str] | None = None,
) -> list[SourceFrame]:
    """Frames for an ELF virtual address, innermost first; never empty.

    DWARF gives the frames (from ``debug``, a separate debug file, when the
    image has none); the symbol table names the out-of-line function where it
    is more precise, as llvm-symbolizer does: compiler clones such as
    ``run.constprop.0`` keep their suffix, which is what perf shows too.
    Mangled C++ names (a symbol table's, or DWARF's linkage name where a DIE
    has no plain name) go through ``demangle``.
    """
    dwarf = image.dwarf or (debug.dwarf if debug is not None else None)
    frames = dwarf.frames(vaddr, binary) if dwarf is not None else None
    return _named(image, vaddr, frames, binary, demangle)


def resolve_many(
    image: ElfImage,
    vaddrs: list[int],
    binary: str,
    debug: ElfImage | None = None,
    demangle: Callable[[str], str] | None = None,
) -> list[list[SourceFrame]]:
    """``resolve_in_image`` for a batch of addresses, with each unit's searches done together."""
    dwarf = image.dwarf or (debug.dwarf if debug is not None else None)
    found = dwarf.frames_many(vaddrs, binary) if dwarf is not None else [None] * len(vaddrs)
    return [
        _named(image, vaddr, frames, binary, demangle) for vaddr, frames in zip(vaddrs, found, strict=True)
    ]


def _named(
    image: ElfImage,
    vaddr: int,
    frames: list[SourceFrame] | None,
    binary: str,
    demangle: Callable[[str], str] | None,
) -> list[SourceFrame]:
    symbol = image.symbols.lookup(vaddr)
    if not frames:
        name = demangle(symbol) if symbol is not None and demangle is not None else symbol
        return [SourceFrame(name, None, None, None, NATIVE, binary)]
    outer = frames[-1]
    # A mangled symbol only fills a missing name: DWARF's plain name reads better than
    # the demangled signature, and is what the source says.
    mangled = symbol is not None and symbol.startswith("_Z")
    if symbol is not None and symbol != outer.function and (not mangled or outer.function is None):
        frames[-1] = outer._replace(function=symbol)
    if demangle is not None:
        for i, frame in enumerate(frames):
            if frame.function is not None and frame.function.startswith("_Z"):
                frames[i] = frame._replace(function=demangle(frame.function))
    return frames


def proc_root(pid: int) -> str:
    """``/proc/PID/root`` when it is readable and differs from ours (a container), else ''."""
    root = f"/proc/{pid}/root"
    try:
        if os.path.samefile(root, "/"):
            return ""
    except OSError:
        return ""
    return root
