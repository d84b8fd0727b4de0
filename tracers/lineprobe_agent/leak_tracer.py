"""Outstanding allocations by allocating site, at a fraction of memleak's cost.

Uprobes on the target's libc allocator functions record each tracked block
(address -> size, time, site key) and per-site outstanding bytes and counts,
kept up to date in the kernel by the ``free`` (and ``realloc``) probes.

What makes it cheap (measured on this machine kind with an allocation-bound
loop: memleak costs about 8 us per malloc+free pair):

- ``free`` is probed after its NULL check when the function begins with
  ``test rdi,rdi; je``: the kernel emulates a ``push`` but single-steps a
  ``test``, which costs about 2 us per hit instead of about 0.3 us.
- The allocation probes (entry and return, about 0.8 us together) are
  attached only part of the time (*duty cycling*): a sample of allocations
  is tracked, chosen by time window, and totals are estimated by dividing by
  the sampled fraction. ``free``/``realloc`` stay attached throughout, so a
  tracked block that is freed is always seen freed: sampling never invents
  a leak. The governor picks the fraction from the allocation rate measured
  in the first window and a CPU budget.

A site key is the exact return address at the allocator's entry (``[rsp]``)
plus the frame-pointer stack id; a few exemplars per key (registers and a
stack copy) let the server unwind with CFI to the user's allocating line,
through ``operator new`` and other frames without frame pointers.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import time
from dataclasses import dataclass, field
from typing import Any

from lineprobe_agent.bpf_source import compile_program, constant, copied_stack
from lineprobe_agent.bpf_tables import drain, stat
from lineprobe_agent.bpf_tracer import BpfTracer
from lineprobe_agent.exemplar_buffer import ExemplarBuffer
from lineprobe_agent.proc_maps import code_range, libc_path, read_maps
from lineprobe_agent.protocol import LeakExemplar, LeakSample, LeakSite, LeakSnapshot
from lineprobe_agent.target_gate import TargetGate

MALLOC_COST_US = 4.0
"""Measured cost per tracked allocation and its free: probe traps plus the BPF work (stack id,
map updates), on this machine kind (an untracked call costs about 0.85 us in traps alone)."""
FREE_COST_US = 0.35
"""Measured cost of the free probe per call, placed after the NULL check."""

# Indices into the per-CPU stats array (enum lp_leak_stat in bpf/lineprobe.h).
STAT_LOST = constant("LEAK_STAT_LOST")
STAT_SITES_FULL = constant("LEAK_STAT_SITES_FULL")
STAT_MALLOCS = constant("LEAK_STAT_MALLOCS")
STAT_FREES = constant("LEAK_STAT_FREES")

DUTY_CYCLED = ("malloc", "calloc", "realloc")
"""The allocators hot enough to matter: their probes come and go with the sampling windows.
The others (rare) stay attached; their entry probes track only while sampling is on."""
CALIBRATION_S = 0.1
"""The first sampling window, which measures the allocation rate."""
TRACKING_WINDOW_S = 0.5
"""How long each sampling window tracks allocations when not everything is tracked."""

# Allocation functions: (symbol, kind). Kinds select how size and result are read.
ALLOCATORS = (
    ("malloc", 0),
    ("calloc", 1),
    ("realloc", 2),
    ("reallocarray", 3),
    ("posix_memalign", 4),
    ("aligned_alloc", 5),
    ("memalign", 5),
    ("valloc", 0),
    ("pvalloc", 0),
)

ENTRY_FUNCTIONS = {
    0: "malloc_enter",
    1: "calloc_enter",
    2: "realloc_enter",
    3: "reallocarray_enter",
    4: "posix_memalign_enter",
    5: "aligned_enter",
}


def emulated_probe_offset(code: bytes) -> int:
    """Where to put a uprobe in a function that starts with ``code`` so the kernel can emulate it.

    x86 uprobes emulate ``push`` but single-step most other instructions,
    which doubles the cost. glibc's ``free`` starts with a NULL check
    (``test %rdi,%rdi; je rel``); after it comes a ``push``. Only these exact
    byte patterns are recognised, so the probe always sits on an instruction
    boundary; anything else keeps the function's first byte.
    """
    offset = 0
    if code[:4] == b"\xf3\x0f\x1e\xfa":  # endbr64
        offset = 4
    rest = code[offset:]
    if rest[:3] == b"\x48\x85\xff":  # test %rdi,%rdi
        if rest[3:5] == b"\x0f\x84" and len(rest) >= 9:  # je rel32
            after = offset + 9
        elif rest[3:4] == b"\x74" and len(rest) >= 5:  # je rel8
            after = offset + 5
        else:
            return 0
        following = code[after : after + 2]
        if following[:1] and (
            0x50 <= following[0] <= 0x57 or (following[0] == 0x41 and 0x50 <= following[1] <= 0x57)
        ):
            return after
    return 0


MIN_FRACTION = 0.01
"""The smallest share of the time the hot allocation probes are attached."""


def sampling_fraction(observed_per_s: float, budget_percent: float) -> tuple[float, float]:
    """The governor's choice: (fraction of the time to track, estimated allocations per second).

    ``observed_per_s`` is the allocation rate seen with every allocation tracked. The probes
    slow the target, so their cost (MALLOC_COST_US a call) is taken out to estimate the
    untraced rate; the fraction keeps rate x MALLOC_COST_US x fraction within the budget.
    A target that spent all its time in probed calls is allocation-bound: its untraced rate
    is unknown but high, and it gets the smallest fraction (the rate reported is the one seen).
    """
    gap_us = 1e6 / observed_per_s - MALLOC_COST_US if observed_per_s > 0 else float("inf")
    rate = 1e6 / gap_us if gap_us > 0.05 else float("inf")
    estimated = observed_per_s if rate == float("inf") else rate
    cost = rate * MALLOC_COST_US / 1e6  # CPU-seconds per second if everything were tracked
    fraction = 1.0 if cost <= 0 else min(1.0, max(MIN_FRACTION, budget_percent / 100 / cost))
    return fraction, estimated


def pause_after(window_s: float, fraction: float) -> float:
    """How long the hot probes stay detached after a window of ``window_s`` with them attached
    (attaching and detaching included), so that they are attached ``fraction`` of the time."""
    return window_s * (1 / fraction - 1)


def allocator_addresses(library: str) -> dict[str, int | None]:
    """ELF virtual addresses of ``free`` and the ALLOCATORS in a C library's ``.dynsym``.

    A versioned name counts under its base name (``free@@GLIBC_2.2.5``); the first defined
    symbol of a name wins; a name the library does not define is None."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    symbols: dict[str, int | None] = dict.fromkeys(["free"] + [n for n, _ in ALLOCATORS])
    with open(library, "rb") as stream:
        dynsym = ELFFile(stream).get_section_by_name(".dynsym")
        if not isinstance(dynsym, SymbolTableSection):
            return symbols
        for symbol in dynsym.iter_symbols():
            base = symbol.name.split("@", 1)[0]
            if base in symbols and symbol["st_value"] and symbols[base] is None:
                symbols[base] = int(symbol["st_value"])
    return symbols


def code_at(library: str, address: int, length: int = 16) -> bytes:
    """``length`` bytes of an ELF file at a virtual address of its loaded segments (else b"")."""
    from elftools.elf.elffile import ELFFile

    with open(library, "rb") as stream:
        for segment in ELFFile(stream).iter_segments(type="PT_LOAD"):
            start = segment["p_vaddr"]
            if start <= address < start + segment["p_filesz"]:
                stream.seek(segment["p_offset"] + address - start)
                return stream.read(length)
    return b""


def find_libc(pid: int) -> str | None:
    """Path of the C library the process maps (as seen from the process's root)."""
    try:
        return libc_path(read_maps(pid))
    except OSError:
        return None


@dataclass
class LeakTracer(BpfTracer):
    """One compiled program, attached to one target per run."""

    TABLES = ("pending", "allocs", "sites", "stack_traces")

    _bpf: Any = None
    _pid: int = 0
    _libc: str = ""
    _attached_allocs: list[tuple[int, bool]] = field(default_factory=list)
    _permanent: list[tuple[str, int]] = field(default_factory=list)
    _permanent_allocs: list[tuple[int, bool]] = field(default_factory=list)
    _history: list[LeakSnapshot] = field(default_factory=list)
    _started: float = 0.0
    _tracking_since: float | None = None
    _tracked_s: float = 0.0
    _first_tracked_at: float | None = None
    _last_tracked_at: float = 0.0
    _window_opened: float = 0.0
    _next_window: float = 0.0
    _calibrated: bool = True
    _stopped_at: float | None = None
    _calibration_started: float | None = None
    _calibration_mallocs: int = 0
    _budget_percent: float = 5.0
    _symbols: dict[str, int | None] = field(default_factory=dict)
    fraction: float = 1.0
    malloc_rate: float = 0.0

    def __post_init__(self) -> None:
        self._bpf = compile_program("leak_tracer")
        self._exemplars: ExemplarBuffer[LeakExemplar] = ExemplarBuffer(self._bpf, _exemplar_of, 128)
        self.gate = TargetGate(self._bpf)

    # -- attaching --------------------------------------------------------------------------

    def start(self, pid: int, libc: str, fraction: float | None, budget_percent: float) -> None:
        self._reset()
        self._pid = pid
        self._libc = libc
        self._started = time.monotonic()
        self.gate.attach()
        self.gate.open(pid)
        self._set_code_range(pid)
        free_address = self._symbol_address("free")
        if free_address is None:
            raise RuntimeError(f"{libc} has no free symbol")
        free_probe = free_address + emulated_probe_offset(code_at(f"/proc/{pid}/root{libc}", free_address))
        self._bpf.attach_uprobe(name=libc, addr=free_probe, fn_name=b"free_enter", pid=pid)
        self._permanent.append(("free", free_probe))
        # realloc's release of the old block must always be seen; its new block is
        # tracked only while sampling (the return probe comes and goes).
        realloc = self._symbol_address("realloc")
        if realloc is not None:
            self._bpf.attach_uprobe(name=libc, addr=realloc, fn_name=b"realloc_enter", pid=pid)
            self._permanent.append(("realloc", realloc))
        rare = tuple(name for name, _ in ALLOCATORS if name not in DUTY_CYCLED)
        self._attach_allocators(rare)
        self._permanent_allocs = self._attached_allocs
        self._attached_allocs = []
        self._budget_percent = budget_percent
        self._calibration_started = None
        if fraction is not None:
            self.fraction = min(max(fraction, 0.001), 1.0)
            self._calibrated = True
        else:
            self.fraction = 1.0
            self._calibrated = False
        self._window_opened = time.monotonic()
        self._attach_allocators(DUTY_CYCLED)

    def _set_code_range(self, pid: int) -> None:
        """The executable's code mapping, for the call-path fingerprint (none: fingerprint 0)."""
        start = end = 0
        with contextlib.suppress(OSError):
            start, end = code_range(read_maps(pid), os.readlink(f"/proc/{pid}/exe"))
        self._bpf["code_range"][ctypes.c_int(0)] = ctypes.c_uint64(start)
        self._bpf["code_range"][ctypes.c_int(1)] = ctypes.c_uint64(end)

    def _symbol_address(self, name: str) -> int | None:
        """A libc function's address (ELF virtual address), from one read of ``.dynsym`` per run."""
        if not self._symbols:
            self._symbols = allocator_addresses(f"/proc/{self._pid}/root{self._libc}")
        return self._symbols.get(name)

    def _calibrate(self, budget_percent: float) -> None:
        """Choose the fraction of time the hot allocation probes stay attached.

        Runs once the target is running (a launched command is released only
        when the window opens): after CALIBRATION_S with the probes attached,
        the allocation rate seen gives the fraction that keeps their cost
        (rate x MALLOC_COST_US x fraction) within the budget. ``free`` costs
        what it costs: it must see every free.
        """
        now = time.monotonic()
        if self._calibration_started is None:
            self._calibration_started = now
            self._calibration_mallocs = stat(self._bpf, STAT_MALLOCS)
            return
        if now - self._calibration_started < CALIBRATION_S:
            return
        window = now - self._calibration_started
        observed = (stat(self._bpf, STAT_MALLOCS) - self._calibration_mallocs) / window
        self.fraction, self.malloc_rate = sampling_fraction(observed, budget_percent)
        self._calibrated = True
        if self.fraction < 1.0:
            opened = self._window_opened
            self._detach_allocators()  # the first sampling window ends here
            cost_on = time.monotonic() - opened
            self._next_window = time.monotonic() + pause_after(cost_on, self.fraction)

    def _attach_allocators(self, names: tuple[str, ...]) -> None:
        seen = {address for address, _ in self._attached_allocs}
        for name, kind in ALLOCATORS:
            address = self._symbol_address(name)
            if name not in names or address is None or address in seen:
                continue  # not this group, absent, or an alias already probed (aligned_alloc = memalign)
            seen.add(address)
            if name != "realloc":  # realloc's entry probe stays attached all along
                entry = ENTRY_FUNCTIONS[kind].encode()
                self._bpf.attach_uprobe(name=self._libc, addr=address, fn_name=entry, pid=self._pid)
                self._attached_allocs.append((address, False))
            self._bpf.attach_uretprobe(name=self._libc, addr=address, fn_name=b"alloc_exit", pid=self._pid)
            self._attached_allocs.append((address, True))
        self._set_tracking(True)

    def _detach_allocators(self) -> None:
        """Detach the duty-cycled probes (about 0.15 s each: the kernel waits for a grace period)."""
        self._set_tracking(False)
        for address, is_return in self._attached_allocs:
            try:
                if is_return:
                    self._bpf.detach_uretprobe(name=self._libc, addr=address, pid=self._pid)
                else:
                    self._bpf.detach_uprobe(name=self._libc, addr=address, pid=self._pid)
            except Exception:
                pass  # the target exited: the kernel dropped the probe already
        self._attached_allocs = []

    def _set_tracking(self, on: bool) -> None:
        now = time.monotonic()
        if on and self._tracking_since is None:
            self._tracking_since = now
            if self._first_tracked_at is None:
                self._first_tracked_at = now
        elif not on and self._tracking_since is not None:
            self._tracked_s += now - self._tracking_since
            self._tracking_since = None
            self._last_tracked_at = now
        self._bpf["tracking"][ctypes.c_int(0)] = ctypes.c_uint32(1 if on else 0)

    # -- the window --------------------------------------------------------------------------

    def poll(self, timeout_s: float) -> None:
        """Deliver exemplars, and open and close sampling windows on schedule."""
        self._duty_cycle()
        self._bpf.perf_buffer_poll(timeout=max(int(min(timeout_s, 0.05) * 1000), 0))

    def _duty_cycle(self) -> None:
        if not self._calibrated:
            self._calibrate(self._budget_percent)
            return
        now = time.monotonic()
        if self.fraction >= 1.0:
            if not self._attached_allocs:
                self._attach_allocators(DUTY_CYCLED)
            return
        if self._attached_allocs:
            if self._tracking_since is not None and now - self._tracking_since >= TRACKING_WINDOW_S:
                self._detach_allocators()
                # The probes cost from attach to the end of detach: the pause keeps
                # that share of the time at the chosen fraction.
                cost_on = time.monotonic() - self._window_opened
                self._next_window = time.monotonic() + pause_after(cost_on, self.fraction)
        elif now >= self._next_window:
            self._window_opened = now
            self._attach_allocators(DUTY_CYCLED)

    def tick(self) -> None:
        """A snapshot of every site's outstanding bytes, for growth over time."""
        at = time.monotonic() - self._started
        samples = [
            LeakSample(int(k.caller), int(k.stack_id), int(v.bytes), int(v.count), int(k.path_hash))
            for k, v in self._bpf["sites"].items()
        ]
        self._history.append(LeakSnapshot(round(at, 3), samples))

    def events_so_far(self) -> int:
        return stat(self._bpf, STAT_MALLOCS)

    def stop(self) -> None:
        self._stopped_at = time.monotonic()
        self._detach_allocators()
        self._attached_allocs, self._permanent_allocs = self._permanent_allocs, []
        self._detach_allocators()
        for _, address in self._permanent:
            with contextlib.suppress(Exception):  # the target exited: the probe is gone already
                self._bpf.detach_uprobe(name=self._libc, addr=address, pid=self._pid)
        self._permanent = []
        self.gate.close()
        self.gate.detach()

    def collect(self) -> tuple[list[LeakSite], list[LeakExemplar], list[LeakSnapshot], dict[str, float]]:
        self._bpf.perf_buffer_poll(timeout=0)
        now_ns = time.monotonic_ns()
        oldest: dict[tuple[int, int, int], int] = {}
        newest: dict[tuple[int, int, int], int] = {}
        # One pass that reads and empties the blocks in batches: O(blocks), where a
        # per-key read and delete of a hash map rescans its buckets after each delete.
        for _, alloc in drain(self._bpf["allocs"]):
            key = (int(alloc.key.caller), int(alloc.key.stack_id), int(alloc.key.path_hash))
            ts = int(alloc.ts)
            if key not in oldest or ts < oldest[key]:
                oldest[key] = ts
            if key not in newest or ts > newest[key]:
                newest[key] = ts
        traces = self._bpf["stack_traces"]
        sites = []
        for key, value in self._bpf["sites"].items():
            caller, stack_id, path = int(key.caller), int(key.stack_id), int(key.path_hash)
            stack = [int(a) for a in traces.walk(stack_id)] if stack_id >= 0 else []
            first = oldest.get((caller, stack_id, path))
            last = newest.get((caller, stack_id, path))
            sites.append(
                LeakSite(
                    caller=caller,
                    stack_id=stack_id,
                    path_hash=path,
                    frame_pointer_stack=stack,
                    outstanding_bytes=max(int(value.bytes), 0),
                    outstanding_count=max(int(value.count), 0),
                    allocations=int(value.allocs),
                    allocated_bytes=int(value.alloc_bytes),
                    oldest_age_s=round((now_ns - first) / 1e9, 3) if first is not None else None,
                    newest_age_s=round((now_ns - last) / 1e9, 3) if last is not None else None,
                )
            )
        # Detaching takes a while (a grace period per probe): the window ended at stop().
        elapsed = max((self._stopped_at or time.monotonic()) - self._started, 1e-9)
        sampling = {
            "fraction": round(self.fraction, 4),
            "tracked_s": round(self._tracked_s, 3),
            "elapsed_s": round(elapsed, 3),
            "tracked_share": round(min(self._tracked_s / elapsed, 1.0), 4),
            # From the first tracking window's start to the last one's end: the time over which
            # a leaking site's outstanding blocks are spread.
            "tracking_span_s": round(max(self._last_tracked_at - (self._first_tracked_at or 0.0), 0.0), 3),
            "malloc_rate_per_s": round(self.malloc_rate, 1),
            "tracked_allocations": stat(self._bpf, STAT_MALLOCS),
            "tracked_frees": stat(self._bpf, STAT_FREES),
            "lost": stat(self._bpf, STAT_LOST) + stat(self._bpf, STAT_SITES_FULL),
            "exemplars_lost": self._exemplars.lost,
            "malloc_probe_cost_us": MALLOC_COST_US,
            "free_probe_cost_us": FREE_COST_US,
        }
        result = (sites, list(self._exemplars.records), list(self._history), sampling)
        self._reset()
        return result

    def _forget(self) -> None:
        self._history = []
        self._tracked_s = 0.0
        self._tracking_since = None
        self._first_tracked_at = None
        self._last_tracked_at = 0.0
        self._stopped_at = None
        self._symbols = {}


def _exemplar_of(e: Any) -> LeakExemplar:
    """One exemplar record from the ring, copied."""
    return LeakExemplar(
        int(e.caller), int(e.stack_id), int(e.ip), int(e.sp), int(e.bp), copied_stack(e), int(e.path_hash)
    )
