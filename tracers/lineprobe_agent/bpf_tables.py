"""Reading and emptying a BPF program's tables, as every tracer does around a window.

A table is never emptied key by key as it is walked (bcc's ``clear()``): the
kernel's next-key lookup from a deleted key starts again from the first
bucket, so emptying a hash map of a million entries that way rescans the
whole map after each delete (0.3 to 1.3 ms per entry measured here). Hash
maps are drained with the batch operations (one system call per few thousand
entries); tables without them (stack traces) have their keys listed first,
then deleted.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterable, Iterator
from typing import Any


def stat(bpf: Any, index: int) -> int:
    """Entry ``index`` of the program's per-CPU ``stats`` counters, summed over the CPUs."""
    return int(bpf["stats"].sum(ctypes.c_int(index)).value)


# BPF_MAP_TYPE_HASH, PERCPU_HASH, LRU_HASH, LRU_PERCPU_HASH: the kernel's batch operations cover them.
_BATCHED_MAP_TYPES = (1, 5, 9, 10)


def _batched(table: Any) -> bool:
    return int(getattr(table, "ttype", -1)) in _BATCHED_MAP_TYPES


def drain(table: Any) -> Iterator[tuple[Any, Any]]:
    """Every (key, value) of ``table``, deleted as read: O(entries) whatever the map's size."""
    if _batched(table):
        yield from table.items_lookup_and_delete_batch()
        return
    keys = list(table.keys())
    for key in keys:
        try:
            value = table[key]
        except KeyError:
            continue
        with contextlib.suppress(KeyError):
            del table[key]
        yield key, value


def empty(bpf: Any, tables: Iterable[str]) -> None:
    """Empty ``tables`` and zero ``stats``: the next window counts from nothing."""
    for name in tables:
        table = bpf[name]
        if _batched(table):
            for _ in table.items_lookup_and_delete_batch():
                pass
            continue
        for key in list(table.keys()):
            with contextlib.suppress(KeyError):
                del table[key]
    bpf["stats"].zero()
