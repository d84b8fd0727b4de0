"""Tracepoint formats as tracefs writes them (copies of this kernel's, in tracepoint_formats/)
parsed by the agent, and records decoded by the server with them: integers by size and sign,
fixed char arrays and __data_loc strings as text, other arrays as numbers, and nothing read past
a record's end."""

from __future__ import annotations

import struct
from pathlib import Path

from lineprobe.capture.wire.convert import layout_of
from lineprobe_agent.tracepoint_events import parse_format

FORMATS = Path(__file__).parent / "tracepoint_formats"


def header(common_type: int, pid: int) -> bytes:
    return struct.pack("<HBBi", common_type, 0, 0, pid)


def test_sched_switch_fields_and_a_record() -> None:
    layout = layout_of(parse_format("sched:sched_switch", (FORMATS / "sched_switch").read_text()))
    assert [f.name for f in layout.own_fields] == [
        "prev_comm",
        "prev_pid",
        "prev_prio",
        "prev_state",
        "next_comm",
        "next_pid",
        "next_prio",
    ]
    record = (
        header(layout.id, 42)
        + b"worker\0".ljust(16, b"\0")
        + struct.pack("<iiq", 42, 120, 1)
        + b"swapper/1\0".ljust(16, b"\0")
        + struct.pack("<ii", 0, 120)
    )
    assert layout.decode(record) == {
        "prev_comm": "worker",
        "prev_pid": 42,
        "prev_prio": 120,
        "prev_state": 1,
        "next_comm": "swapper/1",
        "next_pid": 0,
        "next_prio": 120,
    }


def test_a_data_loc_string_and_signed_fields() -> None:
    layout = layout_of(parse_format("sched:sched_process_exec", (FORMATS / "sched_process_exec").read_text()))
    assert [f.name for f in layout.own_fields] == ["filename", "pid", "old_pid"]
    name = b"/usr/bin/true\0"
    record = header(layout.id, 7) + struct.pack("<Iii", (len(name) << 16) | 20, 7, -1) + name
    assert layout.decode(record) == {"filename": "/usr/bin/true", "pid": 7, "old_pid": -1}
    # A string said to run past the record is left out, not read beyond it.
    assert layout.decode(record[:-4])["filename"] is None


def test_an_array_of_numbers_and_a_short_record() -> None:
    layout = layout_of(parse_format("raw_syscalls:sys_enter", (FORMATS / "sys_enter").read_text()))
    record = header(layout.id, 9) + struct.pack("<q6Q", 230, 1, 2, 3, 4, 5, 2**64 - 1)
    assert layout.decode(record) == {"id": 230, "args": [1, 2, 3, 4, 5, 2**64 - 1]}
    assert layout.decode(record[:20]) == {"id": 230, "args": None}
