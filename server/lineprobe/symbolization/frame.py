"""What an address resolves to: a chain of source frames."""

from __future__ import annotations

from typing import NamedTuple


class SourceFrame(NamedTuple):
    """One frame of a resolved address, innermost first in a chain.

    A named tuple rather than a frozen dataclass: a large batch makes tens of
    thousands of frames, and a tuple is built four times faster.

    ``inlined`` is True when this frame's function was inlined into the next
    frame of the chain (DW_TAG_inlined_subroutine); the outermost frame of a
    chain is the real, out-of-line function. ``function_line`` is where the
    function is declared (DW_AT_decl_line), used to place roll-ups.
    """

    function: str | None
    path: str | None
    line: int | None
    column: int | None
    inlined: bool
    binary: str
    function_path: str | None = None
    function_line: int | None = None
    kernel: bool = False

    @property
    def label(self) -> str:
        """A short, stable name for flame graphs and folded stacks."""
        name = self.function or f"[unknown in {self.binary.rsplit('/', 1)[-1]}]"
        if self.kernel:
            return f"{name}_[k]"
        if self.inlined:
            return f"{name} (inlined)"
        return name
