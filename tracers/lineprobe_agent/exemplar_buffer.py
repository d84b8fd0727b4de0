"""The perf buffer that carries a tracer's exemplars, and what it delivered since the last trace.

Every tracer that unwinds user stacks in the server sends exemplars (the user
registers and a copy of the user stack, ``LP_EXEMPLAR_STACK`` in
``bpf/lineprobe.h``) through a perf buffer named ``exemplars``; each keeps the
records delivered and counts the ones the ring dropped, and forgets both
between traces. This is that, once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class ExemplarBuffer(Generic[T]):
    def __init__(
        self,
        bpf: Any,
        decode: Callable[[Any], T],
        pages: int,
        table: str = "exemplars",
        keep: int | None = None,
    ) -> None:
        """Open ``bpf``'s perf buffer ``table``; each event becomes a record through ``decode``,
        which must copy what it keeps: the event is a view into the ring. With ``keep``, at most
        that many records are kept; the rest are counted in ``dropped``."""
        self.records: list[T] = []
        self.lost = 0
        """Records the ring dropped (its consumer was too slow): counted, never silent."""
        self.dropped = 0
        """Records delivered after ``keep`` were: counted, not kept."""
        self._keep = keep
        self._reported = 0
        self._dropped_reported = 0
        # The table is looked up for each event rather than kept: bcc's program owns it, and a
        # reference held here would outlive the program's cleanup.
        self._bpf = bpf
        self._table = table
        self._decode = decode
        bpf[table].open_perf_buffer(self._on_event, page_cnt=pages, lost_cb=self._on_lost)

    def _on_event(self, cpu: int, data: Any, size: int) -> None:
        if self._keep is not None and len(self.records) >= self._keep:
            self.dropped += 1
            return
        self.records.append(self._decode(self._bpf[self._table].event(data)))

    def _on_lost(self, count: int) -> None:
        self.lost += int(count)

    def unreported(self, limit: int) -> tuple[list[T], int]:
        """For a live report: at most ``limit`` of the records kept since the last report, and
        how many others came since (kept beyond the limit, or dropped past ``keep``)."""
        fresh = self.records[self._reported :]
        self._reported = len(self.records)
        dropped, self._dropped_reported = self.dropped - self._dropped_reported, self.dropped
        return fresh[:limit], len(fresh) - min(len(fresh), limit) + dropped

    def reset(self) -> None:
        """Forget what the last trace delivered."""
        self.records = []
        self.lost = 0
        self.dropped = 0
        self._reported = 0
        self._dropped_reported = 0
