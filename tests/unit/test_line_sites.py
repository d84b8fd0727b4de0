"""Where a source line's code begins (symbolization/line_sites.py): each run of the line's
instructions, found in the line tables, its first address the one gdb's ``info line`` gives;
and the messages for a line with no code or a file the debug information lacks."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from lineprobe.model.mapping import executable_files
from lineprobe.symbolization.line_sites import (
    LineSitesError,
    LineSpec,
    describe_missing,
    find_sites,
    parse_line_spec,
    run_starts,
    sites_in,
)
from lineprobe.symbolization.resolver import ImageCache
from lineprobe.symbolization.unit_index import UnitIndex, empty_arrays

from tests.conftest import WORKLOADS, marked_line

LINECOUNT_C = WORKLOADS / "linecount" / "linecount.c"
PRIMES_C = WORKLOADS / "primes" / "primes.c"


def test_a_line_is_named_as_file_colon_line() -> None:
    assert parse_line_spec("primes.c:41") == LineSpec("primes.c", 41)
    assert parse_line_spec(" /src/a b.c:7 ") == LineSpec("/src/a b.c", 7)
    assert parse_line_spec("C:/x.c:3") == LineSpec("C:/x.c", 3)  # the last colon splits
    for bad in ("primes.c", "primes.c:0", "primes.c:-1", ":12", "primes.c:12a", "primes.c:1234567890"):
        with pytest.raises(ValueError, match="is not FILE:LINE"):
            parse_line_spec(bad)


def test_a_relative_name_matches_the_end_of_a_path_at_a_folder() -> None:
    spec = LineSpec("primes/primes.c", 17)
    assert spec.matches("/work/workloads/primes/primes.c")
    assert spec.matches("/work/./workloads/primes/../primes/primes.c")
    assert not spec.matches("/work/workloads/myprimes/primes.c")
    assert not spec.matches("/work/workloads/primes/primes.cc")
    assert not spec.matches(None)
    assert LineSpec("/work/primes.c", 1).matches("/work/primes.c")
    assert not LineSpec("/work/primes.c", 1).matches("/other/work/primes.c")


def _unit(rows: list[tuple[int, int, int, bool]], files: list[str | None]) -> UnitIndex:
    """A unit with these line-table rows: (address, file, line, end_sequence), sorted."""
    arrays = empty_arrays()
    for address, file, line, end in rows:
        arrays["row_address"].append(address)
        arrays["row_end_sequence"].append(1 if end else 0)
        arrays["row_file"].append(file)
        arrays["row_line"].append(line)
        arrays["row_column"].append(0)
    return UnitIndex("a.c", "/src", files, [], arrays)


def test_each_run_of_the_line_s_instructions_is_entered_at_its_first() -> None:
    unit = _unit(
        [
            (0x10, 1, 5, False),  # line 5 begins
            (0x14, 1, 5, False),  # still line 5: the same run
            (0x18, 1, 6, False),
            (0x20, 1, 6, False),  # a row of line 6, then one of line 5, at one address:
            (0x20, 1, 5, False),  # the address is line 5's too (a call, then its inlined body)
            (0x24, 2, 5, False),  # line 5 of another file: not ours
            (0x28, 1, 5, True),  # the sequence ends
            (0x30, 1, 5, False),  # a new sequence: a new run
            (0x34, 1, 5, True),
        ],
        [None, "/src/a.c", "/src/b.h"],
    )
    starts, sources = run_starts(unit, LineSpec("a.c", 5))
    assert starts == [0x10, 0x20, 0x30]
    assert sources == {"/src/a.c"}
    assert run_starts(unit, LineSpec("b.h", 5)) == ([0x24], {"/src/b.h"})
    assert run_starts(unit, LineSpec("c.c", 5)) == ([], set())


def _gdb_info_line(binary: Path, spec: str) -> int:
    """Where gdb says the line's code starts (``info line``): the reference."""
    gdb = shutil.which("gdb")
    assert gdb, "gdb missing: `make setup` installs it"
    done = subprocess.run(
        [gdb, "-batch", "-nx", "-ex", f"info line {spec}", str(binary)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    match = re.search(r"starts at address (0x[0-9a-f]+)", done.stdout)
    assert match, done.stdout + done.stderr
    return int(match[1], 16)


@pytest.mark.parametrize(
    ("program", "source", "marker"),
    [
        ("linecount", LINECOUNT_C, "DIVIDES"),
        ("linecount", LINECOUNT_C, "COUNT-PRIME"),
        ("linecount-O2", LINECOUNT_C, "DIVIDES"),
        ("linecount-O2", LINECOUNT_C, "COUNT-PRIME"),
        ("primes", PRIMES_C, "return n % d == 0;"),
        ("primes-O2", PRIMES_C, "++count;"),
    ],
)
def test_the_first_site_of_a_line_is_where_gdb_says_it_starts(
    workloads: Path, program: str, source: Path, marker: str
) -> None:
    spec = f"{source.name}:{marked_line(source, marker)}"
    image = ImageCache(index_cache=None).image(str(workloads / program), None)
    assert image.dwarf is not None
    ((sites, sources),) = sites_in(image.dwarf, [parse_line_spec(spec)])
    assert sites and sites[0] == _gdb_info_line(workloads / program, spec), [hex(a) for a in sites]
    assert sources == {str(source)}


def test_at_o2_a_line_in_a_loop_and_in_its_inlined_copies_has_a_site_for_each(workloads: Path) -> None:
    """primes-O2 inlines is_divisible into is_prime's loop (and that into main's): its line has
    code in the out-of-line function and in each inlined copy, each a run of its own."""
    image = ImageCache(index_cache=None).image(str(workloads / "primes-O2"), None)
    assert image.dwarf is not None
    ((sites, _),) = sites_in(image.dwarf, [LineSpec("primes.c", marked_line(PRIMES_C, "return n % d == 0;"))])
    functions = {image.symbols.lookup(address) for address in sites}
    assert {"is_divisible", "is_prime", "main._omp_fn.0"} <= functions, functions


def test_a_line_without_code_and_a_file_not_in_the_debug_information_are_explained() -> None:
    spec = LineSpec("linecount.c", 1)
    assert "no code on line 1 of /w/linecount.c" in describe_missing(
        spec, ["/w/linecount"], {"/w/linecount.c"}
    )
    missing = describe_missing(LineSpec("other.c", 3), ["/w/linecount"], set())
    assert missing == "other.c:3: no source file 'other.c' in the debug information of linecount"
    stripped = describe_missing(
        LineSpec("primes.c", 41), ["/usr/lib/libc.so.6"], set(), ["/w/primes-stripped"]
    )
    assert stripped == (
        "primes.c:41: no source file 'primes.c' in the debug information of libc.so.6; "
        "primes-stripped has none (build with -g)"
    )
    assert describe_missing(spec, [], set()) == (
        "linecount.c:1: none of the files the process runs code of has debug information "
        "(build it with -g, or install its debug package)"
    )


def test_the_code_files_of_a_process_map_are_its_executable_file_mappings() -> None:
    maps = "\n".join(
        [
            "5600-5601 r--p 00000000 08:01 11 /usr/bin/app",
            "5601-5602 r-xp 00001000 08:01 11 /usr/bin/app",
            "7f00-7f01 r-xp 00000000 08:01 12 /usr/lib/libc.so.6",
            "7f02-7f03 r-xp 00000000 00:00 0 ",
            "7f04-7f05 r-xp 00000000 08:01 13 /tmp/gone.so (deleted)",
            "7f06-7f07 r-xp 00000000 00:00 0 [vdso]",
            "7f08-7f09 r-xp 00002000 08:01 11 /usr/bin/app",
        ]
    )
    assert executable_files(maps) == ["/usr/bin/app", "/usr/lib/libc.so.6", "/tmp/gone.so (deleted)"]


def test_a_process_that_is_not_there_is_said_so() -> None:
    with pytest.raises(LineSitesError, match="no process 999999999"):
        find_sites(999999999, [LineSpec("a.c", 1)], ImageCache(index_cache=None))
