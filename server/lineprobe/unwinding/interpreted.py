"""What the interpreter frames of an unwound stack ran: a JVM's interpreted Java methods.

Every interpreted method runs the same code, so an address alone names only ``Interpreter``; the
frame itself says which method, through the slots below its rbp that the unwinder kept
(``symbolization/jvm_methods.py``). Every consumer of an unwound stack (CPU samples, system
calls, allocations) hands ``AddressSpace.resolve_stack`` what this gives.
"""

from __future__ import annotations

from collections.abc import Callable

from lineprobe.symbolization.frame import SourceFrame
from lineprobe.symbolization.resolver import AddressSpace
from lineprobe.unwinding.stack_unwinder import StackCopy, Unwound, UserRegisters

Interpreted = Callable[[int], SourceFrame | None] | None
"""The Java method a JVM interpreter's frame ran, by the frame's depth in an unwound stack."""


def interpreted_frames(
    space: AddressSpace, unwound: Unwound, registers: UserRegisters, stack: StackCopy
) -> Interpreted:
    """The method and line of each interpreter frame of ``unwound``, read from the frame's slots in
    the copied ``stack``; the innermost frame's bytecode pointer from r13 in ``registers`` (0
    where the tracer did not read it: the method without a line). None where the process is no
    JVM lineprobe's agent described."""
    methods = space.jvm_methods
    if methods is None or not methods.by_pointer:
        return None
    frame_pointers = unwound.frame_pointers
    read_u64 = stack.read_u64
    running_bcp = registers.r13

    def interpreted(depth: int) -> SourceFrame | None:
        if depth >= len(frame_pointers):
            return None
        return methods.frame(frame_pointers[depth], read_u64, running_bcp if depth == 0 else None)

    return interpreted
