"""Reading and emptying a BPF program's tables, as every tracer does around a window."""

from __future__ import annotations

import ctypes
from collections.abc import Iterable
from typing import Any


def stat(bpf: Any, index: int) -> int:
    """Entry ``index`` of the program's per-CPU ``stats`` counters, summed over the CPUs."""
    return int(bpf["stats"].sum(ctypes.c_int(index)).value)


def empty(bpf: Any, tables: Iterable[str]) -> None:
    """Empty ``tables`` and zero ``stats``: the next window counts from nothing."""
    for name in tables:
        bpf[name].clear()
    bpf["stats"].zero()
