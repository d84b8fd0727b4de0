"""The agent's pure parts, without privileges and without compiling BPF: the shared header and
its reader, the histogram buckets against their C twin, where the free probe goes, socket
addresses, the leak governor, the memory-map parser and the refusal of untrusted BPF sources."""

from __future__ import annotations

import ctypes
import os
import re
import socket
import struct
from pathlib import Path

import pytest
from lineprobe_agent import bpf_source, descriptors, syscall_tracer, target_gate
from lineprobe_agent.bpf_source import BPF_DIR, HEADER, BpfSourceMissing, parse_constants, trusted_text
from lineprobe_agent.code_trust import UntrustedCode
from lineprobe_agent.leak_tracer import (
    MALLOC_COST_US,
    MIN_FRACTION,
    allocator_addresses,
    code_at,
    emulated_probe_offset,
    find_libc,
    pause_after,
    sampling_fraction,
)
from lineprobe_agent.proc_maps import code_range, libc_path, parse_maps, parse_maps_line, read_maps
from lineprobe_agent.syscall_tracer import bucket_bounds, bucket_of, decode_sockaddr

PROGRAMS = ("cpu_profiler", "syscall_tracer", "leak_tracer")

# -- the header and its reader -----------------------------------------------------------------


def test_parse_constants_reads_defines_and_enums_and_skips_what_is_not_a_constant() -> None:
    text = r"""
    #ifndef GUARD
    #define GUARD
    #define BYTES 8192   /* a comment */
    #define HALF (BYTES / 2)
    #define SHIFTED (1 << SHIFT_BITS)
    #define SHIFT_BITS 3
    #define WIDE 0x10ULL // hex with a suffix
    #define NEGATIVE -100
    #define MACRO(x) ((x) + 1)
    #define MULTI \
        u64 ip;
    #define TYPE unsigned long
    enum first { A, B, C = 10, D, /* E = 99 */ };
    enum second {
        X = SHIFT_BITS * 2,
        Y,
    };
    #endif
    """
    constants = parse_constants(text)
    assert constants == {
        "BYTES": 8192,
        "SHIFT_BITS": 3,  # SHIFTED uses it before it is defined: not a constant
        "WIDE": 16,
        "NEGATIVE": -100,
        "A": 0,
        "B": 1,
        "C": 10,
        "D": 11,
        "X": 6,
        "Y": 7,
    }


def test_the_header_defines_what_the_loaders_read() -> None:
    constants = bpf_source.header_constants()
    assert constants["STACK_COPY_BYTES"] == 8192
    assert constants["HIST_BUCKETS"] == 256
    assert constants["HIST_SUBS"] == 1 << constants["HIST_SUB_BITS"]
    # Each stats enum ends with its count, one past the last index.
    for prefix, last in (("CPU", "UNTIMED"), ("SYS", "COUNTS_FULL"), ("LEAK", "FREES")):
        assert constants[f"{prefix}_STAT_COUNT"] == constants[f"{prefix}_STAT_{last}"] + 1
    assert constants["GATE_SLOTS"] == 9
    assert (target_gate.GATE_TGID, target_gate.GATE_START) == (0, 6)
    assert (descriptors.FD_OPENED, descriptors.FD_CREATED, descriptors.AT_FDCWD) == (1, 6, -100)
    assert syscall_tracer.SYSCALL_KINDS[257] == constants["PATH_ARG"] | constants["OPENS_FD"] | 1


def test_a_constant_the_header_lacks_is_named() -> None:
    with pytest.raises(KeyError, match="NO_SUCH_THING"):
        bpf_source.constant("NO_SUCH_THING")


@pytest.mark.parametrize("name", PROGRAMS)
def test_each_program_includes_the_header_and_defines_nothing_twice(name: str) -> None:
    source = (BPF_DIR / f"{name}.bpf.c").read_text()
    assert '#include "lineprobe.h"' in source
    defined_here = set(parse_constants(source))
    assert not defined_here & set(bpf_source.header_constants())
    # Programs named for auto-attachment would stay attached for the agent's whole life.
    assert not re.search(r"\b(RAW_)?TRACEPOINT_PROBE\b|\b(raw_)?tracepoint__\w+\s*\(", source)


@pytest.mark.parametrize("name", PROGRAMS)
def test_program_text_is_the_header_then_the_program(name: str) -> None:
    text = bpf_source.program_text(name)
    header_at = text.index("#define LINEPROBE_H")
    program_at = text.index(f'#line 1 "{name}.bpf.c"')
    assert header_at < program_at
    assert text.endswith((BPF_DIR / f"{name}.bpf.c").read_text())


# -- histogram buckets: Python against the header's lp_bucket_of ------------------------------


def test_the_python_buckets_follow_the_c_formula_of_the_header() -> None:
    header = HEADER.read_text()
    # The C twin: the same formula, with the same parameters.
    assert "l * HIST_SUBS + (u32)((v >> (l - HIST_SUB_BITS)) & (HIST_SUBS - 1))" in header
    assert syscall_tracer.HIST_SUB_BITS == parse_constants(header)["HIST_SUB_BITS"] == 2
    assert syscall_tracer.HIST_BUCKETS == parse_constants(header)["HIST_BUCKETS"] == 256


@pytest.mark.parametrize(
    ("value", "bucket"),
    [
        (0, 0),
        (1, 1),
        (3, 3),
        (4, 8),  # 2**2: bucket 2*4 + 0
        (5, 9),
        (7, 11),
        (8, 12),
        (1000, 39),  # 2**9 <= 1000 < 2**10: 9*4 + ((1000 >> 7) & 3) = 36 + 3
        (1_000_000, 79),  # 19*4 + ((1e6 >> 17) & 3) = 76 + 3
        (2**63, 252),
        (2**64 - 1, 255),
    ],
)
def test_bucket_of_known_values(value: int, bucket: int) -> None:
    assert bucket_of(value) == bucket
    low, high = bucket_bounds(bucket)
    assert low <= value < high or (bucket == 255 and value == 2**64 - 1 and high == 2**64)


def test_buckets_tile_the_values_without_gaps() -> None:
    previous_high = 0
    for index in [*range(4), *range(8, 256)]:
        low, high = bucket_bounds(index)
        assert low == previous_high
        assert bucket_of(low) == index and bucket_of(high - 1) == index
        previous_high = high
    assert bucket_bounds(5) == (4, 4)  # unused: no value lands in 4..7


def test_histogram_keeps_only_counted_buckets_scaled() -> None:
    counts = [0] * 256
    counts[bucket_of(1500)] = 2
    hist = syscall_tracer.histogram("latency", "us", counts, scale=1000.0)
    assert [(b.low, b.high, b.count) for b in hist.buckets] == [(1.28, 1.536, 2)]


# -- where the free probe goes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "offset"),
    [
        (bytes.fromhex("4885ff0f84bf00000055488d77f0"), 9),  # Debian 12's free: je rel32; push rbp
        (bytes.fromhex("f30f1efa4885ff741053"), 9),  # endbr64; test; je rel8; push rbx
        (bytes.fromhex("f30f1efa4885ff0f84000100004154"), 13),  # ...je rel32; push r12
        (bytes.fromhex("4885ff74104883ec08"), 0),  # no push after the check
        (bytes.fromhex("4885ff751055"), 0),  # jne, not je
        (bytes.fromhex("554889e5"), 0),  # no NULL check
        (bytes.fromhex("4885ff0f84bf00"), 0),  # cut short
        (b"", 0),
    ],
)
def test_emulated_probe_offset(code: bytes, offset: int) -> None:
    assert emulated_probe_offset(code) == offset


def _own_libc() -> tuple[str, int]:
    """This process's C library and its load bias (libc's first PT_LOAD is at 0)."""
    entries = read_maps(os.getpid())
    path = libc_path(entries)
    assert path is not None
    return path, min(e.start for e in entries if e.path == path and e.offset == 0)


def test_allocator_addresses_are_where_the_loader_put_the_functions() -> None:
    path, bias = _own_libc()
    symbols = allocator_addresses(path)
    libc = ctypes.CDLL(path)
    for name in ("free", "malloc", "calloc", "realloc", "posix_memalign"):
        live = ctypes.cast(getattr(libc, name), ctypes.c_void_p).value
        assert symbols[name] == live - bias, name
    assert symbols["aligned_alloc"] == symbols["memalign"]  # one function, two names


def test_the_free_probe_lands_on_a_push_in_the_running_code() -> None:
    path, bias = _own_libc()
    free = allocator_addresses(path)["free"]
    assert free is not None
    code = code_at(path, free)
    assert code == ctypes.string_at(bias + free, 16)  # the file's bytes are the live ones
    offset = emulated_probe_offset(code)
    if offset:
        first = code[offset]
        assert 0x50 <= first <= 0x57 or (first == 0x41 and 0x50 <= code[offset + 1] <= 0x57)
    assert code_at(path, 2**60) == b""


# -- socket addresses --------------------------------------------------------------------------


def _sockaddr_in(host: str, port: int) -> bytes:
    return struct.pack("<H", socket.AF_INET) + struct.pack(">H", port) + socket.inet_aton(host) + bytes(8)


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (_sockaddr_in("127.0.0.1", 8080), "127.0.0.1:8080"),
        (
            struct.pack("<H", socket.AF_INET6)
            + struct.pack(">HI", 443, 0)
            + socket.inet_pton(socket.AF_INET6, "2001:db8::1")
            + bytes(4),
            "[2001:db8::1]:443",
        ),
        (struct.pack("<H", socket.AF_UNIX) + b"/run/app.sock\0junk", "/run/app.sock"),
        (struct.pack("<H", socket.AF_UNIX) + b"\0hidden\0" + bytes(10), "@hidden"),
        (struct.pack("<H", socket.AF_NETLINK) + bytes(10), f"<address family {int(socket.AF_NETLINK)}>"),
        (struct.pack("<H", socket.AF_INET) + b"\0\x50", "<address family 2>"),  # too short for INET
        (b"\x01", None),
    ],
)
def test_decode_sockaddr(raw: bytes, text: str | None) -> None:
    assert decode_sockaddr(raw) == text


# -- the leak governor --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("observed", "budget", "fraction", "rate"),
    [
        (0.0, 5.0, 1.0, 0.0),  # nothing allocated: track everything
        (1_000.0, 5.0, 1.0, 1e6 / (1000 - MALLOC_COST_US)),  # cheap: everything
        (100_000.0, 5.0, 0.05 / (1e6 / 6 * MALLOC_COST_US / 1e6), 1e6 / 6),  # 10 us apart, 4 of them probes
        (100_000.0, 50.0, 0.75, 1e6 / 6),
        (250_000.0, 5.0, MIN_FRACTION, 250_000.0),  # all the time in probes: allocation-bound
        (1e9, 100.0, MIN_FRACTION, 1e9),
    ],
)
def test_sampling_fraction(observed: float, budget: float, fraction: float, rate: float) -> None:
    chosen, estimated = sampling_fraction(observed, budget)
    assert chosen == pytest.approx(fraction)
    assert estimated == pytest.approx(rate)


def test_sampling_fraction_keeps_the_estimated_cost_within_the_budget() -> None:
    for observed in (20_000.0, 50_000.0, 120_000.0, 200_000.0):
        fraction, rate = sampling_fraction(observed, 5.0)
        assert MIN_FRACTION <= fraction < 1.0
        assert rate * MALLOC_COST_US / 1e6 * fraction == pytest.approx(0.05)


def test_pause_after_keeps_the_probes_attached_for_the_fraction() -> None:
    assert pause_after(0.5, 0.25) == pytest.approx(1.5)
    assert pause_after(0.5, 1.0) == 0.0
    window = 0.6
    pause = pause_after(window, 0.1)
    assert window / (window + pause) == pytest.approx(0.1)


# -- /proc/PID/maps --------------------------------------------------------------------------


MAPS = """\
55d0c0a00000-55d0c0a01000 r--p 00000000 fe:01 1311 /srv/app/bin/server
55d0c0a01000-55d0c0a05000 r-xp 00001000 fe:01 1311 /srv/app/bin/server
55d0c0a05000-55d0c0a06000 r-xp 00005000 fe:01 1311 /srv/app/bin/server
7f11e0000000-7f11e0028000 r--p 00000000 fe:01 2050 /usr/lib/x86_64-linux-gnu/libc.so.6
7f11e0028000-7f11e019d000 r-xp 00028000 fe:01 2050 /usr/lib/x86_64-linux-gnu/libc.so.6
7f11e1000000-7f11e1021000 rw-p 00000000 00:00 0 \n\
7ffd4a000000-7ffd4a021000 rw-p 00000000 00:00 0                          [stack]
7f11e2000000-7f11e2001000 r-xp 00000000 fe:01 99 /tmp/with space (deleted)
not a maps line
"""


def test_parse_maps_lines() -> None:
    entries = parse_maps(MAPS)
    assert len(entries) == 8
    assert entries[1] == (0x55D0C0A01000, 0x55D0C0A05000, "r-xp", 0x1000, 1311, "/srv/app/bin/server")
    assert entries[1].executable and not entries[0].executable
    assert entries[5].path == "" and entries[6].path == "[stack]"
    assert entries[7].path == "/tmp/with space (deleted)"
    assert parse_maps_line("zz-10 r-xp 0 00:00 0") is None
    assert libc_path(entries) == "/usr/lib/x86_64-linux-gnu/libc.so.6"
    assert libc_path(entries[:3]) is None
    assert code_range(entries, "/srv/app/bin/server") == (0x55D0C0A01000, 0x55D0C0A06000)
    assert code_range(entries, "/srv/other") == (0, 0)


def test_find_libc_of_a_live_and_of_a_gone_process() -> None:
    found = find_libc(os.getpid())
    assert found is not None and Path(found).name.startswith("libc")
    assert find_libc(2**22 + 1) is None  # above pid_max's limit: never a process


# -- BPF sources the privileged agent refuses -------------------------------------------------

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to own the files: sudo pytest ...")


@root_only
def test_a_root_owned_source_is_read(tmp_path: Path) -> None:
    source = tmp_path / "ok.bpf.c"
    source.write_text("int x;\n")
    source.chmod(0o644)
    assert trusted_text(source) == "int x;\n"


@root_only
@pytest.mark.parametrize(
    ("mode", "owner", "reason"),
    [
        (0o666, (0, 0), "writable by everyone"),
        (0o664, (0, 1000), "writable by group 1000"),
        (0o644, (1000, 0), "owned by uid 1000, not root"),
    ],
)
def test_an_untrusted_source_is_refused_by_name(
    tmp_path: Path, mode: int, owner: tuple[int, int], reason: str
) -> None:
    source = tmp_path / "evil.bpf.c"
    source.write_text("int x;\n")
    os.chown(source, *owner)
    source.chmod(mode)
    with pytest.raises(UntrustedCode) as caught:
        trusted_text(source)
    assert f"refusing to compile BPF from evil.bpf.c: {source} is {reason}" in str(caught.value)


@root_only
def test_a_source_in_a_directory_others_may_write_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "bpf"
    folder.mkdir()
    folder.chmod(0o777)
    source = folder / "prog.bpf.c"
    source.write_text("int x;\n")
    source.chmod(0o644)
    shown = f"{source} (through {folder}) is writable by everyone"
    with pytest.raises(UntrustedCode, match=re.escape(shown)):
        trusted_text(source)


def test_a_missing_source_is_named(tmp_path: Path) -> None:
    with pytest.raises(BpfSourceMissing, match=r"gone\.bpf\.c is missing"):
        trusted_text(tmp_path / "gone.bpf.c")


def test_the_shipped_sources_are_trusted_here() -> None:
    if os.geteuid() != 0 or os.stat(BPF_DIR).st_uid != 0:
        pytest.skip("the checkout is not root's: the agent would refuse it, as it should")
    for name in PROGRAMS:
        assert bpf_source.program_text(name)


def test_bpf_placeholders_take_numbers_only() -> None:
    """bcc needs a USDT argument's index as a literal in the text: the loader writes numbers in
    place of @NAME@, every one of them, and nothing but integers."""
    from lineprobe_agent.bpf_source import program_text

    text = program_text("probe_args", {"SLOT0_ARG": 2, "SLOT0_LENGTH": 3, "SLOT1_ARG": 0, "SLOT1_LENGTH": 0})
    assert "bpf_usdt_readarg(2, ctx, &value);" in text
    assert "bpf_usdt_readarg(3, ctx, &length);" in text
    assert not re.search(r"@[A-Z][A-Z0-9_]*@", text)
    with pytest.raises(ValueError, match="no number given for @SLOT1_ARG@"):
        program_text("probe_args", {"SLOT0_ARG": 2, "SLOT0_LENGTH": 3, "SLOT1_LENGTH": 0})
    with pytest.raises(ValueError, match="no number given for @SLOT0_ARG@"):
        program_text("probe_args", {"SLOT0_ARG": "2); evil(", "SLOT0_LENGTH": 3})  # type: ignore[dict-item]


@pytest.mark.parametrize("event", ["usdt:bad name", "usdt:only", "usdt:a:b:c:d", "usdt:relative/path:a:b"])
def test_a_malformed_usdt_probe_is_refused_before_any_file_is_read(event: str) -> None:
    from lineprobe_agent.stack_counter import UnknownTracepoint, usdt_sites

    with pytest.raises(UnknownTracepoint, match=r"bad USDT probe '(?!usdt:).*': expected PROVIDER:NAME"):
        usdt_sites(1, event)


def test_a_sigterm_swallowed_by_a_ctypes_callback_still_ends_the_agent() -> None:
    """bcc delivers perf-buffer events through ctypes callbacks, and ctypes prints and drops an
    exception raised inside one: a SIGTERM that lands there raised a SystemExit nobody saw, and
    the agent went on (a test waited a minute for it). The code is kept and raised again."""
    import ctypes
    import signal

    from lineprobe_agent.session import Agent

    agent = Agent(channel=None, started_at=0.0, access=None)  # type: ignore[arg-type]
    callback_type = ctypes.CFUNCTYPE(None)

    def inside_callback() -> None:
        agent.on_signal(signal.SIGTERM, None)

    callback = callback_type(inside_callback)
    callback()  # the SystemExit raised in the handler is swallowed here, as in bcc's reader
    assert agent.stop_requested.is_set()
    with pytest.raises(SystemExit) as exited:
        agent.exit_if_signalled()
    assert exited.value.code == 128 + signal.SIGTERM
