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

from lineprobe.model.capture import CaptureHeader
from lineprobe.model.mapping import MappedFile
from lineprobe.symbolization.debug_link import find_debug_file
from lineprobe.symbolization.demangle import Demangler
from lineprobe.symbolization.elf_image import ElfImage, debug_file_for
from lineprobe.symbolization.frame import SourceFrame
from lineprobe.symbolization.frame_archive import ArchivedFrameSource, FrameArchive, code_identity
from lineprobe.symbolization.frame_sources import (
    ElfDwarfSource,
    ElfSymbolSource,
    FrameSource,
    JitDumpSource,
    PerfMapSource,
    UnnamedSource,
    resolve_in_image,
    resolve_many,
)
from lineprobe.symbolization.index_cache import IndexCache
from lineprobe.symbolization.jitdump import JitDump, jitdump_path, load_jitdump
from lineprobe.symbolization.jvm_methods import INTERPRETER, JvmMethods, load_jvm_methods, methods_path
from lineprobe.symbolization.perf_map import PerfMap, load_perf_map, perf_map_path
from lineprobe.symbolization.runtime_hints import is_node, jit_hint
from lineprobe.symbolization.source_freshness import source_problem
from lineprobe.symbolization.source_maps import SourceMaps
from lineprobe.symbolization.user_code import SYSTEM_PREFIXES
from lineprobe.symbolization.v8_log import V8Log, load_v8_log, v8_log_paths, with_v8_positions
from lineprobe.symbolization.vdso import vdso_file

__all__ = ["AddressSpace", "ImageCache", "MappedFile", "proc_root", "resolve_in_image", "resolve_many"]


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
    frame_archive: FrameArchive | None = None
    """Frames of the capture being resolved, asked first and given what files name (``for_capture``)."""
    jit_directories: tuple[str, ...] = ()
    """Where a process of the capture being resolved may have left its jitdump, once it is gone
    (a launched command's working directory); a live process's is its own working directory."""
    _vdso: ElfImage | None = field(default=None, init=False)
    _vdso_read: bool = field(default=False, init=False)

    def kernel_vdso(self) -> ElfImage | None:
        """The running kernel's vDSO (``vdso.py``), kept in the index cache; None without one."""
        if not self._vdso_read:
            self._vdso_read = True
            path = vdso_file(self.index_cache.root) if self.index_cache is not None else None
            self._vdso = ElfImage(str(path), display_path="[vdso]") if path is not None else None
        return self._vdso

    def for_capture(
        self, archive: FrameArchive | None = None, jit_directories: tuple[str, ...] = ()
    ) -> ImageCache:
        """This cache (the same opened images) resolving one capture: through ``archive`` (the
        frames a saved capture kept, or an empty archive that keeps the frames for saving), with
        ``jit_directories`` to look for a jitdump in."""
        view = ImageCache(
            self.images,
            self.debug_images,
            self.index_cache,
            self.demangle,
            self.debug_root,
            archive,
            jit_directories,
        )
        view._vdso, view._vdso_read = self._vdso, self._vdso_read
        return view

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
    """Resolves addresses of one process, given the mappings the agent recorded.

    Each mapping is named by the frame source chosen for it on its first address
    (``source_for``); ``resolve`` and ``prefetch`` only hand sources their addresses.
    """

    mappings: Sequence[MappedFile]
    cache: ImageCache
    root: str = ""
    """Prefix for reading mapped files (``/proc/PID/root`` for a process in a container)."""
    pid: int = 0
    """The process, naming its memory that no file backs in a frame archive."""
    _starts: list[int] = field(init=False)
    _resolved: dict[tuple[int, bool], list[SourceFrame]] = field(default_factory=dict, init=False)
    _sources: dict[int, FrameSource] = field(default_factory=dict, init=False)
    """The source chosen for each mapping, by its index (-1: addresses outside every mapping)."""
    binaries_without_debug_info: set[str] = field(default_factory=set, init=False)
    _runtime_hints: list[str] = field(default_factory=list, init=False)

    perf_map: PerfMap | None = None
    """Names for JIT code in anonymous mappings (``/tmp/perf-PID.map``)."""
    jitdump: JitDump | None = None
    """Lines for JIT code in anonymous mappings (``jit-PID.dump``), before the perf map's names."""
    v8_logged_codes: int = 0
    """Compiled code with source positions in V8's logs beside the jitdump (``v8_log.py``; node
    writes a log of its own without them under --perf-prof): without any, node's inlined
    functions go unnamed."""
    jvm_methods: JvmMethods | None = None
    """The methods a JVM's interpreter may run (``jit-PID.methods``, beside the jitdump)."""
    source_maps: SourceMaps = field(default_factory=SourceMaps)
    """The maps of compiled JavaScript's scripts (TypeScript's), read from under ``root``."""
    exe: str = ""
    """The traced program, which says what a runtime would need to name its JIT code."""
    kernel_vdso: bool = False
    """The process ran on this kernel: its ``[vdso]`` is named by the server's own (a replay
    may come from another kernel, whose vDSO differs)."""

    def __post_init__(self) -> None:
        self.mappings = sorted(self.mappings, key=lambda m: m.start)
        self._starts = [m.start for m in self.mappings]
        self.source_maps.root = self.root

    @classmethod
    def of_capture(cls, header: CaptureHeader, cache: ImageCache) -> AddressSpace:
        """The address space of a captured process, as its header recorded it."""
        space = cls.of_process(header.pid, header.mappings, cache, header.process_gone, header.replayed)
        space.kernel_vdso = not header.replayed
        space.exe = header.exe
        return space

    @classmethod
    def of_process(
        cls, pid: int, mappings: Sequence[MappedFile], cache: ImageCache, exited: bool, replayed: bool = False
    ) -> AddressSpace:
        """The address space of a traced process: its files through /proc/PID/root while it
        lives, and the perf map of its JIT, if it wrote one. A ``replayed`` capture's PID is
        another machine's (or a past process's): a JVM's methods file of that number here is
        some other JVM's, and only what the capture kept names its interpreter frames."""
        root = proc_root(pid) if not exited else ""
        try:
            owner = os.stat(f"/proc/{pid}").st_uid if not exited else os.getuid()
        except OSError:
            owner = os.getuid()  # gone since: the user asking stands in for it, as for perf
        perf_map = load_perf_map(perf_map_path(pid, root), owner)
        jitdump = None
        v8_logs: list[V8Log] = []
        # Node writes its jitdump where it runs; lineprobe's JVMTI agent, in /tmp.
        for directory in ([] if exited else [f"/proc/{pid}/cwd"]) + [*cache.jit_directories, "/tmp"]:
            jitdump = load_jitdump(jitdump_path(pid, directory), owner)
            if jitdump is not None:
                # node's log beside it (--log-code --log-source-code) names what TurboFan inlined.
                logs = [load_v8_log(path, owner) for path in v8_log_paths(pid, directory)]
                v8_logs = [log for log in logs if log is not None]
                jitdump = with_v8_positions(jitdump, v8_logs)
                break
        jvm_methods = (
            load_jvm_methods(methods_path(jitdump.path), owner)
            if jitdump is not None and not replayed
            else None
        )
        archive = cache.frame_archive
        if archive is not None:
            # A saved capture names its interpreter frames from the methods it kept (the agent's
            # file is gone by then); a capture being saved keeps the ones its frames name.
            identity = code_identity(None, pid)
            kept = archive.jvm_methods.get(identity)
            if kept is not None and kept.by_pointer:
                jvm_methods = kept
            elif jvm_methods is not None:
                jvm_methods.kept = archive.jvm_methods[identity] = JvmMethods(
                    jvm_methods.path, jvm_methods.method_slot, jvm_methods.bcp_slot
                )
        return cls(
            mappings,
            cache,
            root,
            pid,
            perf_map=perf_map,
            jitdump=jitdump,
            v8_logged_codes=sum(len(log.codes) for log in v8_logs),
            jvm_methods=jvm_methods,
        )

    def _index_of(self, address: int) -> int:
        """The index of the mapping that holds ``address``, -1 for none."""
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0 and address < self.mappings[i].end:
            return i
        return -1

    def mapping_for(self, address: int) -> MappedFile | None:
        i = self._index_of(address)
        return self.mappings[i] if i >= 0 else None

    def file_address(self, address: int) -> tuple[ElfImage, int] | None:
        """The ELF file mapped at a runtime address and the virtual address it maps there
        (None outside mapped files, or where the file's PT_LOAD segments do not reach)."""
        mapping = self.mapping_for(address)
        if mapping is None or not mapping.path.startswith("/"):
            return None
        image = self.cache.image(mapping.path, mapping.build_id, self.root)
        vaddr = image.file_offset_to_vaddr(address - mapping.start + mapping.offset)
        return (image, vaddr) if vaddr is not None else None

    def resolve(self, address: int, is_return_address: bool) -> list[SourceFrame]:
        key = (address, is_return_address)
        frames = self._resolved.get(key)
        if frames is None:
            frames = self._frames_of(address - 1 if is_return_address else address)
            self._resolved[key] = frames
        return frames

    def resolve_stack(
        self, addresses: Iterable[int], interpreted: Callable[[int], SourceFrame | None] | None = None
    ) -> list[SourceFrame]:
        """A user stack (leaf first) as source frames, innermost first, inline frames expanded.

        ``interpreted`` names the method a frame in a JVM's interpreter ran, by its depth
        (``jvm_methods.py``): one address, the interpreter's, runs every interpreted method."""
        frames: list[SourceFrame] = []
        for depth, address in enumerate(addresses):
            resolved = self.resolve(address, is_return_address=depth > 0)
            first = resolved[0]
            if interpreted is not None and first.function in INTERPRETER and first.binary == "[jit]":
                method = interpreted(depth)
                if method is not None:
                    frames.append(method)
                    continue
            frames.extend(resolved)
        return frames

    def prefetch(self, stacks: Iterable[Sequence[int]]) -> None:
        """Resolve every address of these user stacks (leaf first) now, one batch per mapping's
        source, so that the accelerator searches each binary's units in one call; ``resolve``
        and ``resolve_stack`` then answer from what this kept."""
        batches: dict[int, dict[tuple[int, bool], int]] = {}
        resolved = self._resolved
        for stack in stacks:
            for depth, address in enumerate(stack):
                key = (address, depth > 0)
                if key in resolved:
                    continue
                looked_up = address - 1 if depth > 0 else address
                batches.setdefault(self._index_of(looked_up), {})[key] = looked_up
        for index, batch in batches.items():
            found = self.source_for(index).frames(list(batch.values()))
            resolved.update(zip(batch, found, strict=True))

    def _frames_of(self, address: int) -> list[SourceFrame]:
        return self.source_for(self._index_of(address)).frames([address])[0]

    def source_for(self, index: int) -> FrameSource:
        """The frame source of the mapping at ``index`` (-1: addresses outside every mapping),
        chosen on first use."""
        source = self._sources.get(index)
        if source is None:
            mapping = self.mappings[index] if index >= 0 else None
            archive = self.cache.frame_archive
            if archive is None:
                source = self._choose_source(mapping)
            else:
                places = archive.places(code_identity(mapping, self.pid))
                source = ArchivedFrameSource(places, mapping, lambda: self._choose_source(mapping))
            self._sources[index] = source
        return source

    def _choose_source(self, mapping: MappedFile | None) -> FrameSource:
        if mapping is None or not mapping.path:
            # Anonymous memory holds JIT code, and code mapped after the agent's last
            # look at the maps may be too: the runtime's perf map names what it knows.
            binary = "[unmapped]" if mapping is None else "[anonymous]"
            hint = jit_hint(self.exe, self.pid, self.perf_map is not None, self.jitdump is not None)
            if hint is not None and hint not in self._runtime_hints:
                self._runtime_hints.append(hint)
            named: FrameSource = (
                PerfMapSource(self.perf_map, binary) if self.perf_map is not None else UnnamedSource(binary)
            )
            if self.jitdump is None:
                return named
            return JitDumpSource(self.jitdump, named, self.source_maps)
        binary = mapping.path
        vdso = self.cache.kernel_vdso() if binary == "[vdso]" and self.kernel_vdso else None
        if vdso is not None and vdso.segments:
            return ElfSymbolSource(vdso, mapping.start, mapping.offset, binary, self.cache.demangle)
        if not binary.startswith("/"):
            return UnnamedSource(binary)  # [vvar] and the like: no file to read
        image = self.cache.image(binary, mapping.build_id, self.root)
        if not image.segments:
            return UnnamedSource(binary)  # unreadable: no address of it reaches the file
        demangle = self.cache.demangle
        if binary.startswith(SYSTEM_PREFIXES):
            # The system's libraries are never the site of a finding: their
            # function names are enough, and decoding their (often separate,
            # large) DWARF would cost the first profile most of a second.
            # A separate debug file still names static functions through its .symtab.
            cache = self.cache
            return ElfSymbolSource(
                image, mapping.start, mapping.offset, binary, demangle, lambda: cache.debug_image(image)
            )
        if image.dwarf is not None:
            return ElfDwarfSource(image, mapping.start, mapping.offset, binary, demangle)
        debug = self.cache.debug_image(image)
        if debug is not None and debug.dwarf is not None:
            return ElfDwarfSource(image, mapping.start, mapping.offset, binary, demangle, debug)
        self.binaries_without_debug_info.add(binary)
        return ElfSymbolSource(image, mapping.start, mapping.offset, binary, demangle)

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
        if self.jitdump is not None:
            seen.extend(self.jitdump.problems)
        if self.jvm_methods is not None:
            seen.extend(self.jvm_methods.problems)
        seen.extend(self.source_maps.problems)
        seen.extend(self._runtime_hints)
        jit_sources = [s for s in self._sources.values() if isinstance(s, JitDumpSource)]
        if jit_sources and self.jitdump is not None and is_node(self.exe) and not self.v8_logged_codes:
            seen.append(
                f"node (PID {self.pid}) writes no V8 log beside {self.jitdump.path}: a function "
                "TurboFan inlined is shown as the one it was inlined into, and code compiled since "
                "V8 last wrote its jitdump has no line; restart node with --log-code "
                "--log-source-code as well (a node launched by lineprobe gets them)"
            )
        late = sum(s.not_in_dump for s in jit_sources)
        if late and self.jitdump is not None and is_node(self.exe):
            seen.append(
                f"{late} JIT addresses are not in {self.jitdump.path} (yet: V8 writes it through a 2 MB "
                "buffer, so the code compiled last may be missing until more is compiled or node "
                "exits); they are named from the perf map, without lines, where node has one"
            )
        for image in self.cache.images.values():
            seen.extend(image.problems)
            seen.extend(image.dwarf_problems)
        return list(dict.fromkeys(seen))


def proc_root(pid: int) -> str:
    """``/proc/PID/root`` when it is readable and differs from ours (a container), else ''."""
    root = f"/proc/{pid}/root"
    try:
        if os.path.samefile(root, "/"):
            return ""
    except OSError:
        return ""
    return root
