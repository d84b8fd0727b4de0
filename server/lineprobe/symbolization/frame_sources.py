"""Frame sources: what names the code of one mapping of a process.

``AddressSpace`` (resolver.py) chooses one source per mapping, once, and from
then on hands it that mapping's addresses in batches; it knows nothing of how a
source names them. A source answers every address it is given, with at least
one frame. The sources here:

- ``ElfDwarfSource``: an ELF file with DWARF (its own, or a separate debug
  file's): file, line and inlined frames, the symbol table naming the
  out-of-line function (see ``resolve_in_image``).
- ``ElfSymbolSource``: an ELF file named by its symbol tables alone (system
  libraries, binaries without debug information).
- ``JitDumpSource``: JIT code in anonymous memory with its source lines, from
  the runtime's jitdump (Node's ``--perf-prof``); what it does not hold goes to
  the perf map's source.
- ``PerfMapSource``: JIT code in anonymous memory, named by the runtime's
  ``/tmp/perf-PID.map``.
- ``UnnamedSource``: code nothing can name (``[vdso]``, a file that cannot be
  read, an address outside every mapping).

A new kind of source (jitdump, a JVM's line tables) is a class with a
``frames`` method, chosen for the mappings it knows in
``AddressSpace.source_for``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from lineprobe.symbolization.elf_image import ElfImage
from lineprobe.symbolization.frame import INLINED, JIT, NATIVE, SourceFrame
from lineprobe.symbolization.jitdump import JitDump
from lineprobe.symbolization.perf_map import PerfMap
from lineprobe.symbolization.source_maps import SourceMaps


class FrameSource(Protocol):
    """Names the code of the mappings it was chosen for."""

    def frames(self, addresses: Sequence[int]) -> list[list[SourceFrame]]:
        """The frames of each runtime address, innermost first and never empty, in order.

        Addresses are the process's (return addresses already moved back into their call);
        a batch lets a source search its tables once for all of them.
        """
        ...


class UnnamedSource:
    """Code without anything to name it: one unnamed frame in ``binary`` per address."""

    def __init__(self, binary: str) -> None:
        self.binary = binary

    def frames(self, addresses: Sequence[int]) -> list[list[SourceFrame]]:
        binary = self.binary
        return [[SourceFrame(None, None, None, None, NATIVE, binary)] for _ in addresses]


class PerfMapSource:
    """JIT code named by the runtime's perf map; what it does not name stays unnamed in ``binary``."""

    def __init__(self, perf_map: PerfMap, binary: str) -> None:
        self.perf_map = perf_map
        self.binary = binary

    def frames(self, addresses: Sequence[int]) -> list[list[SourceFrame]]:
        lookup = self.perf_map.lookup
        result = []
        for address in addresses:
            name = lookup(address)
            if name is not None:
                result.append([SourceFrame(name, None, None, None, JIT, "[jit]")])
            else:
                result.append([SourceFrame(None, None, None, None, NATIVE, self.binary)])
        return result


class JitDumpSource:
    """JIT code on its source lines, from a jitdump: the line of the source position whose
    instructions hold the address, in the function the code was compiled for. A JavaScript
    function's code without positions (an interpreter's trampoline) is put on the line that
    declares the function. JavaScript compiled from TypeScript (or another language) goes on
    to the line it was written on, through the script's source map. Addresses the dump does
    not hold are ``otherwise``'s."""

    def __init__(
        self, jitdump: JitDump, otherwise: FrameSource, source_maps: SourceMaps | None = None
    ) -> None:
        self.jitdump = jitdump
        self.otherwise = otherwise
        self.source_maps = source_maps
        self.not_in_dump = 0
        """Addresses the dump did not hold (code V8 had not written yet, or not JIT code)."""

    def frames(self, addresses: Sequence[int]) -> list[list[SourceFrame]]:
        lookup = self.jitdump.lookup
        result: list[list[SourceFrame] | None] = []
        missing: list[int] = []
        for address in addresses:
            code = lookup(address)
            if code is None:
                missing.append(len(result))
                result.append(None)
                continue
            position = code.position(address)
            script = code.script if code.script is not None and code.script.startswith("/") else None
            function_line = code.function_line
            if script is not None and function_line is not None:
                script, function_line = self._original(script, function_line, code.function_column)
            path: str | None = code.script
            line: int | None = code.function_line
            column = code.function_column
            if position is not None and position.path is not None:
                path, line, column = position.path, position.line or None, position.column
            if path is not None and line is not None:
                path, line = self._original(path, line, column)
            if position is None or not position.callers:
                function = position.function if position is not None and position.function else code.function
                result.append([SourceFrame(function, path, line, None, JIT, "[jit]", script, function_line)])
                continue
            # An inline chain: the innermost method inlined into the next, the outermost compiled.
            # A JavaScript caller's line goes through its script's source map as the innermost's did.
            callers = [
                (name, *self._original(where, at, None))
                if where and where.startswith("/") and at
                else (name, where, at)
                for name, where, at in position.callers
            ]
            chain = [(position.function, path, line), *callers]
            frames = [
                SourceFrame(name, where, at or None, None, INLINED, "[jit]") for name, where, at in chain[:-1]
            ]
            name, where, at = chain[-1]
            frames.append(
                SourceFrame(
                    name or code.function, where, at or None, None, JIT, "[jit]", script, function_line
                )
            )
            result.append(frames)
        if missing:
            self.not_in_dump += len(missing)
            named = self.otherwise.frames([addresses[i] for i in missing])
            for i, frames in zip(missing, named, strict=True):
                result[i] = frames
        return [frames for frames in result if frames is not None]

    def _original(self, path: str, line: int, column: int | None) -> tuple[str, int]:
        """Where a script's line was written, by its source map (itself where it has none)."""
        found = self.source_maps.original(path, line, column) if self.source_maps is not None else None
        return found if found is not None else (path, line)


class _MappedElf:
    """A mapping of an ELF file: runtime address -> file offset -> the PT_LOAD segment's
    virtual address, which DWARF and the symbol table speak of."""

    def __init__(self, image: ElfImage, start: int, offset: int, binary: str) -> None:
        self.image = image
        self.binary = binary
        self._bias = offset - start

    def vaddrs(self, addresses: Sequence[int]) -> list[int | None]:
        to_vaddr, bias = self.image.file_offset_to_vaddr, self._bias
        return [to_vaddr(address + bias) for address in addresses]


class ElfSymbolSource(_MappedElf):
    """An ELF file named by its function symbols (.symtab, .dynsym), C++ names demangled.

    ``debug_file``, when given, is asked for a separate debug file whose ``.symtab`` names
    what the stripped file's symbols do not (static functions); it is called on the first
    such address only.
    """

    def __init__(
        self,
        image: ElfImage,
        start: int,
        offset: int,
        binary: str,
        demangle: Callable[[str], str],
        debug_file: Callable[[], ElfImage | None] | None = None,
    ) -> None:
        super().__init__(image, start, offset, binary)
        self._demangle = demangle
        self._debug_file = debug_file

    def frames(self, addresses: Sequence[int]) -> list[list[SourceFrame]]:
        binary, lookup = self.binary, self.image.symbols.lookup
        result = []
        for vaddr in self.vaddrs(addresses):
            name = None
            if vaddr is not None:
                name = lookup(vaddr)
                if name is None and self._debug_file is not None:
                    debug = self._debug_file()
                    name = debug.symbols.lookup(vaddr) if debug is not None else None
                if name is not None:
                    name = self._demangle(name)
            result.append([SourceFrame(name, None, None, None, NATIVE, binary)])
        return result


class ElfDwarfSource(_MappedElf):
    """An ELF file with DWARF, its own or ``debug``'s: lines and inlined frames."""

    def __init__(
        self,
        image: ElfImage,
        start: int,
        offset: int,
        binary: str,
        demangle: Callable[[str], str],
        debug: ElfImage | None = None,
    ) -> None:
        super().__init__(image, start, offset, binary)
        self._demangle = demangle
        self._debug = debug

    def frames(self, addresses: Sequence[int]) -> list[list[SourceFrame]]:
        vaddrs = self.vaddrs(addresses)
        if len(vaddrs) == 1 and vaddrs[0] is not None:  # one by one: no batch to set up
            return [resolve_in_image(self.image, vaddrs[0], self.binary, self._debug, self._demangle)]
        inside = [vaddr for vaddr in vaddrs if vaddr is not None]
        found = iter(resolve_many(self.image, inside, self.binary, self._debug, self._demangle))
        return [
            next(found) if vaddr is not None else [SourceFrame(None, None, None, None, NATIVE, self.binary)]
            for vaddr in vaddrs
        ]


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
