"""Naming a descriptor by its generation: the file it held when it was used."""

from __future__ import annotations

import os
from pathlib import Path

from lineprobe_agent.descriptors import (
    AT_FDCWD,
    FD_CLOSED,
    FD_CREATED,
    FD_DUPED,
    FD_OPENED,
    UNKNOWN_BEFORE,
    UNKNOWN_UNFOLLOWED,
    DescriptorTable,
)


def test_one_number_names_each_file_it_held_in_turn(tmp_path: Path) -> None:
    table = DescriptorTable()
    table.begin(os.getpid())
    table.on_change(FD_OPENED, 3, 10, "/lib/libc.so.6", AT_FDCWD, (-1, 0))
    table.on_change(FD_CLOSED, 3, 11, "close", 0, (-1, 0))
    table.on_change(FD_OPENED, 3, 12, "data/in.txt", AT_FDCWD, (-1, 0))  # relative to the cwd
    table.on_change(FD_DUPED, 7, 13, "dup2", 0, (3, 12))
    table.on_change(FD_OPENED, 3, 14, "out.txt", 7, (-1, 0))  # relative to a directory descriptor
    assert table.name(3, 10) == "/lib/libc.so.6"
    assert table.name(3, 12) == os.path.join(os.getcwd(), "data/in.txt")
    assert table.name(7, 13) == table.name(3, 12)
    assert table.name(3, 14) == os.path.join(os.getcwd(), "data/in.txt", "out.txt")


def test_what_is_not_known_is_said_so() -> None:
    table = DescriptorTable()
    table.begin(os.getpid())
    read_end, write_end = os.pipe()
    try:
        # A descriptor open before tracing began is named from /proc at that moment.
        table.begin(os.getpid())
        assert table.name(read_end, 0).startswith("pipe:[")
        # A number closed and reused by a call with no event, named while it is the latest...
        table.on_change(FD_CLOSED, read_end, 5, "close", 0, (-1, 0))
        table.remember(read_end, 5)
        assert table.name(read_end, 5).startswith("pipe:[")
        # ...but not once a later generation replaced it.
        table.on_change(FD_CLOSED, write_end, 8, "close", 0, (-1, 0))
        table.on_change(FD_CLOSED, write_end, 9, "close", 0, (-1, 0))
        table.remember(write_end, 8)
        assert table.name(write_end, 8) == UNKNOWN_UNFOLLOWED
    finally:
        os.close(read_end)
        os.close(write_end)
    assert table.name(999, 0) == UNKNOWN_UNFOLLOWED  # not open when tracing began
    table.begin(os.getpid())
    table._open_at_start.add(998)  # open at the start, gone before it could be named
    assert table.name(998, 0) == UNKNOWN_BEFORE


def test_a_made_descriptor_gone_before_it_was_seen_is_named_after_its_call() -> None:
    table = DescriptorTable()
    table.begin(os.getpid())
    table.on_change(FD_CREATED, 900, 3, "eventfd2", 0, (-1, 0))
    assert table.name(900, 3) == "eventfd2"
