"""The agent's tracers, keyed by the request that runs them: dispatch, prepare and close are lookups.

A tracer is a BPF program (its own ``bpf/*.bpf.c``) behind a class that is
compiled once per agent (its constructor), then started on a target, polled and
ticked through a window, stopped, collected, and closed when the agent ends
(``TracerProgram``). An entry here says which request runs it, the name
``prepare`` compiles it by, and how one request is carried out: its checks
beyond the wire's own bounds, its start, and the result body it answers with
(the ``TraceHeader`` comes from ``Tracing``).

Adding a tracer: its program and class, its request and body in ``protocol``,
one ``run_*`` function and one ``TracerEntry`` here (see ARCHITECTURE.md,
"How to add a tracer").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from lineprobe_agent import protocol
from lineprobe_agent.cpu_profiler import CpuProfiler, name_kernel_address
from lineprobe_agent.cpu_time import CpuTimeSampler
from lineprobe_agent.disk_io import DiskTracer
from lineprobe_agent.file_io import FileTracer
from lineprobe_agent.irq_time import IrqTracer
from lineprobe_agent.jvm_events import JvmEventTracer
from lineprobe_agent.leak_tracer import LeakTracer, find_libc
from lineprobe_agent.mapped_files import replaced_mapping
from lineprobe_agent.page_cache import PageCacheTracer
from lineprobe_agent.probe_args import ProbeArgCounter, ProbeHitTracer, ProbeProgram
from lineprobe_agent.stack_counter import (
    OFFCPU_TRACEPOINT,
    StackCounter,
    UnknownTracepoint,
    UsdtSite,
    is_usdt,
    tracepoint_format,
    usdt_sites,
)
from lineprobe_agent.syscall_tracer import SyscallTracer
from lineprobe_agent.target_gate import GateGroup, TargetGate
from lineprobe_agent.tracepoint_events import GATE_TRACEPOINTS, CountedField, TracepointTracer, read_format
from lineprobe_agent.tracing import RequestFailed, Tracing
from lineprobe_agent.uprobe_sites import SiteRefused, checked_sites
from lineprobe_agent.usdt_program import UsdtProgram
from lineprobe_agent.window import WindowTracer

ProbeT = TypeVar("ProbeT", bound=ProbeProgram)
UsdtT = TypeVar("UsdtT", bound=UsdtProgram)
C = TypeVar("C")


class RequestProgram(WindowTracer, Protocol):
    """A program compiled for one request: run in a window, gated, closed after."""

    gate: TargetGate

    def close(self) -> None: ...


RequestProgramT = TypeVar("RequestProgramT", bound=RequestProgram)


class TracerProgram(Protocol):
    """What the agent holds of a compiled tracer between requests."""

    gate: TargetGate

    def poll(self, timeout_s: float) -> None: ...

    def tick(self) -> None: ...

    def events_so_far(self) -> int: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class TracerEntry:
    request: type[protocol.TracingRequest]
    program: str
    """The name ``prepare`` compiles it by (``PrepareRequest.programs``)."""
    build: Callable[[], TracerProgram] | None
    """Compile and load the BPF program (seconds; once per agent). None: ``run`` compiles one
    for each request (its probe's code is written into it), and ``prepare`` cannot."""
    run: Callable[[Tracing, Any], protocol.AgentMessage]
    """Carry out one request (typed by ``request``) on the target; returns the answer."""
    system_wide: bool = False
    """Whether a request without a pid traces every task (root callers only)."""


# -- CPU profiling -----------------------------------------------------------------------------


FOLLOW_NEEDS_ROOT = (
    "following children needs root: a child may exec a setuid program, and the agent does not check "
    "the caller's access to each child"
)


def run_profile(tracing: Tracing, request: protocol.ProfileRequest) -> protocol.ProfileDone:
    if request.follow_children and not tracing.session.access.caller.is_root:
        # Only a caller trusted to trace whatever runs (the gate's ``trusted``) may follow.
        raise RequestFailed(
            "permission-denied",
            f"{FOLLOW_NEEDS_ROOT} (the caller is uid {tracing.session.access.caller.uid})",
            "profile without --follow-children, or run as root",
        )
    profiler: CpuProfiler = tracing.program("cpu")
    tracing.attach(
        lambda: profiler.start(
            request.pid, request.frequency, request.exemplars, request.time_bucket_ms, request.follow_children
        ),
        profiler.stop,
        profiler.gate,
        "cannot attach the perf events",
    )
    collected, header = tracing.run(profiler, lambda: profiler.collect(name_kernel_address))
    return protocol.ProfileDone(
        request.id,
        protocol.ProfileResult(
            header=header,
            frequency=request.frequency,
            counters=collected.counters,
            stacks=collected.stacks,
            exemplars=collected.exemplars,
            thread_names=collected.thread_names,
            time_bucket_ms=request.time_bucket_ms,
            processes=collected.processes,
        ),
    )


# -- system calls --------------------------------------------------------------------------------


@dataclass
class _Hooked:
    """A tracer as the window drives it, with the run's own ``tick`` instead of the tracer's, and
    ``before_stop`` run first when the window ends (a last snapshot, a last CPU split)."""

    tracer: WindowTracer
    tick: Callable[[], None]
    before_stop: Callable[[], None]

    def poll(self, timeout_s: float) -> None:
        self.tracer.poll(timeout_s)

    def events_so_far(self) -> int:
        return self.tracer.events_so_far()

    def live(self, mappings: list[protocol.Mapping]) -> protocol.LiveReport | None:
        return self.tracer.live(mappings)

    def stop(self) -> None:
        self.before_stop()
        self.tracer.stop()


def _every(interval_s: float, action: Callable[[], None]) -> Callable[[], None]:
    """A tick that runs ``action`` at most once every ``interval_s``."""
    due = 0.0

    def tick() -> None:
        nonlocal due
        now = time.monotonic()
        if now >= due:
            due = now + interval_s
            action()

    return tick


def run_syscalls(tracing: Tracing, request: protocol.SyscallsRequest) -> protocol.SyscallsDone:
    tracer: SyscallTracer = tracing.program("syscalls")
    tracing.attach(
        lambda: tracer.start(request.pid, request.slow_ms, request.exemplars), tracer.stop, tracer.gate
    )
    cpu = CpuTimeSampler(request.pid)  # a pidstat-like CPU split, taken at every tick

    def tick() -> None:
        tracer.tick()
        cpu.sample()

    collected, header = tracing.run(_Hooked(tracer, tick, cpu.sample), tracer.collect)
    return protocol.SyscallsDone(
        request.id,
        protocol.SyscallsResult(
            header=header,
            counts=collected.counts,
            failures=collected.failures,
            io=collected.io,
            sleeps=collected.sleeps,
            block=collected.block,
            cpu=cpu.splits,
            exemplars=collected.exemplars,
            counters=collected.counters,
        ),
    )


# -- leaks -------------------------------------------------------------------------------------------


def _refuse_replaced_mappings(tracing: Tracing, pid: int) -> None:
    """Before root opens the target's files by path (bcc's USDT reader, the C library's symbols):
    refused when the caller has put something else at one of those paths."""
    problem = replaced_mapping(pid, tracing.session.access.caller.uid)
    if problem is not None:
        raise RequestFailed("permission-denied", problem)


def run_leaks(tracing: Tracing, request: protocol.LeaksRequest) -> protocol.LeaksDone:
    _refuse_replaced_mappings(tracing, request.pid)
    libc = find_libc(request.pid)
    if libc is None:  # before compiling: no allocator to probe is known at once
        raise RequestFailed(
            "attach-failed", f"process {request.pid} maps no C library: no allocator to probe"
        )
    tracer: LeakTracer = tracing.program("leaks")
    tracing.attach(
        lambda: tracer.start(request.pid, libc, request.sample_fraction, request.budget_percent),
        tracer.stop,
        tracer.gate,
        "cannot attach the allocator probes",
    )
    (sites, exemplars, history, sampling), header = tracing.run(
        # Sites are snapshot every interval_s, rather than every tick, and once more at the end.
        _Hooked(tracer, _every(request.interval_s, tracer.tick), tracer.tick),
        tracer.collect,
    )
    return protocol.LeaksDone(
        request.id,
        protocol.LeaksResult(
            header=header, libc=libc, sites=sites, exemplars=exemplars, history=history, sampling=sampling
        ),
    )


# -- stack counts at a tracepoint -----------------------------------------------------------------------


MAX_PROBE_SITES = 1024
"""Uprobes one request may place (each a breakpoint in the target's code, each a kernel
object): with at most four agents per caller (the service's limit), a caller's bound."""


def _bounded(sites: list[UsdtSite], probe: str) -> list[UsdtSite]:
    if len(sites) > MAX_PROBE_SITES:
        raise RequestFailed(
            "bad-request",
            f"{probe} has {len(sites):,} sites in this process; lineprobe places at most "
            f"{MAX_PROBE_SITES:,} probes for one trace (name the file, PATH:PROVIDER:NAME, to narrow it)",
        )
    return sites


def run_stackcount(tracing: Tracing, request: protocol.StackCountRequest) -> protocol.StackCountDone:
    sites: list[UsdtSite] | None = None
    try:  # before compiling: a typo, or a probe the process lacks, is known at once
        if not is_usdt(request.tracepoint):
            tracepoint_format(request.tracepoint)
        elif request.pid is None or request.start_at_exec:
            raise UnknownTracepoint(
                "a USDT probe is counted in a running process: give its PID (--pid), "
                "not --all and not a command to launch"
            )
        else:
            _refuse_replaced_mappings(tracing, request.pid)
            sites = _bounded(usdt_sites(request.pid, request.tracepoint), request.tracepoint)
    except UnknownTracepoint as exc:
        raise RequestFailed("bad-request", str(exc)) from None
    result = _counted_stacks(
        tracing,
        lambda counter: counter.start(request.pid, request.tracepoint, request.exemplars, sites),
        request.tracepoint,
    )
    return protocol.StackCountDone(request.id, result)


def run_line_hits(tracing: Tracing, request: protocol.LineHitsRequest) -> protocol.LineHitsDone:
    """A source line's hits: uprobes at the sites the server found, counted by stack."""
    if request.start_at_exec:
        raise RequestFailed(
            "bad-request",
            "line hits are counted in a running process: give its PID (--pid), not a command to launch",
        )
    _refuse_replaced_mappings(tracing, request.pid)  # bcc opens each file by path to place its uprobes
    try:  # before compiling: a site the process has no code at is known at once
        checked = checked_sites(request.pid, [(site.binary, site.address) for site in request.sites])
    except SiteRefused as exc:
        raise RequestFailed("bad-request", str(exc)) from None
    except OSError:
        raise RequestFailed("no-such-process", f"process {request.pid} has exited") from None
    sites = [UsdtSite(binary, address) for binary, address in checked]
    result = _counted_stacks(
        tracing,
        lambda counter: counter.start_uprobes(request.pid, sites, request.exemplars),
        request.lines,
    )
    return protocol.LineHitsDone(request.id, result)


def _counted_stacks(
    tracing: Tracing, start: Callable[[StackCounter], None], tracepoint: str
) -> protocol.StackCountResult:
    """The stack counter (compiled once per agent) started by ``start``, run, and collected."""
    counter: StackCounter = tracing.program("stackcount")
    tracing.attach(lambda: start(counter), counter.stop, counter.gate, f"cannot attach to {tracepoint}")
    collected, header = tracing.run(counter, lambda: counter.collect(name_kernel_address))
    return protocol.StackCountResult(
        header=header,
        tracepoint=tracepoint,
        counters=collected.counters,
        stacks=collected.stacks,
        exemplars=collected.exemplars,
        tgids=collected.tgids,
        comms=collected.comms,
    )


def run_offcpu(tracing: Tracing, request: protocol.OffCpuRequest) -> protocol.OffCpuDone:
    """Off-CPU time by stack, with the stack counter's program (its on_switch)."""
    result = _counted_stacks(
        tracing, lambda counter: counter.start_offcpu(request.pid, request.exemplars), OFFCPU_TRACEPOINT
    )
    return protocol.OffCpuDone(request.id, result)


def _run_compiled(
    tracing: Tracing,
    build: Callable[[], RequestProgramT],
    start: Callable[[RequestProgramT], None],
    failure: str,
    collect: Callable[[RequestProgramT], C],
) -> tuple[C, protocol.TraceHeader]:
    """A program compiled for one request (``build``), started, run for the window, collected,
    and closed whatever happened."""
    tracer = tracing.program_for_request(build)
    try:
        tracing.attach(lambda: start(tracer), tracer.stop, tracer.gate, failure)
        return tracing.run(tracer, lambda: collect(tracer))
    finally:
        tracer.close()


@dataclass
class _Together:
    """Two programs as one tracing window: each polled for half the wait, both ticked and stopped."""

    first: WindowTracer
    second: WindowTracer

    def poll(self, timeout_s: float) -> None:
        self.first.poll(timeout_s / 2)
        self.second.poll(timeout_s / 2)

    def tick(self) -> None:
        self.first.tick()
        self.second.tick()

    def events_so_far(self) -> int:
        return self.first.events_so_far() + self.second.events_so_far()

    def live(self, mappings: list[protocol.Mapping]) -> protocol.LiveReport | None:
        return None

    def stop(self) -> None:
        try:
            self.first.stop()
        finally:
            self.second.stop()


def run_wallclock(tracing: Tracing, request: protocol.WallClockRequest) -> protocol.WallClockDone:
    """CPU samples and off-CPU time of one process over one window: the CPU profiler and the
    stack counter's off-CPU program, both compiled once per agent, behind one group of gates."""
    profiler: CpuProfiler = tracing.program("cpu")
    counter: StackCounter = tracing.program("stackcount")
    together = _Together(profiler, counter)

    def start() -> None:
        profiler.start(request.pid, request.frequency, request.exemplars)
        counter.start_offcpu(request.pid, request.exemplars)

    tracing.attach(
        start,
        together.stop,
        GateGroup([profiler.gate, counter.gate]),
        "cannot attach the perf events and sched:sched_switch",
    )
    (samples, waits), header = tracing.run(
        together, lambda: (profiler.collect(name_kernel_address), counter.collect(name_kernel_address))
    )
    on_cpu = protocol.ProfileResult(
        header=header,
        frequency=request.frequency,
        counters=samples.counters,
        stacks=samples.stacks,
        exemplars=samples.exemplars,
    )
    off_cpu = protocol.StackCountResult(
        header=header,
        tracepoint=OFFCPU_TRACEPOINT,
        counters=waits.counters,
        stacks=waits.stacks,
        exemplars=waits.exemplars,
        tgids=waits.tgids,
        comms=waits.comms,
    )
    return protocol.WallClockDone(request.id, protocol.WallClockResult(header, on_cpu, off_cpu))


def run_disk(tracing: Tracing, request: protocol.DiskRequest) -> protocol.DiskDone:
    """Block I/O by device and process, with a program compiled for the request."""
    (latency, processes, records, counters, started_ns), header = _run_compiled(
        tracing,
        lambda: DiskTracer(request.pid is None, int(request.interval_s * 1e9), request.max_requests),
        lambda tracer: tracer.start(request.pid),
        "cannot attach to block:*",
        lambda tracer: (*tracer.collect(), tracer.started_ns),
    )
    result = protocol.DiskResult(
        header=header,
        latency=latency,
        processes=processes,
        requests=records,
        started_ns=started_ns,
        interval_s=request.interval_s,
        counters=counters,
    )
    return protocol.DiskDone(request.id, result)


def run_files(tracing: Tracing, request: protocol.FilesRequest) -> protocol.FilesDone:
    """File I/O by process, thread and descriptor, with a program compiled for the request."""
    slow_ns = int(request.slow_ms * 1e6)
    (io, latency, descriptors, slow, counters, started_ns), header = _run_compiled(
        tracing,
        lambda: FileTracer(request.pid is None, slow_ns, request.max_slow),
        lambda tracer: tracer.start(request.pid),
        "cannot attach to the file system calls' tracepoints",
        lambda tracer: (*tracer.collect(), tracer.started_ns),
    )
    result = protocol.FilesResult(
        header=header,
        io=io,
        latency=latency,
        descriptors=descriptors,
        slow=slow,
        started_ns=started_ns,
        slow_ms=request.slow_ms,
        counters=counters,
    )
    return protocol.FilesDone(request.id, result)


def run_pagecache(tracing: Tracing, request: protocol.PageCacheRequest) -> protocol.PageCacheDone:
    """Page-cache pages by process and file, with a program compiled for the request."""
    (files, counters), header = _run_compiled(
        tracing,
        lambda: PageCacheTracer(request.pid is None),
        lambda tracer: tracer.start(request.pid),
        "cannot attach to filemap:* and writeback:*",
        PageCacheTracer.collect,
    )
    return protocol.PageCacheDone(
        request.id, protocol.PageCacheResult(header=header, files=files, counters=counters)
    )


def run_irqs(tracing: Tracing, request: protocol.IrqRequest) -> protocol.IrqDone:
    """Interrupt time machine-wide, with a program compiled for the request."""
    (hard, soft), header = _run_compiled(
        tracing, IrqTracer, lambda tracer: tracer.start(None), "cannot attach to irq:*", IrqTracer.collect
    )
    return protocol.IrqDone(request.id, protocol.IrqResult(header=header, hard=hard, soft=soft))


# -- USDT argument counts -------------------------------------------------------------------------


def _usdt_program(
    tracing: Tracing,
    request: protocol.ProbeArgsRequest | protocol.ProbeTraceRequest | protocol.JvmEventsRequest,
    probe: str,
    build: Callable[[list[UsdtSite]], UsdtT],
    collect: Callable[[UsdtT], C],
) -> tuple[UsdtT, C, protocol.TraceHeader]:
    """A program on a running process's USDT probes, compiled for this request (``build`` gets
    the sites of ``probe``, found once): refused before compiling when the process lacks the
    probe; attached, run, collected, and closed."""
    if request.start_at_exec:
        raise RequestFailed(
            "bad-request", "a USDT probe is traced in a running process: give its PID, not a command"
        )
    _refuse_replaced_mappings(tracing, request.pid)
    try:
        sites = _bounded(usdt_sites(request.pid, f"usdt:{probe}"), probe)
    except UnknownTracepoint as exc:
        raise RequestFailed("bad-request", str(exc)) from None

    def checked() -> UsdtT:
        try:
            return build(sites)
        except UnknownTracepoint as exc:
            raise RequestFailed("bad-request", str(exc)) from None

    program = tracing.program_for_request(checked)
    try:
        failure = f"cannot attach to {probe}"
        tracing.attach(lambda: program.start(request.pid), program.stop, program.gate, failure)
        collected, header = tracing.run(program, lambda: collect(program))
    finally:
        program.close()
    return program, collected, header


def _by_site(
    tracing: Tracing, collect: Callable[[ProbeT], C]
) -> Callable[[ProbeT], tuple[C, list[protocol.ProbeSiteHits]]]:
    """``collect``, with the probe's hits by site read first (collect resets them)."""

    def collected(program: ProbeT) -> tuple[C, list[protocol.ProbeSiteHits]]:
        site_hits = program.site_hits(tracing.target.mappings())
        return collect(program), site_hits

    return collected


def run_probe_args(tracing: Tracing, request: protocol.ProbeArgsRequest) -> protocol.ProbeArgsDone:
    r = request
    counter, ((groups, counters), site_hits), header = _usdt_program(
        tracing,
        request,
        r.probe,
        lambda sites: ProbeArgCounter(r.pid, r.probe, sites, r.group_by, r.histogram),
        _by_site(tracing, ProbeArgCounter.collect),
    )
    result = protocol.ProbeArgsResult(
        header=header,
        probe=r.probe,
        group_by=r.group_by,
        histogram=r.histogram,
        groups=groups,
        counters=counters,
        sites=counter.sites,
        site_hits=site_hits,
    )
    return protocol.ProbeArgsDone(request.id, result)


def run_probe_trace(tracing: Tracing, request: protocol.ProbeTraceRequest) -> protocol.ProbeTraceDone:
    r = request
    tracer, ((hits, counters, stacks), site_hits), header = _usdt_program(
        tracing,
        request,
        r.probe,
        lambda sites: ProbeHitTracer(r.pid, r.probe, sites, r.arguments, r.rate_limit, r.max_hits, r.stacks),
        _by_site(tracing, ProbeHitTracer.collect),
    )
    result = protocol.ProbeTraceResult(
        header=header,
        probe=r.probe,
        arguments=r.arguments,
        started_ns=tracer.started_ns,
        hits=hits,
        counters=counters,
        sites=tracer.sites,
        stacks=stacks,
        site_hits=site_hits,
    )
    return protocol.ProbeTraceDone(request.id, result)


def run_jvm_events(tracing: Tracing, request: protocol.JvmEventsRequest) -> protocol.JvmEventsDone:
    tracer, (gcs, classes, counters), header = _usdt_program(
        tracing,
        request,
        "hotspot:gc__begin",  # a JVM has it whatever its flags: the check that this is one
        lambda sites: JvmEventTracer(request.pid, request.max_events),
        JvmEventTracer.collect,
    )
    result = protocol.JvmEventsResult(
        header=header, started_ns=tracer.started_ns, gcs=gcs, classes=classes, counters=counters
    )
    return protocol.JvmEventsDone(request.id, result)


# -- kernel tracepoint records -----------------------------------------------------------------------


def run_tracepoint_trace(
    tracing: Tracing, request: protocol.TracepointTraceRequest
) -> protocol.TracepointTraceDone:
    """One tracepoint's records in one process or every task, with a program compiled for it
    (the record's fixed size comes from the format, read before compiling)."""
    if request.start_at_exec:
        raise RequestFailed("bad-request", "a tracepoint's records are taken from a running process or all")
    if request.pid is not None and request.tracepoint in GATE_TRACEPOINTS:
        raise RequestFailed(
            "bad-request",
            f"{request.tracepoint} follows the traced process's execs for lineprobe itself: "
            "trace it for the whole system (--all)",
        )
    try:
        layout = read_format(request.tracepoint)
    except UnknownTracepoint as exc:
        raise RequestFailed("bad-request", str(exc)) from None
    tracer = tracing.program_for_request(
        lambda: TracepointTracer(
            request.tracepoint, layout, request.pid is None, request.rate_limit, request.max_events
        )
    )
    try:
        tracing.attach(
            lambda: tracer.start(request.pid),
            tracer.stop,
            tracer.gate,
            f"cannot attach to {request.tracepoint}",
        )
        (records, counters), header = tracing.run(tracer, tracer.collect)
    finally:
        tracer.close()
    result = protocol.TracepointTraceResult(
        header=header,
        tracepoint=request.tracepoint,
        format=layout,
        started_ns=tracer.started_ns,
        records=records,
        counters=counters,
    )
    return protocol.TracepointTraceDone(request.id, result)


def run_tracepoint_count(
    tracing: Tracing, request: protocol.TracepointCountRequest
) -> protocol.TracepointCountDone:
    """One tracepoint's hits counted in the kernel by a field, checked against the format first."""
    if request.start_at_exec:
        raise RequestFailed("bad-request", "a tracepoint's hits are counted in a running process or all")
    if request.pid is not None and request.tracepoint in GATE_TRACEPOINTS:
        raise RequestFailed("bad-request", f"{request.tracepoint}: count it for the whole system (--all)")
    try:
        layout = read_format(request.tracepoint)
        counted = CountedField.of(layout, request.field, request.histogram)
    except UnknownTracepoint as exc:
        raise RequestFailed("bad-request", str(exc)) from None
    tracer = tracing.program_for_request(
        lambda: TracepointTracer(request.tracepoint, layout, request.pid is None, 1, 1, counted)
    )
    try:
        failure = f"cannot attach to {request.tracepoint}"
        tracing.attach(lambda: tracer.start(request.pid), tracer.stop, tracer.gate, failure)
        (groups, events, lost, unreadable), header = tracing.run(tracer, tracer.collect_counts)
    finally:
        tracer.close()
    result = protocol.TracepointCountResult(
        header=header,
        tracepoint=request.tracepoint,
        field=request.field,
        histogram=request.histogram,
        groups=groups,
        events=events,
        lost=lost,
        unreadable=unreadable,
    )
    return protocol.TracepointCountDone(request.id, result)


TRACERS: tuple[TracerEntry, ...] = (
    TracerEntry(protocol.ProfileRequest, "cpu", CpuProfiler, run_profile),
    TracerEntry(protocol.SyscallsRequest, "syscalls", SyscallTracer, run_syscalls),
    TracerEntry(protocol.LeaksRequest, "leaks", LeakTracer, run_leaks),
    TracerEntry(protocol.StackCountRequest, "stackcount", StackCounter, run_stackcount, system_wide=True),
    TracerEntry(protocol.OffCpuRequest, "stackcount", StackCounter, run_offcpu),
    TracerEntry(protocol.LineHitsRequest, "stackcount", StackCounter, run_line_hits),
    TracerEntry(protocol.WallClockRequest, "cpu", CpuProfiler, run_wallclock),
    TracerEntry(protocol.DiskRequest, "disk", None, run_disk, system_wide=True),
    TracerEntry(protocol.FilesRequest, "files", None, run_files, system_wide=True),
    TracerEntry(protocol.PageCacheRequest, "pagecache", None, run_pagecache, system_wide=True),
    TracerEntry(protocol.IrqRequest, "irqs", None, run_irqs, system_wide=True),
    TracerEntry(protocol.ProbeArgsRequest, "probe-args", None, run_probe_args),
    TracerEntry(protocol.ProbeTraceRequest, "probe-trace", None, run_probe_trace),
    TracerEntry(protocol.JvmEventsRequest, "jvm-events", None, run_jvm_events),
    TracerEntry(
        protocol.TracepointTraceRequest, "tracepoint-trace", None, run_tracepoint_trace, system_wide=True
    ),
    TracerEntry(
        protocol.TracepointCountRequest, "tracepoint-count", None, run_tracepoint_count, system_wide=True
    ),
)
BY_REQUEST: dict[type, TracerEntry] = {entry.request: entry for entry in TRACERS}


def _by_program() -> dict[str, TracerEntry]:
    """The first entry of each program names it (off-CPU shares the stack counter's)."""
    found: dict[str, TracerEntry] = {}
    for entry in TRACERS:
        if entry.build is not None:
            found.setdefault(entry.program, entry)
    return found


BY_PROGRAM: dict[str, TracerEntry] = _by_program()
"""The programs compiled once per agent (and by ``prepare``)."""
