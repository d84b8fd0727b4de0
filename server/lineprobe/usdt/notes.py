"""USDT probes as an ELF file declares them: SystemTap's ``.note.stapsdt`` notes.

Each note (owner ``stapsdt``, type 3) is one probe site: its address, the
address the linker gave ``.stapsdt.base`` when the note was written, a
semaphore address (0 when the probe has none), and three strings: provider,
name, and the arguments as the assembler saw them (``-4@%edi 8@-16(%rbp)``:
size, negative when signed, then where the value is at the probe). A probe
is a (provider, name) pair with one or more sites (an inlined function
repeats its probe). When the file was prelinked after the note was written,
``.stapsdt.base`` moved and every address moves with it.

Read with ``struct`` from the section's bytes: pyelftools lists notes but
does not decode this owner's, and the layout is four fields and three strings.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from lineprobe.symbolization.elf_image import PARSE_ERRORS, ElfImage

NOTE_SECTION = ".note.stapsdt"
BASE_SECTION = ".stapsdt.base"
NT_STAPSDT = 3
_NOTE_HEADER = struct.Struct("<III")
_ADDRESSES = struct.Struct("<QQQ")
_ARGUMENT = re.compile(r"(-?)(\d+)@(.+)")


@dataclass(frozen=True)
class ProbeArgument:
    """One argument as the probe site passes it."""

    size: int
    """Bytes: 1, 2, 4 or 8."""
    signed: bool
    location: str
    """Where the value is at the probe, in assembler syntax: ``%edi``, ``-16(%rbp)``, ``$5``."""

    @property
    def type_name(self) -> str:
        return f"{'' if self.signed else 'u'}int{8 * self.size}"

    def describe(self) -> str:
        if self.location.startswith("$"):
            return f"{self.type_name} constant {self.location[1:]}"
        if self.location.startswith("%"):
            return f"{self.type_name} in register {self.location}"
        return f"{self.type_name} in memory at {self.location}"


@dataclass(frozen=True)
class ProbeNote:
    """One probe site of a file."""

    provider: str
    name: str
    address: int
    """The site's virtual address in the file (prelinking already accounted for)."""
    semaphore: int
    """The semaphore's virtual address, 0 when the probe has none (it fires whenever reached)."""
    arguments: tuple[ProbeArgument, ...]

    @property
    def probe(self) -> str:
        return f"{self.provider}:{self.name}"


class NotesUnreadable(Exception):
    """The file is not an ELF file, or its probe notes are damaged."""


def parse_arguments(text: str) -> tuple[ProbeArgument, ...]:
    """``-4@%edi 8@-16(%rbp)`` as arguments; an argument the format does not describe is kept with
    size 0, so that the count stays right."""
    arguments = []
    for word in text.split():
        match = _ARGUMENT.fullmatch(word)
        if match is None:
            arguments.append(ProbeArgument(0, False, word))
            continue
        sign, size, location = match.groups()
        arguments.append(ProbeArgument(int(size), sign == "-", location))
    return tuple(arguments)


def decode_notes(data: bytes, base_now: int | None) -> list[ProbeNote]:
    """Every stapsdt note in a ``.note.stapsdt`` section's bytes. ``base_now`` is where
    ``.stapsdt.base`` is in the file today (None when there is no such section)."""
    notes: list[ProbeNote] = []
    offset = 0
    while offset + _NOTE_HEADER.size <= len(data):
        namesz, descsz, kind = _NOTE_HEADER.unpack_from(data, offset)
        offset += _NOTE_HEADER.size
        name_end = offset + namesz
        desc_start = offset + ((namesz + 3) & ~3)
        desc_end = desc_start + descsz
        if desc_end > len(data):
            raise NotesUnreadable(f"a probe note runs past the end of {NOTE_SECTION}")
        owner = data[offset:name_end].rstrip(b"\0")
        desc = data[desc_start:desc_end]
        offset = desc_start + ((descsz + 3) & ~3)
        if owner != b"stapsdt" or kind != NT_STAPSDT:
            continue
        if len(desc) < _ADDRESSES.size:
            raise NotesUnreadable("a probe note is shorter than its three addresses")
        address, base, semaphore = _ADDRESSES.unpack_from(desc, 0)
        strings = desc[_ADDRESSES.size :].split(b"\0")
        if len(strings) < 3:
            raise NotesUnreadable("a probe note lacks its provider, name or arguments")
        provider, name, arguments = (s.decode("utf-8", "replace") for s in strings[:3])
        moved = base_now - base if base_now is not None and base else 0
        notes.append(
            ProbeNote(
                provider,
                name,
                address + moved,
                semaphore + moved if semaphore else 0,
                parse_arguments(arguments),
            )
        )
    return notes


def probe_notes(image: ElfImage) -> list[ProbeNote]:
    """The file's probe sites, in note order; [] when it declares none."""
    if not image.readable:
        raise NotesUnreadable("; ".join(image.problems) or f"{image.display_path}: not a readable ELF file")
    try:
        section = image.section(NOTE_SECTION)
        if section is None:
            return []
        base = image.section(BASE_SECTION)
        return decode_notes(section.data(), base["sh_addr"] if base is not None else None)
    except PARSE_ERRORS as exc:
        raise NotesUnreadable(f"{image.display_path}: {NOTE_SECTION} is damaged ({exc})") from None
