"""What a running trace reports live: the records kept since the last report, at most a
limit of them, and how many others came since, whether kept beyond the limit or dropped past
the buffer's bound; none twice, none forgotten (ExemplarBuffer.unreported)."""

from __future__ import annotations

from typing import Any

from lineprobe_agent.exemplar_buffer import ExemplarBuffer


class _Table:
    def open_perf_buffer(self, callback: Any, page_cnt: int, lost_cb: Any) -> None:
        self.callback = callback

    def event(self, data: Any) -> Any:
        return data


class _Program(dict):  # type: ignore[type-arg]
    """What ExemplarBuffer asks of bcc's program: one table with a perf buffer."""


def test_each_record_is_reported_once_and_the_rest_counted() -> None:
    table = _Table()
    buffer: ExemplarBuffer[int] = ExemplarBuffer(_Program(records=table), int, 8, table="records", keep=10)
    deliver = table.callback
    for number in range(7):
        deliver(0, number, 0)
    assert buffer.unreported(3) == ([0, 1, 2], 4)  # 3 shown, 4 more kept since
    for number in range(7, 14):  # 3 more kept (10 in all), 4 dropped past the bound
        deliver(0, number, 0)
    assert buffer.unreported(3) == ([7, 8, 9], 4)
    assert buffer.unreported(3) == ([], 0)
    assert buffer.records == list(range(10)) and buffer.dropped == 4
    buffer.reset()
    deliver(0, 99, 0)
    assert buffer.unreported(5) == ([99], 0)
