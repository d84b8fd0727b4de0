"""Stack counts at any tracepoint, aggregated in the kernel (what bcc's stackcount and
``perf record -e TP -g`` answer).

One generic BPF program (``bpf/stack_counter.bpf.c``), compiled once per agent,
is attached for each trace to the tracepoint the trace names and detached when
it stops. Every hit in the target (or in any task, system-wide) counts its
(tgid, kernel stack, user stack) in a hash map; nothing per event crosses to
user space except exemplars: for the first hits of each distinct key, then one
in ``EXEMPLAR_EVERY`` (set in the C), the task's user registers and a copy of its user stack,
so that the server can unwind with CFI where the kernel's frame-pointer walk
loses the caller (glibc has no frame pointers). What could not be recorded is
counted, never dropped silently.

The results have the CPU profile's shapes (``StackCount``, ``SampleCounters``,
``Exemplar``): a stack count is a weighted pair of stacks, as a sample is.
Their ``samples`` counter holds the events counted.
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lineprobe_agent.bpf_source import compile_program, constant, copied_stack
from lineprobe_agent.bpf_tables import StackStats, stat
from lineprobe_agent.bpf_tracer import BpfTracer
from lineprobe_agent.exemplar_buffer import ExemplarBuffer
from lineprobe_agent.protocol import Exemplar, SampleCounters, StackCount
from lineprobe_agent.target_gate import TargetGate

EXEMPLAR_BUFFER_PAGES = 128
"""Perf buffer per CPU (512 KiB): about 60 exemplars between two polls."""

OFFCPU_TRACEPOINT = "sched:sched_switch"
"""Where off-CPU time is measured: each switch out of a thread, and back in."""
TRACEFS_EVENTS = (Path("/sys/kernel/tracing/events"), Path("/sys/kernel/debug/tracing/events"))
TRACEPOINT_NAME = re.compile(r"[A-Za-z0-9_]+:[A-Za-z0-9_]+")
USDT_EVENT = re.compile(r"usdt:(?:(/[^:\0]+):)?([A-Za-z0-9_]+):([A-Za-z0-9_]+)")
"""``usdt:PROVIDER:NAME`` (in any file the process maps) or ``usdt:/path/file:PROVIDER:NAME``."""

# Indices into the per-CPU stats and the settings arrays: bpf/lineprobe.h.
STATS = StackStats.named("SC", "EVENTS")
SETTING_EXEMPLARS = constant("SC_SETTING_EXEMPLARS")
SETTING_SYSTEM_WIDE = constant("SC_SETTING_SYSTEM_WIDE")
KEY_HAS_USER = constant("SC_KEY_HAS_USER")


class UnknownTracepoint(ValueError):
    """The tracepoint name is malformed, or this kernel has no such tracepoint."""


def tracepoint_format(tracepoint: str, roots: tuple[Path, ...] = TRACEFS_EVENTS) -> Path:
    """The tracefs directory of ``category:name``; raises UnknownTracepoint when there is none."""
    if not TRACEPOINT_NAME.fullmatch(tracepoint):
        raise UnknownTracepoint(
            f"bad tracepoint name {tracepoint!r}: expected CATEGORY:NAME of letters, digits "
            "and underscores, such as block:block_rq_issue"
        )
    category, name = tracepoint.split(":")
    mounted = [root for root in roots if root.is_dir()]
    if not mounted:
        raise UnknownTracepoint(
            f"cannot check tracepoint {tracepoint!r}: tracefs is not mounted "
            f"(none of {', '.join(str(r) for r in roots)})"
        )
    for root in mounted:
        directory = root / category / name
        if (directory / "id").is_file():
            return directory
    raise UnknownTracepoint(
        f"this kernel has no tracepoint {tracepoint!r} (not under {mounted[0]}); "
        f"list them with `ls {mounted[0]}/{category}` or `tplist-bpfcc`"
    )


@dataclass(frozen=True)
class UsdtSite:
    """One place a USDT probe fires: a file, and the address bcc attaches its uprobe at."""

    binary: str
    address: int
    semaphore: int = 0
    """The probe's semaphore (its address in the file; 0: none): the program fires the probe
    only while it is set."""


class ProbeSemaphores:
    """The semaphores of a probe's sites, set while uprobes of our own are on them: bcc's USDT
    context adds one to each when a probe is enabled in it, through the process's memory, and
    takes it back when the context is freed (``release``). A semaphore-guarded program prepares
    a probe's arguments only while its semaphore is set: without it the uprobe never fires.

    The kernel's own counting (a uprobe's ``ref_ctr_offset``) is out of reach: bcc's Python
    binding does not pass it. An agent killed with SIGKILL leaves the count raised, which costs
    the program its argument set-up at the site, and nothing more."""

    def __init__(self, pid: int, event: str) -> None:
        from bcc.usdt import USDT, USDTException

        path, provider, name = parse_usdt_event(event)
        context = USDT(pid=pid, path=path) if path else USDT(pid=pid)
        try:
            context.enable_probe(probe=f"{provider}:{name}", fn_name="on_usdt")
        except USDTException as exc:
            raise UnknownTracepoint(
                f"cannot set the semaphore of {provider}:{name} in process {pid}: {exc}"
            ) from None
        self._context: Any = context

    def release(self) -> None:
        self._context = None  # bcc's context takes its count back when freed


def is_usdt(event: str) -> bool:
    return event.startswith("usdt:")


def parse_usdt_event(event: str) -> tuple[str | None, str, str]:
    """``usdt:[/path/file:]PROVIDER:NAME`` as (path or None, provider, name); raises
    UnknownTracepoint, in the words the user typed, for anything else."""
    match = USDT_EVENT.fullmatch(event)
    if match is None:
        raise UnknownTracepoint(
            f"bad USDT probe {event.removeprefix('usdt:')!r}: expected PROVIDER:NAME or "
            "/path/to/file:PROVIDER:NAME, of letters, digits and underscores"
        )
    path, provider, name = match.groups()
    return path, provider, name


def usdt_sites(pid: int, event: str) -> list[UsdtSite]:
    """Every site of the USDT probe ``event`` in the files process ``pid`` maps, as bcc's USDT
    reader finds them (the same notes ``tplist`` lists), with the semaphore that guards each.
    Raises UnknownTracepoint when the name is malformed or the process has no such probe."""
    path, provider, name = parse_usdt_event(event)
    from bcc.usdt import USDT, USDTException

    try:
        context = USDT(pid=pid)
    except USDTException:
        raise UnknownTracepoint(f"process {pid} maps no file with USDT probes") from None
    sites: list[UsdtSite] = []
    for probe in context.enumerate_probes():
        if (probe.provider.decode(), probe.name.decode()) != (provider, name):
            continue
        binary = probe.bin_path.decode()
        if path is not None and binary != path and not binary.endswith(f"/root{path}"):
            continue
        for index in range(probe.num_locations):
            location = probe.get_location(index)
            sites.append(UsdtSite(location.bin_path.decode(), int(location.address), int(probe.semaphore)))
    if not sites:
        where = f" in {path}" if path else ""
        raise UnknownTracepoint(
            f"process {pid} has no USDT probe {provider}:{name}{where} "
            f"(list its probes with `lineprobe usdt list --pid {pid}`)"
        )
    return sites


@dataclass
class CollectedStackCounts:
    stacks: list[StackCount]
    counters: SampleCounters
    exemplars: list[Exemplar]
    tgids: list[int] = field(default_factory=list)
    """The process of each entry of ``stacks`` (all the target's in pid mode; in system-wide
    mode user addresses mean something only together with their process's mappings)."""
    comms: dict[int, str] = field(default_factory=dict)
    """System-wide mode: the latest name seen of each process (kernel threads
    included), so that processes that have exited meanwhile are still named."""


@dataclass(frozen=True)
class _RawExemplar:
    key: tuple[int, int, int, int]
    tid: int
    ip: int
    sp: int
    bp: int
    data: bytes

    @classmethod
    def of(cls, event: Any) -> _RawExemplar:
        """One exemplar record from the ring, copied."""
        return cls(
            (int(event.tgid), int(event.user_stack_id), int(event.kernel_stack_id), int(event.user_ip)),
            int(event.tid),
            int(event.ip),
            int(event.sp),
            int(event.bp),
            copied_stack(event),
        )


class StackCounter(BpfTracer):
    """Owns one compiled program; ``start``/``stop`` count stacks at one tracepoint at a time."""

    TABLES = ("counts", "comms", "stack_traces", "offcpu_starts")

    def __init__(self) -> None:
        from bcc import BPF

        self._bpf: Any = compile_program("stack_counter")
        self._bpf.load_func(b"on_tracepoint", BPF.TRACEPOINT)  # verified now, not at the first start
        self._bpf.load_func(b"on_switch", BPF.TRACEPOINT)
        self._bpf.load_func(b"on_usdt", BPF.KPROBE)  # uprobes are kprobe programs
        self._tracepoint: bytes | None = None
        self._uprobes: list[UsdtSite] = []
        self._uprobe_pid = -1
        self._semaphores: ProbeSemaphores | None = None
        self._displaced_fd: int | None = None
        self._exemplars: ExemplarBuffer[_RawExemplar] = ExemplarBuffer(
            self._bpf, _RawExemplar.of, EXEMPLAR_BUFFER_PAGES
        )
        self.gate = TargetGate(self._bpf)

    def _set(self, index: int, value: int) -> None:
        self._bpf["settings"][ctypes.c_int(index)] = ctypes.c_uint32(value)

    def poll(self, timeout_s: float) -> None:
        """Deliver pending exemplars (and gate events), waiting up to ``timeout_s`` for some."""
        self._bpf.perf_buffer_poll(timeout=max(int(timeout_s * 1000), 0))

    def start_offcpu(self, pid: int, exemplars: bool = True) -> None:
        """Off-CPU time of process ``pid``'s threads, by the stacks they left the CPU with."""
        self.start(pid, OFFCPU_TRACEPOINT, exemplars, function=b"on_switch")

    def start(
        self,
        pid: int | None,
        tracepoint: str,
        exemplars: bool = True,
        sites: list[UsdtSite] | None = None,
        function: bytes = b"on_tracepoint",
    ) -> None:
        """Count stacks at ``tracepoint`` (``category:name``) in process ``pid``, or in every
        task when ``pid`` is None (the caller must be allowed to see the whole system); or at
        every site of a USDT probe (``usdt:...``) in process ``pid`` (``sites``, when the caller
        has found them already with ``usdt_sites``).

        Raises UnknownTracepoint for a malformed name or one this kernel or process lacks.
        """
        if self._tracepoint is not None or self._uprobes:
            raise RuntimeError("already counting stacks")
        if is_usdt(tracepoint):
            if pid is None:
                raise UnknownTracepoint("a USDT probe is counted in one process: give its PID")
            found = sites if sites is not None else usdt_sites(pid, tracepoint)
            self._start_usdt(pid, tracepoint, found, exemplars)
            return
        tracefs_dir = tracepoint_format(tracepoint)
        self._reset()
        self._set(SETTING_EXEMPLARS, 1 if exemplars else 0)
        if pid is None:
            self.gate.close()
            self._set(SETTING_SYSTEM_WIDE, 1)
        else:
            self._set(SETTING_SYSTEM_WIDE, 0)
            self.gate.attach()  # the gate follows the target's execs and its PID's reuse
            self.gate.open(pid)
        name = f"{tracefs_dir.parent.name}:{tracefs_dir.name}".encode()
        # bcc keeps one descriptor per tracepoint name: the gate's own sched tracepoints are
        # already there, and are put back when this trace detaches.
        self._displaced_fd = self._bpf.tracepoint_fds.pop(name, None)
        try:
            self._bpf.attach_tracepoint(tp=name, fn_name=function)
        except Exception:
            self._restore_displaced(name)
            self._set(SETTING_SYSTEM_WIDE, 0)
            self.gate.close()
            self.gate.detach()
            raise
        self._tracepoint = name

    def start_uprobes(self, pid: int, sites: list[UsdtSite], exemplars: bool = True) -> None:
        """Count stacks at uprobes of process ``pid`` (a source line's sites, checked by the
        caller against what the process maps)."""
        if self._tracepoint is not None or self._uprobes:
            raise RuntimeError("already counting stacks")
        self._start_usdt(pid, None, sites, exemplars)

    def _start_usdt(self, pid: int, event: str | None, sites: list[UsdtSite], exemplars: bool) -> None:
        self._reset()
        self._set(SETTING_EXEMPLARS, 1 if exemplars else 0)
        self._set(SETTING_SYSTEM_WIDE, 0)
        self.gate.attach()
        self.gate.open(pid)
        self._uprobe_pid = pid
        try:
            for site in sites:
                # Filtered to the target by the kernel (pid) and by the gate (its execs, PID reuse).
                self._bpf.attach_uprobe(name=site.binary, addr=site.address, fn_name=b"on_usdt", pid=pid)
                self._uprobes.append(site)
            if event is not None and any(site.semaphore for site in sites):  # once uprobes count
                self._semaphores = ProbeSemaphores(pid, event)
        except Exception:
            self._detach_uprobes()
            self.gate.close()
            self.gate.detach()
            raise

    def _detach_uprobes(self) -> None:
        semaphores, self._semaphores = self._semaphores, None
        if semaphores is not None:
            semaphores.release()
        sites, self._uprobes = self._uprobes, []
        for site in sites:
            self._bpf.detach_uprobe(name=site.binary, addr=site.address, pid=self._uprobe_pid)

    def events_so_far(self) -> int:
        return stat(self._bpf, STATS.events)

    def tick(self) -> None:
        """Nothing to do between polls: stacks are aggregated in the kernel."""

    def stop(self) -> None:
        """Detach from the tracepoint: counting ends here, the maps stay readable."""
        name, self._tracepoint = self._tracepoint, None
        try:
            self._detach_uprobes()
            if name is not None:
                self._bpf.detach_tracepoint(tp=name)
        finally:
            if name is not None:
                self._restore_displaced(name)
            self._set(SETTING_SYSTEM_WIDE, 0)
            self.gate.close()
            self.gate.detach()

    def _restore_displaced(self, name: bytes) -> None:
        if self._displaced_fd is not None:
            self._bpf.tracepoint_fds[name] = self._displaced_fd
            self._displaced_fd = None

    def collect(self, name_kernel_address: Callable[[int], str]) -> CollectedStackCounts:
        self.poll(0)  # whatever is still in the ring
        traces = self._bpf["stack_traces"]
        stacks: list[StackCount] = []
        tgids: list[int] = []
        index_of: dict[tuple[int, int, int, int], int] = {}
        kernel_names: dict[int, list[str]] = {}
        for key, value in self._bpf["counts"].items():
            if not value.count:
                continue  # off-CPU: stacks left with in the window, not yet back when it closed
            tgid, user_id, kernel_id = int(key.tgid), int(key.user_stack_id), int(key.kernel_stack_id)
            index_of[(tgid, user_id, kernel_id, int(key.user_ip))] = len(stacks)
            has_user = bool(int(key.flags) & KEY_HAS_USER)
            user: list[int] = []
            if user_id >= 0:
                user = [int(address) for address in traces.walk(user_id)]
            elif key.user_ip:
                user = [int(key.user_ip)]
            kernel: list[str] = []
            if kernel_id >= 0:
                if kernel_id not in kernel_names:
                    kernel_names[kernel_id] = [name_kernel_address(int(a)) for a in traces.walk(kernel_id)]
                kernel = kernel_names[kernel_id]
            stacks.append(StackCount(int(value.count), user, kernel, has_user and user_id < 0))
            tgids.append(tgid)
        comms = {
            int(tgid.value): bytes(comm.comm).split(b"\0", 1)[0].decode(errors="replace")
            for tgid, comm in self._bpf["comms"].items()
        }
        counters = STATS.read(self._bpf, self._exemplars.lost)
        exemplars = [
            Exemplar(index_of.get(raw.key, -1), raw.tid, raw.ip, raw.sp, raw.bp, raw.data)
            for raw in self._exemplars.records
        ]
        self._reset()
        return CollectedStackCounts(stacks, counters, exemplars, tgids, comms)
