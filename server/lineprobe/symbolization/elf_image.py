"""One ELF file opened for resolution: load segments, build-id, symbols, DWARF.

Everything that can fail on a hostile or damaged file is caught here and
turned into a ``problems`` entry: resolution of the rest goes on with what is
intact (a broken DWARF still leaves the symbol table, and so on).
"""

from __future__ import annotations

import io
import lzma
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elftools.common.exceptions import DWARFError, ELFError, ELFParseError
from elftools.elf.elffile import ELFFile

from lineprobe.symbolization.debug_link import DebugLink, parse_debuglink
from lineprobe.symbolization.dwarf_index import DwarfIndex
from lineprobe.symbolization.index_cache import IndexCache
from lineprobe.symbolization.regular_file import open_regular
from lineprobe.symbolization.symbol_table import SymbolTable

# pyelftools raises these (and, on malformed input, plain built-ins) from deep
# inside its parsers; every entry point below catches this tuple.
PARSE_ERRORS: tuple[type[BaseException], ...] = (
    ELFError,
    ELFParseError,
    DWARFError,
    OSError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    AssertionError,
    RecursionError,
    UnicodeDecodeError,
    OverflowError,
    NotImplementedError,  # pyelftools' answer to DWARF it does not support (e.g. segmented .debug_aranges)
    zlib.error,  # a corrupt SHF_COMPRESSED or .zdebug_ section: pyelftools lets zlib's error through
)

try:  # construct's own error, which pyelftools lets through on truncated data
    from elftools.construct.core import ConstructError

    PARSE_ERRORS = (*PARSE_ERRORS, ConstructError)
except ImportError:  # pragma: no cover - depends on the pyelftools version
    pass


MAX_INFLATION = 64
"""A compressed section may claim at most this many times its stored size.

DWARF shrinks 3 to 10 times with zlib; pyelftools inflates up to the size the
header claims, so an unchecked claim of gigabytes costs gigabytes of memory.
"""


class _ClampedReader(io.BufferedReader):
    """A file whose reads never ask for more than what is left of it.

    ``read(n)`` allocates n bytes before reading, and pyelftools reads
    ``sh_size`` bytes, which a damaged section header sets to terabytes
    (a MemoryError, or gigabytes of address space, for a tiny file).
    """

    def __init__(self, raw: io.FileIO, size: int) -> None:
        super().__init__(raw)
        self.size = size

    def read(self, n: int | None = -1, /) -> bytes:
        if n is not None and n > 0:
            n = min(n, max(self.size - self.tell(), 0))
        return super().read(n)


def _size_problem(section: Any, file_size: int) -> str | None:
    """Why reading ``section`` would cost far more memory than the file's size, or None."""
    if section["sh_type"] == "SHT_NOBITS":
        # data() of a NOBITS section is sh_size zero bytes, made in memory.
        if section.data_size > file_size:
            return f"section {section.name} (no bits) claims {section.data_size} bytes"
    elif section.compressed and section.data_size > MAX_INFLATION * max(section["sh_size"], 4096):
        return (
            f"compressed section {section.name} claims {section.data_size} bytes "
            f"from {section['sh_size']} stored"
        )
    elif section.name.startswith(".zdebug_") and section["sh_size"] >= 12:
        # The legacy GNU format: "ZLIB", then the inflated size as a big-endian u64.
        section.stream.seek(section["sh_offset"])
        head = section.stream.read(12)
        claimed = int.from_bytes(head[4:12], "big") if head[:4] == b"ZLIB" else 0
        if claimed > MAX_INFLATION * max(section["sh_size"], 4096):
            return (
                f"compressed section {section.name} claims {claimed} bytes from {section['sh_size']} stored"
            )
    return None


@dataclass(frozen=True)
class LoadSegment:
    vaddr: int
    memsz: int
    offset: int
    filesz: int


ELF64_PHDR = struct.Struct("<IIQQQQQQ")
"""Elf64_Phdr: p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align."""
PT_LOAD = 1
PT_NOTE = 4
MAX_BUILD_ID_BYTES = 64
"""GNU build-ids are 16 (md5, uuid) or 20 (sha1) bytes; longer is a damaged note."""


def _build_id(desc: Any, problems: list[str], display_path: str) -> str | None:
    text = str(desc)
    if not 8 <= len(text) <= 2 * MAX_BUILD_ID_BYTES or any(c not in "0123456789abcdef" for c in text):
        problems.append(f"{display_path}: build-id note of {len(text) // 2} bytes ignored (damaged)")
        return None
    return text


ELF64_SYM = struct.Struct("<IBBHQQ")
"""Elf64_Sym (gABI): st_name, st_info, st_other, st_shndx, st_value, st_size."""
STT_FUNC = 2
STT_GNU_IFUNC = 10


def _read_symbols(elf: Any, file_size: int, inner: Any = None) -> SymbolTable:
    """Function symbols of ``.dynsym`` and ``.symtab`` (and, with ``inner``, of the ELF file
    ``.gnu_debugdata`` holds: ``mini_debuginfo``).

    The table is decoded with ``struct`` straight from the section bytes
    (pyelftools supplies the sections): building a Symbol object per entry
    costs about 10 times more on a library with thousands of symbols.
    """
    entries: dict[int, tuple[int, str]] = {}
    little = elf.little_endian and elf.elfclass == 64
    for section_name in (".dynsym", ".symtab"):  # .symtab wins where both name an address
        section = elf.get_section_by_name(section_name)
        if section is None or not hasattr(section, "iter_symbols"):
            continue
        strings = elf.get_section(section["sh_link"])
        for part in (section, strings):
            problem = _size_problem(part, file_size)
            if problem is not None:
                raise ELFError(problem)
        if not little:  # the rare big-endian or 32-bit file: pyelftools' own decoding
            for symbol in section.iter_symbols():
                if symbol["st_info"]["type"] in ("STT_FUNC", "STT_GNU_IFUNC") and symbol["st_value"]:
                    entries[symbol["st_value"]] = (
                        symbol["st_value"] + max(symbol["st_size"], 1),
                        symbol.name,
                    )
            continue
        data = section.data()
        names = strings.data()
        usable = len(data) - len(data) % ELF64_SYM.size
        for st_name, st_info, _, _, value, size in ELF64_SYM.iter_unpack(data[:usable]):
            if st_info & 0xF not in (STT_FUNC, STT_GNU_IFUNC) or value == 0 or st_name >= len(names):
                continue
            end = names.find(b"\0", st_name)
            name = names[st_name : end if end >= 0 else len(names)].decode("utf-8", errors="replace")
            if name:
                entries[value] = (value + max(size, 1), name)
    if little and elf.header["e_machine"] == "EM_X86_64":
        for start, (end, name) in _plt_stubs(elf, file_size).items():
            entries.setdefault(start, (end, name))  # a symbol of the stub's own wins
    if inner is not None:
        table = _read_symbols(inner, len(inner.stream.getbuffer()))
        for start, end, name in zip(table.starts, table.ends, table.names, strict=True):
            if name:
                entries.setdefault(start, (end, name))  # the file's own tables win
    starts = sorted(entries)
    return SymbolTable(starts, [entries[a][0] for a in starts], [entries[a][1] for a in starts])


MAX_DEBUGDATA = 256 * 1024 * 1024
"""The most a ``.gnu_debugdata`` section may inflate to (Fedora's largest are a few MiB)."""


def mini_debuginfo(elf: Any, file_size: int) -> Any:
    """The ELF file inside ``.gnu_debugdata`` (MiniDebugInfo: an xz-compressed file whose
    ``.symtab`` names the functions ``.dynsym`` lacks), or None when there is none. Raises
    ELFError when the section cannot be read."""
    section = elf.get_section_by_name(".gnu_debugdata")
    if section is None:
        return None
    problem = _size_problem(section, file_size)
    if problem is not None:
        raise ELFError(problem)
    decompressor = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    try:
        inflated = decompressor.decompress(section.data(), max_length=MAX_DEBUGDATA)
    except lzma.LZMAError as exc:
        raise ELFError(f".gnu_debugdata is not xz data ({exc})") from None
    if not decompressor.eof:
        raise ELFError(f".gnu_debugdata inflates past {MAX_DEBUGDATA} bytes, or is cut short")
    return ELFFile(io.BytesIO(inflated))


ELF64_RELA = struct.Struct("<QQq")
"""Elf64_Rela: r_offset, r_info, r_addend."""
R_X86_64_JUMP_SLOT = 7
R_X86_64_IRELATIVE = 37
PLT_ENTRY = 16
"""x86-64's lazy PLT entry and IBT's .plt.sec entry are both 16 bytes."""


def _plt_stubs(elf: Any, file_size: int) -> dict[int, tuple[int, str]]:
    """The x86-64 PLT's stubs, named as perf and objdump name them (``memcpy@plt``): stub *i*
    calls the function of ``.rela.plt``'s relocation *i*; it sits in ``.plt.sec`` where the file
    has one (IBT), else in ``.plt`` after its first, resolver entry. An ifunc's stub has no
    symbol: ``*ABS*+0xADDEND@plt``, as objdump writes it."""
    relocations = elf.get_section_by_name(".rela.plt")
    stubs = elf.get_section_by_name(".plt.sec")
    first = 0
    if stubs is None:
        stubs, first = elf.get_section_by_name(".plt"), 1
    if relocations is None or stubs is None or not relocations["sh_link"]:
        return {}
    symbols = elf.get_section(relocations["sh_link"])
    strings = elf.get_section(symbols["sh_link"])
    for part in (relocations, symbols, strings):
        problem = _size_problem(part, file_size)
        if problem is not None:
            raise ELFError(problem)
    table, names = symbols.data(), strings.data()
    data = relocations.data()
    found: dict[int, tuple[int, str]] = {}
    count = int(stubs["sh_size"]) // PLT_ENTRY - first
    for index, (_, info, addend) in enumerate(ELF64_RELA.iter_unpack(data[: len(data) - len(data) % 24])):
        if index >= count:
            break
        kind, symbol = info & 0xFFFFFFFF, info >> 32
        if kind == R_X86_64_IRELATIVE:
            name = f"*ABS*+{addend:#x}"
        elif kind == R_X86_64_JUMP_SLOT and (symbol + 1) * ELF64_SYM.size <= len(table):
            st_name = ELF64_SYM.unpack_from(table, symbol * ELF64_SYM.size)[0]
            end = names.find(b"\0", st_name)
            name = names[st_name : end if end >= 0 else len(names)].decode("utf-8", errors="replace")
        else:
            continue
        if name:
            start = int(stubs["sh_addr"]) + (index + first) * PLT_ENTRY
            found[start] = (start + PLT_ENTRY, f"{name}@plt")
    return found


class ElfImage:
    """An ELF executable or shared library, parsed lazily and defensively."""

    def __init__(
        self, path: str, display_path: str | None = None, index_cache: IndexCache | None = None
    ) -> None:
        self._index_cache = index_cache
        self.path = path
        self.display_path = display_path or path
        self.problems: list[str] = []
        self.derived: dict[str, Any] = {}
        """What layers above derive from this file and keep as long as it is open (the unwinder's
        CFI table, under its own key): symbolization never reads it."""
        self.build_id: str | None = None
        self.segments: list[LoadSegment] = []
        self._symbols: SymbolTable | None = None
        self._stream: _ClampedReader | None = None
        self._elf: Any = None
        self._dwarf: DwarfIndex | None = None
        self._dwarf_loaded = False
        self._dwarf_size_checked: str | None = None
        self._open()

    def _open(self) -> None:
        try:
            fd, info = open_regular(self.path)
            self._stream = stream = _ClampedReader(io.FileIO(fd, "rb"), info.st_size)
            self._elf = ELFFile(stream)
            # pyelftools parses each program header through construct (~0.1 ms each): a
            # damaged e_phnum of 65535 costs seconds. Linux loads no ELF whose program
            # headers exceed 64 KiB (binfmt_elf.c, elf_read_phdrs); neither do we.
            phdrs = self._elf.num_segments() * self._elf.header["e_phentsize"]
            # Nor one whose program header size is not its class's (elf_read_phdrs again).
            if self._elf.num_segments() and self._elf.header["e_phentsize"] != (
                56 if self._elf.elfclass == 64 else 32
            ):
                raise ELFError(
                    f"program header size {self._elf.header['e_phentsize']} is not the ELF class's"
                )
            if phdrs > 65536 or self._elf.header["e_phoff"] + phdrs > stream.size:
                raise ELFError(f"{self._elf.num_segments()} program headers do not fit in the file")
            notes = self._read_program_headers(stream)
            for note_segment in notes:
                for note in note_segment.iter_notes():
                    if note["n_type"] == "NT_GNU_BUILD_ID":
                        self.build_id = _build_id(note["n_desc"], self.problems, self.display_path)
        except PARSE_ERRORS as exc:
            self.problems.append(f"{self.display_path}: not a readable ELF file ({describe_error(exc)})")
            self._elf = None
            return

    def _read_program_headers(self, stream: _ClampedReader) -> list[Any]:
        """PT_LOAD segments into ``segments``; returns the PT_NOTE segments.

        A little-endian ELF64's headers are unpacked with ``struct`` in one read: pyelftools
        parses each through construct, which costs seconds on a damaged e_phnum.
        """
        elf = self._elf
        header = elf.header
        if not (elf.little_endian and elf.elfclass == 64 and header["e_phentsize"] == ELF64_PHDR.size):
            for segment in elf.iter_segments(type="PT_LOAD"):
                self.segments.append(
                    LoadSegment(
                        segment["p_vaddr"], segment["p_memsz"], segment["p_offset"], segment["p_filesz"]
                    )
                )
            return list(elf.iter_segments(type="PT_NOTE"))
        stream.seek(header["e_phoff"])
        table = stream.read(elf.num_segments() * ELF64_PHDR.size)
        notes = []
        for index, (p_type, _, offset, vaddr, _, filesz, memsz, _) in enumerate(
            ELF64_PHDR.iter_unpack(table)
        ):
            if p_type == PT_LOAD:
                self.segments.append(LoadSegment(vaddr, memsz, offset, filesz))
            elif p_type == PT_NOTE:
                notes.append(elf.get_segment(index))
        return notes

    @property
    def symbols(self) -> SymbolTable:
        """Function symbols of .dynsym and .symtab, read on first use (100,000s in a large library)."""
        if self._symbols is None:
            self._symbols = SymbolTable()
            tables = self.symbol_tables()
            cache = self._index_cache if self.build_id and tables else None
            cached = cache.load_symbols(self.build_id, tables) if cache and self.build_id else None
            if cached is not None:
                starts, ends, names = cached
                self._symbols = SymbolTable(starts, ends, names)
            elif self._elf is not None and self._stream is not None:
                inner = None
                try:
                    inner = mini_debuginfo(self._elf, self._stream.size)
                except PARSE_ERRORS as exc:
                    self.problems.append(
                        f"{self.display_path}: .gnu_debugdata unreadable ({describe_error(exc)})"
                    )
                try:
                    self._symbols = _read_symbols(self._elf, self._stream.size, inner)
                    if cache and self.build_id:
                        table = self._symbols
                        cache.save_symbols(self.build_id, tables, table.starts, table.ends, table.names)
                except PARSE_ERRORS as exc:
                    self.problems.append(
                        f"{self.display_path}: symbol table unreadable ({describe_error(exc)})"
                    )
        return self._symbols

    def symbol_tables(self) -> str:
        """Which symbol tables this file holds, and their sizes (``dynsym4608-symtab0``): what
        tells a stripped file from its debug file, which share a build-id. Empty if unreadable."""
        if self._elf is None:
            return ""
        sizes = []
        for name in (".dynsym", ".symtab", ".gnu_debugdata"):
            try:
                section = self._elf.get_section_by_name(name)
            except PARSE_ERRORS:
                return ""
            if section is not None or name != ".gnu_debugdata":
                sizes.append(f"{name[1:]}{int(section['sh_size']) if section is not None else 0}")
        # The PLT's stubs are named since (entries cached before lack them).
        return "-".join([*sizes, "plt1"])

    def debuglink(self) -> DebugLink | None:
        """The ``.gnu_debuglink`` section's file name and CRC, if the file has one."""
        if self._elf is None:
            return None
        try:
            section = self._elf.get_section_by_name(".gnu_debuglink")
            if section is None or section["sh_size"] > 4096:
                return None
            return parse_debuglink(section.data())
        except PARSE_ERRORS as exc:
            self.problems.append(f"{self.display_path}: .gnu_debuglink unreadable ({describe_error(exc)})")
            return None

    @property
    def readable(self) -> bool:
        return self._elf is not None

    def file_offset_to_vaddr(self, offset: int) -> int | None:
        """Where a file offset lands in the ELF's virtual addresses (PT_LOAD segments)."""
        for seg in self.segments:
            if seg.offset <= offset < seg.offset + max(seg.filesz, 1):
                return offset - seg.offset + seg.vaddr
        return None

    @property
    def dwarf(self) -> DwarfIndex | None:
        """The DWARF index, built on first use; None when the file has no usable DWARF."""
        if not self._dwarf_loaded:
            self._dwarf_loaded = True
            self._dwarf = self._load_dwarf()
        return self._dwarf

    def section(self, name: str) -> Any | None:
        """pyelftools' section of that name, None when the file has none or is unreadable.

        May raise PARSE_ERRORS on a damaged section table; so may reading the section.
        """
        if self._elf is None:
            return None
        return self._elf.get_section_by_name(name)

    def open_dwarf_info(self) -> Any | None:
        """A new pyelftools DWARFInfo of the file (sections not relocated): what CFI and DWARF are
        read through. None when the file is unreadable, or a DWARF or CFI section would inflate
        far past the file's size (that problem is recorded once). May raise PARSE_ERRORS."""
        if self._elf is None or self._dwarf_sections_too_large():
            return None
        return self._elf.get_dwarf_info(relocate_dwarf_sections=False)

    def _dwarf_sections_too_large(self) -> bool:
        """Whether get_dwarf_info() would inflate a section far past the file's size (checked once)."""
        if self._dwarf_size_checked is None:
            self._dwarf_size_checked = ""
            for section in self._elf.iter_sections():
                if section.name.startswith((".debug_", ".zdebug_", ".eh_frame", ".gnu_debugaltlink")):
                    problem = _size_problem(section, self._stream.size if self._stream else 0)
                    if problem is not None:
                        self._dwarf_size_checked = problem
                        self.problems.append(f"{self.display_path}: DWARF and CFI not read ({problem})")
                        break
        return bool(self._dwarf_size_checked)

    @property
    def dwarf_problems(self) -> list[str]:
        """Problems met while decoding DWARF so far (without decoding anything new)."""
        return self._dwarf.problems if self._dwarf is not None else []

    def _load_dwarf(self) -> DwarfIndex | None:
        if self._elf is None:
            return None
        try:
            if not self._elf.has_dwarf_info() or self._dwarf_sections_too_large():
                return None
            if not any(self._elf.get_section_by_name(name) for name in (".debug_info", ".zdebug_info")):
                return None
            elf = self._elf
            # Opening pyelftools' DWARF inflates every compressed section: a warm
            # cache answers without it, so it is opened on the first cache miss.
            return DwarfIndex(
                lambda: elf.get_dwarf_info(relocate_dwarf_sections=False),
                self.display_path,
                self.build_id,
                self._index_cache,
            )
        except PARSE_ERRORS as exc:
            self.problems.append(f"{self.display_path}: DWARF unreadable ({describe_error(exc)})")
            return None

    def save(self) -> None:
        """Write what was decoded since the last save to the on-disk cache."""
        if self._dwarf is not None:
            self._dwarf.save()

    def close(self) -> None:
        self.save()
        if self._stream is not None:
            self._stream.close()
            self._stream = None


def describe_error(exc: BaseException) -> str:
    """A parse error in one line, for a ``problems`` entry."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def debug_file_for(build_id: str | None, roots: tuple[Path, ...] = (Path("/usr/lib/debug"),)) -> Path | None:
    """The separate debug file for a build-id, where distributions install them."""
    if not build_id or len(build_id) < 3:
        return None
    for root in roots:
        candidate = root / ".build-id" / build_id[:2] / f"{build_id[2:]}.debug"
        try:
            if candidate.is_file():
                return candidate
        except OSError:  # a name too long, a loop: not a debug file
            continue
    return None
