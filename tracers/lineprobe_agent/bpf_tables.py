"""Reading and emptying a BPF program's tables, as every tracer does around a window, and
freeing the program when the agent ends.

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
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

from lineprobe_agent.bpf_source import constant
from lineprobe_agent.protocol import SampleCounters


def c_text(raw: Any) -> str:
    """A NUL-terminated char array of a map entry or record (a comm, a name) as text."""
    return bytes(raw).split(b"\0", 1)[0].decode("utf-8", "replace")


def stat(bpf: Any, index: int) -> int:
    """Entry ``index`` of the program's per-CPU ``stats`` counters, summed over the CPUs."""
    return int(bpf["stats"].sum(ctypes.c_int(index)).value)


class StackStats(NamedTuple):
    """Where a program that counts stacks keeps its loss counters: indices into ``stats``
    (each program's enum in bpf/lineprobe.h)."""

    events: int
    lost: int
    user_stack_missing: int
    kernel_stack_missing: int
    collisions: int

    @classmethod
    def named(cls, prefix: str, events: str) -> StackStats:
        """The indices ``PREFIX_STAT_EVENTS`` (its own name), ``PREFIX_STAT_LOST``, ... of the header."""
        return cls(
            constant(f"{prefix}_STAT_{events}"),
            *(
                constant(f"{prefix}_STAT_{name}")
                for name in ("LOST", "USER_STACK_MISSING", "KERNEL_STACK_MISSING", "COLLISIONS")
            ),
        )

    def read(self, bpf: Any, exemplars_lost: int) -> SampleCounters:
        return SampleCounters(
            samples=stat(bpf, self.events),
            lost=stat(bpf, self.lost),
            user_stack_missing=stat(bpf, self.user_stack_missing),
            kernel_stack_missing=stat(bpf, self.kernel_stack_missing),
            stack_collisions=stat(bpf, self.collisions),
            exemplars_lost=exemplars_lost,
        )


def close_program(stop: Callable[[], None], bpf: Any) -> None:
    """What every tracer does when the agent ends: stop the trace under way, then free the
    program whatever stopping did (its maps, probes and perf buffers are file descriptors)."""
    try:
        stop()
    finally:
        bpf.cleanup()


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
