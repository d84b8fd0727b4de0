"""What an address resolves to: a chain of source frames."""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple


class FrameKind(Enum):
    """What kind of code a frame is in, whichever frame source named it."""

    NATIVE = "native"
    """Compiled code of an ELF file (or code no source could name: ``[vdso]``, unmapped)."""
    INLINED = "inlined"
    """A function inlined into the next frame of the chain (DW_TAG_inlined_subroutine)."""
    JIT = "jit"
    """Code a runtime compiled at run time (named by its perf map)."""
    INTERPRETED = "interpreted"
    """A method a runtime's interpreter was running (a JVM or Python frame)."""
    KERNEL = "kernel"
    """A kernel function, named by the agent."""


NATIVE = FrameKind.NATIVE
INLINED = FrameKind.INLINED
JIT = FrameKind.JIT
INTERPRETED = FrameKind.INTERPRETED
KERNEL = FrameKind.KERNEL


class SourceFrame(NamedTuple):
    """One frame of a resolved address, innermost first in a chain.

    A named tuple rather than a frozen dataclass: a large batch makes tens of
    thousands of frames, and a tuple is built four times faster. ``kind`` is
    one of the enum's members, shared, so a frame costs no more than with a
    bool there.

    ``kind`` is INLINED when this frame's function was inlined into the next
    frame of the chain (DW_TAG_inlined_subroutine); the outermost frame of a
    chain is the real, out-of-line function. ``binary`` names where the code
    lives for people to read: the mapped file's path, or ``[kernel]``, ``[jit]``,
    ``[vdso]``, ``[unmapped]`` where there is none; what a frame *is* is its
    ``kind``. ``function_line`` is where the function is declared
    (DW_AT_decl_line), used to place roll-ups.
    """

    function: str | None
    path: str | None
    line: int | None
    column: int | None
    kind: FrameKind
    binary: str
    function_path: str | None = None
    function_line: int | None = None

    @property
    def inlined(self) -> bool:
        return self.kind is INLINED

    @property
    def location(self) -> str:
        """``FILE:LINE`` where the frame has a source line, else the binary its code is in."""
        return f"{self.path}:{self.line}" if self.path and self.line else self.binary

    @property
    def name(self) -> str:
        """The function, or what stands for it where nothing names the code: its binary."""
        return self.function or f"[unknown in {self.binary.rsplit('/', 1)[-1]}]"

    @property
    def label(self) -> str:
        """A short, stable name for flame graphs and folded stacks."""
        name = self.name
        kind = self.kind
        if kind is KERNEL:
            return f"{name}_[k]"
        if kind is INLINED:
            return f"{name} (inlined)"
        return name
