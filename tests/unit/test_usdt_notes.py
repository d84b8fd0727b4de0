"""USDT probe notes: decoded from ELF files as tplist-bpfcc reads them, with each site's source line."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from lineprobe.cli import main
from lineprobe.symbolization.resolver import ImageCache
from lineprobe.usdt.listing import ProbesUnavailable, mapped_files, probes_of_binary, probes_of_process
from lineprobe.usdt.notes import NotesUnreadable, ProbeArgument, decode_notes, parse_arguments

from tests.conftest import WORKLOADS, marked_line

PROBES_C = WORKLOADS / "probes" / "probes.c"
LIBJVM = Path("/usr/lib/jvm/java-17-openjdk-amd64/lib/server/libjvm.so")


def note(provider: str, name: str, arguments: str, address: int, base: int, semaphore: int = 0) -> bytes:
    owner = b"stapsdt\0"
    desc = struct.pack("<QQQ", address, base, semaphore) + f"{provider}\0{name}\0{arguments}\0".encode()
    padded = desc + b"\0" * (-len(desc) % 4)
    return struct.pack("<III", len(owner), len(desc), 3) + owner + padded


def test_arguments_as_the_assembler_wrote_them() -> None:
    assert parse_arguments("-4@%edi 8@-16(%rbp) 1@$0") == (
        ProbeArgument(4, True, "%edi"),
        ProbeArgument(8, False, "-16(%rbp)"),
        ProbeArgument(1, False, "$0"),
    )
    assert parse_arguments("") == ()
    assert ProbeArgument(4, True, "%edi").describe() == "int32 in register %edi"
    assert ProbeArgument(8, False, "-16(%rbp)").describe() == "uint64 in memory at -16(%rbp)"


def test_a_prelinked_file_moves_every_address_with_its_base() -> None:
    data = note("app", "start", "8@%rax", 0x1000, 0x2000, 0x4000) + note("app", "stop", "", 0x1100, 0x2000)
    # .stapsdt.base moved by 0x10000 since the notes were written: so did the sites and semaphores.
    moved = decode_notes(data, 0x12000)
    assert [(n.probe, n.address, n.semaphore) for n in moved] == [
        ("app:start", 0x11000, 0x14000),
        ("app:stop", 0x11100, 0),
    ]
    assert decode_notes(data, None)[0].address == 0x1000


def test_damaged_notes_are_refused_in_words() -> None:
    whole = note("app", "start", "8@%rax", 0x1000, 0x2000)
    with pytest.raises(NotesUnreadable, match="runs past the end"):
        decode_notes(whole[:-8], None)
    short = struct.pack("<III", 8, 8, 3) + b"stapsdt\0" + b"\0" * 8
    with pytest.raises(NotesUnreadable, match="shorter than its three addresses"):
        decode_notes(short, None)
    other_owner = struct.pack("<III", 4, 4, 3) + b"GNU\0" + b"abcd"
    assert decode_notes(other_owner + whole, None)[0].name == "start"


def test_the_workloads_probes_are_on_their_lines(workloads: Path) -> None:
    listing = probes_of_binary(str(workloads / "probes"), ImageCache())
    by_name = {probe.name: probe for probe in listing.probes}
    assert set(by_name) == {"request", "slow", "tick"}
    for name, marker in (("request", "REQUEST-PROBE"), ("slow", "SLOW-PROBE"), ("tick", "TICK-PROBE")):
        [site] = by_name[name].sites
        assert site.source is not None, name
        assert (site.source.path, site.source.line) == (str(PROBES_C), marked_line(PROBES_C, marker))
    assert [a.type_name for a in by_name["request"].arguments] == ["uint64", "int32"]
    assert by_name["tick"].sites[0].source.function == "tick"


def test_a_running_process_lists_its_own_and_its_libraries_probes(workloads: Path) -> None:
    process = subprocess.Popen([str(workloads / "probes"), "10", "wait"], stdin=subprocess.PIPE)
    try:
        # Until the loader has mapped the C library (the program then waits on its stdin).
        deadline = time.monotonic() + 10
        while not any("libc.so" in path for path in mapped_files(process.pid)):
            assert time.monotonic() < deadline, "the workload never mapped libc"
            time.sleep(0.01)
        listing = probes_of_process(process.pid, ImageCache())
    finally:
        process.kill()
        process.wait()
    assert str(workloads / "probes") in listing.binaries
    assert any("libc.so" in path for path in listing.binaries)
    # Debian builds its C library without probes: every probe here is the program's own.
    assert {(p.binary, p.probe) for p in listing.probes} == {
        (str(workloads / "probes"), f"lineprobe_demo:{name}") for name in ("request", "slow", "tick")
    }
    assert listing.problems == []


def test_a_library_lists_its_probes() -> None:
    libstdcxx = "/usr/lib/x86_64-linux-gnu/libstdc++.so.6"
    listing = probes_of_binary(libstdcxx, ImageCache())
    assert {p.probe for p in listing.probes} >= {"libstdcxx:throw", "libstdcxx:catch"}


def test_missing_and_unreadable_inputs_say_so(tmp_path: Path) -> None:
    with pytest.raises(ProbesUnavailable, match="no such file"):
        probes_of_binary(str(tmp_path / "nothing"), ImageCache())
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\x7fELF" + b"\xff" * 60)
    with pytest.raises(ProbesUnavailable, match="not a readable ELF file"):
        probes_of_binary(str(garbage), ImageCache())
    with pytest.raises(ProbesUnavailable, match="no process"):
        probes_of_process(2**22 + 7, ImageCache())
    result = CliRunner().invoke(main, ["usdt", "list", "--binary", str(tmp_path / "nothing")])
    assert result.exit_code == 1 and "no such file" in result.output, result.output
    result = CliRunner().invoke(main, ["usdt", "list"])
    assert result.exit_code == 2 and "give one of --pid and --binary" in result.output


@pytest.mark.skipif(not LIBJVM.exists(), reason="needs OpenJDK 17's libjvm.so: sudo make setup installs it")
@pytest.mark.skipif(shutil.which("tplist-bpfcc") is None, reason="needs tplist-bpfcc: sudo make setup")
def test_libjvm_lists_the_probes_tplist_lists() -> None:
    """Side by side with bcc's tplist: the same 517 probes of HotSpot, and the same sites."""
    result = CliRunner().invoke(main, ["usdt", "list", "--binary", str(LIBJVM), "--json"])
    assert result.exit_code == 0, result.output
    listing = json.loads(result.output)
    ours = sorted(f"{p['provider']}:{p['name']}" for p in listing["probes"])
    tplist = subprocess.run(["tplist-bpfcc", "-l", str(LIBJVM)], capture_output=True, text=True, check=True)
    theirs = sorted(line.split()[1] for line in tplist.stdout.splitlines())
    assert ours == theirs and len(ours) > 500
    verbose = subprocess.run(["tplist-bpfcc", "-v", "-l", str(LIBJVM)], capture_output=True, text=True)
    sites = sum(int(line.split()[0]) for line in verbose.stdout.splitlines() if "location(s)" in line)
    assert sum(len(p["sites"]) for p in listing["probes"]) == sites
    entry = next(p for p in listing["probes"] if p["name"] == "method__entry")
    assert len(entry["arguments"]) == 7 and entry["semaphore"] == 0
