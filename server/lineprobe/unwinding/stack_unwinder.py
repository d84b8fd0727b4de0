"""Unwinding a copied user stack with CFI: full stacks without frame pointers.

What ``perf record --call-graph dwarf`` does, after the fact and
unprivileged: the agent captures the registers and a copy of the stack at
the moment of the sample (or syscall, or allocation); here, frame by frame,
the CFA rule of the current pc says where the caller's return address and
rbp were saved in that copy. Where a binary has no CFI, the frame-pointer
chain is followed instead, if rbp points into the copy.

Every unwind records why it stopped, so a short stack is explained.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from lineprobe.symbolization.resolver import AddressSpace
from lineprobe.unwinding.call_frame_cache import rule_at
from lineprobe.unwinding.call_frame_table import RBP, RSP, FrameRule

MAX_FRAMES = 128


@dataclass(frozen=True)
class UserRegisters:
    ip: int
    sp: int
    bp: int
    r13: int = 0
    """HotSpot's interpreter keeps the running method's bytecode pointer here (0: not read)."""


@dataclass(frozen=True)
class StackCopy:
    base: int
    """The user address of data[0] (the stack pointer at capture)."""
    data: bytes

    def read_u64(self, address: int) -> int | None:
        offset = address - self.base
        if offset < 0 or offset + 8 > len(self.data):
            return None
        return int(struct.unpack_from("<Q", self.data, offset)[0])


@dataclass(frozen=True)
class Unwound:
    addresses: list[int]
    """Leaf first: the sampled ip, then return addresses."""
    stop_reason: str
    frame_pointers: list[int]
    """rbp in each of those frames: where an interpreter's frame keeps its method (see
    ``symbolization/jvm_methods.py``)."""


def unwind(
    space: AddressSpace,
    regs: UserRegisters,
    stack: StackCopy,
    max_frames: int = MAX_FRAMES,
) -> Unwound:
    addresses = [regs.ip]
    frame_pointers = [regs.bp]
    ip, sp, bp = regs.ip, regs.sp, regs.bp
    for depth in range(max_frames):
        lookup_pc = ip if depth == 0 else ip - 1  # a return address may be past the call's FDE
        rule = rule_at(space, lookup_pc)
        if rule is None:
            if space.mapping_for(lookup_pc) is None:
                return Unwound(addresses, f"0x{ip:x} is not in any mapped file", frame_pointers)
            step = _frame_pointer_step(stack, bp)
            reason = "no CFI; frame-pointer chain ended"
        elif rule.return_address_offset is None:
            return Unwound(
                addresses,
                "reached the outermost frame (its CFI leaves the return address undefined)",
                frame_pointers,
            )
        else:
            step = _cfi_step(rule, stack, ip, sp, bp)
            reason = "CFI rule unusable or the caller's frame lies outside the copied stack"
        if step is None:
            return Unwound(addresses, reason if depth else f"{reason} (at the first frame)", frame_pointers)
        next_ip, next_sp, next_bp = step
        if next_ip == 0:
            return Unwound(addresses, "reached the outermost frame", frame_pointers)
        if next_sp <= sp and depth > 0:
            return Unwound(
                addresses, "stack pointer did not move up: stopping to avoid a loop", frame_pointers
            )
        addresses.append(next_ip)
        frame_pointers.append(next_bp)
        ip, sp, bp = next_ip, next_sp, next_bp
    return Unwound(addresses, f"stopped at {max_frames} frames", frame_pointers)


def _cfi_step(rule: FrameRule, stack: StackCopy, ip: int, sp: int, bp: int) -> tuple[int, int, int] | None:
    if rule.plt_expression:
        cfa = sp + 8 + (8 if (ip & 15) >= 11 else 0)
    elif rule.cfa_register == RSP:
        cfa = sp + rule.cfa_offset
    elif rule.cfa_register == RBP:
        cfa = bp + rule.cfa_offset
    else:
        return None
    if rule.return_address_offset is None:
        return None
    return_address = stack.read_u64(cfa + rule.return_address_offset)
    if return_address is None:
        return None
    next_bp = bp
    if rule.rbp_offset is not None:
        saved = stack.read_u64(cfa + rule.rbp_offset)
        if saved is None:
            return None
        next_bp = saved
    return return_address, cfa, next_bp


def _frame_pointer_step(stack: StackCopy, bp: int) -> tuple[int, int, int] | None:
    saved_bp = stack.read_u64(bp)
    return_address = stack.read_u64(bp + 8)
    if saved_bp is None or return_address is None:
        return None
    return return_address, bp + 16, saved_bp
