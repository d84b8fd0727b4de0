"""Named address ranges sorted by start: an ELF file's function symbols, a JIT's perf map."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class SymbolTable:
    """Functions sorted by start address; ``lookup`` names the one an address falls in."""

    starts: Sequence[int] = field(default_factory=list)
    ends: Sequence[int] = field(default_factory=list)
    names: Sequence[str | None] = field(default_factory=list)
    """A list, or the cache's StringTable (decoded one name at a time)."""

    def lookup(self, vaddr: int) -> str | None:
        i = bisect.bisect_right(self.starts, vaddr) - 1
        if i >= 0 and vaddr < self.ends[i]:
            return self.names[i]
        return None
