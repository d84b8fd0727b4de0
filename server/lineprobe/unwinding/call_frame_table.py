"""Call frame information (CFI) of one ELF file: how to find each frame's caller.

``.eh_frame`` (present even in stripped binaries, since C++ exceptions need
it) or ``.debug_frame`` describes, for every instruction, where the
Canonical Frame Address (CFA) is and where the caller's registers were
saved (DWARF 5, section 6.4). pyelftools parses the entries; we decode an
FDE's rule table only when an address in it is first unwound, and keep the
decoded rows.

Only what unwinding x86-64 user code needs is kept: the CFA rule (a register
plus an offset, or the PLT's well-known expression) and the rules for the
return address and rbp.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from lineprobe.unwinding.eh_frame_hdr import FdeTable

# DWARF register numbers on x86-64 (System V psABI, figure 3.36).
RBP = 6
RSP = 7
RIP = 16


@dataclass(frozen=True, slots=True)
class FrameRule:
    """How to unwind from any pc in [pc, next rule's pc)."""

    pc: int
    cfa_register: int | None
    """None: the CFA is given by an expression we recognise only for PLT stubs."""
    cfa_offset: int
    return_address_offset: int | None
    """The return address is saved at CFA + this; None: not recoverable."""
    rbp_offset: int | None
    """rbp is saved at CFA + this; None: rbp keeps its value ("same value")."""
    plt_expression: bool = False


@dataclass
class _Fde:
    start: int
    end: int
    entry: Any
    rules: list[FrameRule] | None = None
    pcs: list[int] = field(default_factory=list)


class CallFrameTable:
    """All FDEs parsed up front: for ``.debug_frame``, or an ``.eh_frame`` without a usable header."""

    def __init__(self, entries: list[Any]) -> None:
        fdes: list[_Fde] = []
        for entry in entries:
            header = getattr(entry, "header", None)
            if header is None or "initial_location" not in header or not hasattr(entry, "cie"):
                continue  # a CIE or a zero terminator
            start = int(header["initial_location"])
            fdes.append(_Fde(start, start + int(header["address_range"]), entry))
        fdes.sort(key=lambda f: f.start)
        self._fdes = fdes
        self._starts = [f.start for f in fdes]

    def __len__(self) -> int:
        return len(self._fdes)

    def rule_for(self, pc: int) -> FrameRule | None:
        i = bisect.bisect_right(self._starts, pc) - 1
        if i < 0 or pc >= self._fdes[i].end:
            return None
        return _rule_in(self._fdes[i], pc)


class IndexedCallFrameTable:
    """FDEs found through ``.eh_frame_hdr`` and parsed one at a time, when first needed."""

    def __init__(self, cfi: Any, table: FdeTable, eh_frame_address: int) -> None:
        self._cfi = cfi
        self._table = table
        self._eh_frame_address = eh_frame_address
        self._fdes: dict[int, _Fde | None] = {}

    def __len__(self) -> int:
        return len(self._table)

    def rule_for(self, pc: int) -> FrameRule | None:
        address = self._table.fde_for(pc)
        if address is None:
            return None
        if address not in self._fdes:
            # pyelftools parses one entry at a section offset with this (private)
            # method; its public API would parse the whole section.
            entry = self._cfi._parse_entry_at(address - self._eh_frame_address)
            header = getattr(entry, "header", None)
            if header is None or "initial_location" not in header:
                self._fdes[address] = None
            else:
                start = int(header["initial_location"])
                self._fdes[address] = _Fde(start, start + int(header["address_range"]), entry)
        fde = self._fdes[address]
        if fde is None or not fde.start <= pc < fde.end:
            return None
        return _rule_in(fde, pc)


def _rule_in(fde: _Fde, pc: int) -> FrameRule | None:
    if fde.rules is None:
        fde.rules = _decode(fde.entry)
        fde.pcs = [r.pc for r in fde.rules]
    j = bisect.bisect_right(fde.pcs, pc) - 1
    return fde.rules[j] if j >= 0 else None


DW_CFA_GNU_ARGS_SIZE = 0x2E
"""The size of the arguments pushed for a call, for exception landing pads (DWARF extension).
It never changes where the CFA or any saved register is, and pyelftools 0.33 cannot decode a
table that holds one (g++ emits it in large C++ programs: 35 of mariadbd's hot functions)."""


def _decode(fde: Any) -> list[FrameRule]:
    instructions = getattr(fde, "instructions", None)
    if instructions and any(i.opcode == DW_CFA_GNU_ARGS_SIZE for i in instructions):
        fde.instructions = [i for i in instructions if i.opcode != DW_CFA_GNU_ARGS_SIZE]
    table = fde.get_decoded().table
    rules: list[FrameRule] = []
    for row in table:
        cfa = row.get("cfa")
        if cfa is None:
            continue
        plt = False
        if cfa.expr is not None:
            # The PLT's CFA is rsp + 8 (+ 8 after the stub's push); libc and
            # ld.so use exactly this expression for .plt (psABI, section 4.3).
            register, offset, plt = None, 8, True
        else:
            register, offset = cfa.reg, cfa.offset
        ra = row.get(RIP)
        ra_offset = ra.arg if ra is not None and ra.type == "OFFSET" else None
        rbp = row.get(RBP)
        rbp_offset = rbp.arg if rbp is not None and rbp.type == "OFFSET" else None
        rules.append(FrameRule(int(row["pc"]), register, int(offset), ra_offset, rbp_offset, plt))
    return rules
