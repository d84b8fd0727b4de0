"""The agent's wire schema, met here and nowhere else in the server.

Everything the server sends the agent is built here, and everything the agent
says is decoded here and turned into domain types: the ``TraceHeader`` of
every result into one ``CaptureHeader``, each kind's body into its raw capture
(``RawProfile``, ``RawSyscallTrace``, ``RawLeakTrace``), progress and the
capability report into the capture layer's own types. A spawned agent and a
recorded one both go through ``WireSession``, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import msgspec
from lineprobe_agent import protocol

from lineprobe.capture.agent_errors import AgentError, IncompatibleAgent
from lineprobe.capture.progress import Capability, CapabilityReport, LiveReport, Progress
from lineprobe.costs.model import CostColumn, CostUnit
from lineprobe.leaks.model import AllocationSnapshot, RawLeakSite, RawLeakTrace
from lineprobe.model.capture import CaptureHeader, Timings
from lineprobe.model.mapping import MappedFile
from lineprobe.profiling.model import ChildProcess, LossCounters, RawProfile, SampledStack, StackSnapshot
from lineprobe.profiling.wall_clock import RawWallClock
from lineprobe.syscalls.model import (
    BlockRequest,
    Bucket,
    CallSnapshot,
    CpuInterval,
    Distribution,
    RawFailure,
    RawFileIo,
    RawSyscallTrace,
    SyscallTotal,
)
from lineprobe.system.disk import BlockRequestRecord, DeviceLatency, DiskActivity, ProcessIO, device_name
from lineprobe.system.files import FileActivity, FileLatency, SlowCall, ThreadFileIO, file_totals
from lineprobe.system.irqs import Interrupts, InterruptTime
from lineprobe.system.live import SystemLiveReport
from lineprobe.system.page_cache import PageCacheActivity, PageCacheFile
from lineprobe.tracepoints.counts import FieldCount, TracepointCounts
from lineprobe.tracepoints.records import (
    TracepointEvent,
    TracepointField,
    TracepointLayout,
    TracepointLiveReport,
    TracepointTrace,
)
from lineprobe.unwinding.stack_unwinder import StackCopy, UserRegisters
from lineprobe.usdt.counts import ArgumentChoice, ProbeCounts, ProbeGroup, SiteHits
from lineprobe.usdt.hits import ProbeHitRecord, ProbeTrace
from lineprobe.usdt.jvm_events import ClassLoadRecord, GcPauseRecord, JvmEvents, JvmLiveReport
from lineprobe.usdt.sites import LiveProbe

PROTOCOL_VERSION = protocol.PROTOCOL_VERSION

# -- the header every result starts with ------------------------------------------------------


def header_of(h: protocol.TraceHeader) -> CaptureHeader:
    t = h.timings
    return CaptureHeader(
        pid=h.pid,
        exe=h.exe,
        comm=h.comm,
        requested_s=h.requested_s,
        duration_s=h.duration_s,
        started_at=h.started_at,
        stopped_early=h.stopped_early,
        target_exited=h.target_exited,
        exited_after_s=h.exited_after_s,
        mappings=_mapped_files(h.maps),
        timings=Timings(t.agent_start_s, t.compile_s, t.attach_s, t.sampling_s, t.collect_s),
        access_lost=h.access_lost,
        held_events=h.held_events,
    )


# -- each kind's body ----------------------------------------------------------------------------


def _loss_counters(c: protocol.SampleCounters) -> LossCounters:
    return LossCounters(
        c.samples,
        c.lost,
        c.user_stack_missing,
        c.kernel_stack_missing,
        c.stack_collisions,
        c.exemplars_lost,
        c.untimed,
        c.children_not_followed,
        c.children_unmapped,
    )


def _mapped_files(maps: list[protocol.Mapping]) -> tuple[MappedFile, ...]:
    return tuple(MappedFile(m.start, m.end, m.offset, m.path, m.build_id) for m in maps)


def _snapshots(exemplars: list[protocol.Exemplar]) -> tuple[StackSnapshot, ...]:
    return tuple(
        StackSnapshot(e.stack, e.tid, UserRegisters(e.ip, e.sp, e.bp, e.r13), StackCopy(e.sp, e.data))
        for e in exemplars
    )


def to_raw_profile(result: protocol.ProfileResult) -> RawProfile:
    return RawProfile(
        header=header_of(result.header),
        frequency=result.frequency,
        counters=_loss_counters(result.counters),
        stacks=tuple(
            SampledStack(
                s.count,
                tuple(s.user),
                tuple(s.kernel),
                s.user_stack_missing,
                thread=s.tid,
                time_bucket=s.time_bucket,
                tgid=s.tgid,
            )
            for s in result.stacks
        ),
        snapshots=_snapshots(result.exemplars),
        thread_names=dict(result.thread_names),
        time_bucket_ms=result.time_bucket_ms,
        processes={
            tgid: ChildProcess(p.comm, p.exe, _mapped_files(p.maps)) for tgid, p in result.processes.items()
        },
    )


def to_raw_stack_counts(result: protocol.StackCountResult) -> RawProfile:
    """Stack counts are weighted stacks, as a CPU profile is: one resolution serves both. Counted
    system-wide, each stack is labelled with its process, and its user addresses are dropped
    (resolving them would need every process's map)."""
    system_wide = result.header.pid == 0
    if system_wide:
        stacks = tuple(
            SampledStack(s.count, (), tuple(s.kernel), False, result.comms.get(tgid, f"pid {tgid}"))
            for s, tgid in zip(result.stacks, result.tgids, strict=True)
        )
    else:
        stacks = tuple(
            SampledStack(s.count, tuple(s.user), tuple(s.kernel), s.user_stack_missing) for s in result.stacks
        )
    return RawProfile(
        header=header_of(result.header),
        frequency=0,
        counters=_loss_counters(result.counters),
        stacks=stacks,
        snapshots=() if system_wide else _snapshots(result.exemplars),
        cost=CostColumn(result.tracepoint, CostUnit.HITS, "stack-count-line"),
    )


def to_raw_line_hits(result: protocol.StackCountResult) -> RawProfile:
    """A line's hits are stacks counted at uprobes: each stack's innermost frame is the site."""
    column = CostColumn(result.tracepoint, CostUnit.HITS, "line-hits-line")
    return replace(to_raw_stack_counts(result), cost=column)


OFFCPU_TIME = CostColumn("off-CPU time", CostUnit.NANOSECONDS, "offcpu-line")


def to_raw_offcpu(result: protocol.StackCountResult) -> RawProfile:
    """Off-CPU time is stacks weighted by nanoseconds: resolved as a profile is, in its own column."""
    return replace(to_raw_stack_counts(result), cost=OFFCPU_TIME)


def to_raw_wall_clock(result: protocol.WallClockResult) -> RawWallClock:
    return RawWallClock(
        header_of(result.header), to_raw_profile(result.on_cpu), to_raw_offcpu(result.off_cpu)
    )


def _choices(arguments: list[protocol.ProbeArgument]) -> tuple[ArgumentChoice, ...]:
    return tuple(ArgumentChoice(a.number, a.text, a.length_argument) for a in arguments)


def _site_hits(sites: list[protocol.ProbeSiteHits]) -> tuple[SiteHits, ...]:
    return tuple(SiteHits(s.binary, s.offset, s.hits) for s in sites)


def _hit_record(hit: protocol.ProbeHit, started_ns: int) -> ProbeHitRecord:
    return ProbeHitRecord((hit.time_ns - started_ns) / 1e9, hit.tid, tuple(hit.values), hit.stack)


def to_probe_counts(result: protocol.ProbeArgsResult) -> ProbeCounts:
    c = result.counters
    return ProbeCounts(
        header=header_of(result.header),
        probe=result.probe,
        group_by=_choices(result.group_by),
        groups=tuple(ProbeGroup(g.count, tuple(g.values)) for g in result.groups),
        events=c.events,
        lost=c.lost,
        truncated=c.truncated,
        unreadable=c.unreadable,
        sites=result.sites,
        histogram=result.histogram,
        site_hits=_site_hits(result.site_hits),
    )


def to_probe_trace(result: protocol.ProbeTraceResult) -> ProbeTrace:
    c = result.counters
    return ProbeTrace(
        header=header_of(result.header),
        probe=result.probe,
        arguments=_choices(result.arguments),
        hits=tuple(_hit_record(h, result.started_ns) for h in result.hits),
        events=c.events,
        rate_limited=c.rate_limited,
        ring_full=c.ring_full,
        dropped=c.dropped,
        truncated=c.truncated,
        unreadable=c.unreadable,
        sites=result.sites,
        site_hits=_site_hits(result.site_hits),
        raw_stacks={stack: tuple(addresses) for stack, addresses in result.stacks.items()},
    )


def _gc_pause(gc: protocol.GcPause, started_ns: int) -> GcPauseRecord:
    return GcPauseRecord((gc.start_ns - started_ns) / 1e9, gc.duration_ns / 1e9, gc.full, gc.tid)


def _class_load(loaded: protocol.ClassLoad, started_ns: int) -> ClassLoadRecord:
    return ClassLoadRecord((loaded.time_ns - started_ns) / 1e9, loaded.name)


def to_jvm_events(result: protocol.JvmEventsResult) -> JvmEvents:
    c = result.counters
    return JvmEvents(
        header=header_of(result.header),
        gcs=tuple(_gc_pause(gc, result.started_ns) for gc in result.gcs),
        classes=tuple(_class_load(loaded, result.started_ns) for loaded in result.classes),
        gc_count=c.gcs,
        classes_loaded=c.classes_loaded,
        unmatched_gc_ends=c.unmatched_gc_ends,
        truncated=c.truncated,
        ring_full=c.ring_full,
        dropped=c.dropped,
    )


def layout_of(layout: protocol.TracepointFormat) -> TracepointLayout:
    return TracepointLayout(
        layout.name,
        layout.id,
        tuple(TracepointField(f.name, f.declaration, f.offset, f.size, f.signed) for f in layout.fields),
    )


def _tracepoint_event(
    record: protocol.TracepointRecord, layout: TracepointLayout, started_ns: int
) -> TracepointEvent:
    return TracepointEvent(
        (record.time_ns - started_ns) / 1e9, record.tid, record.cpu, layout.decode(record.data)
    )


def to_tracepoint_trace(result: protocol.TracepointTraceResult) -> TracepointTrace:
    c = result.counters
    layout = layout_of(result.format)
    return TracepointTrace(
        header=header_of(result.header),
        layout=layout,
        events=tuple(_tracepoint_event(r, layout, result.started_ns) for r in result.records),
        hits=c.events,
        rate_limited=c.rate_limited,
        ring_full=c.ring_full,
        unreadable=c.unreadable,
        dropped=c.dropped,
    )


def to_tracepoint_counts(result: protocol.TracepointCountResult) -> TracepointCounts:
    return TracepointCounts(
        header=header_of(result.header),
        tracepoint=result.tracepoint,
        by=result.field,
        histogram=result.histogram,
        groups=tuple(FieldCount(g.count, g.value) for g in result.groups),
        events=result.events,
        lost=result.lost,
        unreadable=result.unreadable,
    )


def to_disk_activity(result: protocol.DiskResult) -> DiskActivity:
    names: dict[int, str] = {}

    def name(dev: int) -> str:
        if dev not in names:
            names[dev] = device_name(dev)
        return names[dev]

    return DiskActivity(
        header=header_of(result.header),
        devices=tuple(
            DeviceLatency(name(d.dev), {b: n for b, n in d.buckets}, d.interval) for d in result.latency
        ),
        processes=tuple(
            ProcessIO(p.tgid, p.comm, name(p.dev), p.op, p.ios, p.bytes, p.latency_ns)
            for p in result.processes
        ),
        issued=result.counters.issued,
        completed=result.counters.completed,
        lost=result.counters.lost,
        requests=tuple(
            BlockRequestRecord(
                round((r.time_ns - result.started_ns) / 1e9, 6),
                r.tgid,
                r.comm,
                name(r.dev),
                r.op,
                r.sector,
                r.bytes,
                r.latency_ns,
            )
            for r in result.requests
        ),
        requests_not_listed=result.counters.requests_not_sent,
        interval_s=result.interval_s,
    )


def to_file_activity(result: protocol.FilesResult) -> FileActivity:
    names = {(d.tgid, d.fd): d.name for d in result.descriptors}
    processes = {d.tgid: d.process for d in result.descriptors}

    def file(tgid: int, fd: int) -> str:
        return names.get((tgid, fd)) or f"fd {fd}"

    threads = tuple(
        ThreadFileIO(
            r.tgid,
            r.tid,
            r.thread,
            r.fd,
            file(r.tgid, r.fd),
            r.call,
            r.calls,
            r.bytes,
            r.errors,
            r.total_ns,
            r.max_ns,
        )
        for r in result.io
    )
    merged: dict[tuple[int, str, str], dict[int, int]] = {}
    for histogram in result.latency:
        buckets = merged.setdefault((histogram.tgid, file(histogram.tgid, histogram.fd), histogram.call), {})
        for bucket, count in histogram.buckets:
            buckets[bucket] = buckets.get(bucket, 0) + count
    latency = tuple(
        FileLatency(pid, processes.get(pid, ""), name, call, buckets)
        for (pid, name, call), buckets in sorted(merged.items(), key=lambda item: -sum(item[1].values()))
    )
    slow = tuple(
        SlowCall(
            round((c.time_ns - result.started_ns) / 1e9, 6),
            c.tgid,
            c.tid,
            c.comm,
            file(c.tgid, c.fd),
            c.call,
            c.latency_ns,
            c.ret,
        )
        for c in result.slow
    )
    counters = result.counters
    return FileActivity(
        header=header_of(result.header),
        files=file_totals(threads, processes),
        threads=threads,
        latency=latency,
        slow=slow,
        slow_ms=result.slow_ms,
        calls=counters.calls,
        slow_calls=counters.slow,
        slow_not_listed=counters.slow_not_sent,
        lost=counters.lost,
    )


def to_page_cache(result: protocol.PageCacheResult) -> PageCacheActivity:
    rows = [
        PageCacheFile(
            f.tgid,
            f.comm,
            f"{f.dev >> 20}:{f.dev & 0xFFFFF}" if f.dev else "",
            f.ino,
            f.path,
            f.added,
            f.removed,
            f.dirtied,
            f.written,
        )
        for f in result.files
    ]
    return PageCacheActivity(
        header=header_of(result.header),
        files=merge_writeback_rows(rows),
        events=result.counters.events,
        lost=result.counters.lost,
    )


def merge_writeback_rows(rows: list[PageCacheFile]) -> tuple[PageCacheFile, ...]:
    """Writeback's rows carry an inode without its device: each goes into the same process's row
    for that inode on one device, when there is exactly one such row. Most pages first."""
    with_device: dict[tuple[int, int], list[int]] = {}
    for index, row in enumerate(rows):
        if row.device:
            with_device.setdefault((row.pid, row.inode), []).append(index)
    merged = list(rows)
    dropped: set[int] = set()
    for index, row in enumerate(rows):
        same = with_device.get((row.pid, row.inode), [])
        if row.device or len(same) != 1:
            continue
        target = merged[same[0]]
        merged[same[0]] = replace(
            target,
            path=target.path or row.path,
            dirtied=target.dirtied + row.dirtied,
            written=target.written + row.written,
            added=target.added + row.added,
            removed=target.removed + row.removed,
        )
        dropped.add(index)
    kept = [row for index, row in enumerate(merged) if index not in dropped]
    kept.sort(key=lambda f: -(f.added + f.removed + f.dirtied + f.written))
    return tuple(kept)


def to_interrupts(result: protocol.IrqResult) -> Interrupts:
    def times(entries: list[protocol.IrqTime]) -> tuple[InterruptTime, ...]:
        return tuple(InterruptTime(e.name, e.number, e.count, e.time_ns) for e in entries)

    return Interrupts(header=header_of(result.header), hard=times(result.hard), soft=times(result.soft))


def _distribution(histogram: protocol.Histogram) -> Distribution:
    return Distribution(
        histogram.name, histogram.unit, tuple(Bucket(b.low, b.high, b.count) for b in histogram.buckets)
    )


def to_raw_syscall_trace(result: protocol.SyscallsResult) -> RawSyscallTrace:
    def snapshots(indices: list[int]) -> tuple[CallSnapshot, ...]:
        picked = [result.exemplars[i] for i in indices if 0 <= i < len(result.exemplars)]
        return tuple(
            CallSnapshot(UserRegisters(e.ip, e.sp, e.bp), StackCopy(e.sp, e.data), e.latency_ns)
            for e in picked
        )

    c = result.counters
    return RawSyscallTrace(
        header=header_of(result.header),
        totals=tuple(SyscallTotal(s.name, s.count, dict(s.errors)) for s in result.counts),
        failures=tuple(
            RawFailure(f.name, f.errno, f.path, f.count, snapshots(f.exemplars)) for f in result.failures
        ),
        io=tuple(
            RawFileIo(
                i.name,
                i.fd,
                i.path,
                i.count,
                i.bytes,
                i.max_ns,
                _distribution(i.latency),
                snapshots(i.exemplars),
            )
            for i in result.io
        ),
        sleeps=tuple(_distribution(h) for h in result.sleeps),
        block_latency=_distribution(result.block.latency),
        block_requests=tuple(
            BlockRequest(r.dev, r.sector, r.bytes, r.rwbs, r.queue_us, r.service_us, r.tid, r.at_s)
            for r in result.block.records
        ),
        block_records_dropped=result.block.records_dropped,
        cpu=tuple(CpuInterval(s.at_s, s.interval_s, s.user_s, s.system_s) for s in result.cpu),
        lost=c.lost,
        inflight_full=c.inflight_full,
        exemplars_lost=c.exemplars_lost,
        descriptor_changes_lost=c.descriptor_changes_lost,
    )


def to_raw_leak_trace(result: protocol.LeaksResult) -> RawLeakTrace:
    return RawLeakTrace(
        header=header_of(result.header),
        sites=tuple(
            RawLeakSite(
                (s.caller, s.stack_id, s.path_hash),
                tuple(s.frame_pointer_stack),
                s.outstanding_bytes,
                s.outstanding_count,
                s.allocations,
                s.allocated_bytes,
                s.oldest_age_s,
                s.newest_age_s,
            )
            for s in result.sites
        ),
        snapshots=tuple(
            AllocationSnapshot(
                (e.caller, e.stack_id, e.path_hash), UserRegisters(e.ip, e.sp, e.bp), StackCopy(e.sp, e.data)
            )
            for e in result.exemplars
        ),
        history=tuple(
            (h.at_s, {(s.caller, s.stack_id, s.path_hash): s.bytes for s in h.sites}) for h in result.history
        ),
        sampling=dict(result.sampling),
    )


@dataclass(frozen=True)
class WireKind:
    """How one capture kind travels: the request that asks for it, the answer, and its conversion."""

    request: type[protocol.TracingRequest]
    answer: type
    convert: Callable[[Any], Any]
    """The answer's ``result`` -> the kind's raw capture."""

    @property
    def request_type(self) -> str:
        """The request's ``type`` on the wire."""
        return protocol.tag_of(self.request)

    def build(
        self, request_id: int, pid: int, duration_s: float, start_at_exec: int, parameters: dict[str, Any]
    ) -> protocol.TracingRequest:
        """The request, with the kind's own ``parameters`` by name (pid 0: every task)."""
        request: Any = self.request  # each kind's own fields come by name, unchecked until encoded
        built: protocol.TracingRequest = request(
            id=request_id, pid=pid or None, duration_s=duration_s, start_at_exec=start_at_exec, **parameters
        )
        return built


WIRE_KINDS: dict[str, WireKind] = {
    "profile": WireKind(protocol.ProfileRequest, protocol.ProfileDone, to_raw_profile),
    "syscalls": WireKind(protocol.SyscallsRequest, protocol.SyscallsDone, to_raw_syscall_trace),
    "leaks": WireKind(protocol.LeaksRequest, protocol.LeaksDone, to_raw_leak_trace),
    "stackcount": WireKind(protocol.StackCountRequest, protocol.StackCountDone, to_raw_stack_counts),
    "offcpu": WireKind(protocol.OffCpuRequest, protocol.OffCpuDone, to_raw_offcpu),
    "line-hits": WireKind(protocol.LineHitsRequest, protocol.LineHitsDone, to_raw_line_hits),
    "wallclock": WireKind(protocol.WallClockRequest, protocol.WallClockDone, to_raw_wall_clock),
    "disk": WireKind(protocol.DiskRequest, protocol.DiskDone, to_disk_activity),
    "files": WireKind(protocol.FilesRequest, protocol.FilesDone, to_file_activity),
    "pagecache": WireKind(protocol.PageCacheRequest, protocol.PageCacheDone, to_page_cache),
    "irqs": WireKind(protocol.IrqRequest, protocol.IrqDone, to_interrupts),
    "probe-args": WireKind(protocol.ProbeArgsRequest, protocol.ProbeArgsDone, to_probe_counts),
    "probe-trace": WireKind(protocol.ProbeTraceRequest, protocol.ProbeTraceDone, to_probe_trace),
    "jvm-events": WireKind(protocol.JvmEventsRequest, protocol.JvmEventsDone, to_jvm_events),
    "tracepoint-trace": WireKind(
        protocol.TracepointTraceRequest, protocol.TracepointTraceDone, to_tracepoint_trace
    ),
    "tracepoint-count": WireKind(
        protocol.TracepointCountRequest, protocol.TracepointCountDone, to_tracepoint_counts
    ),
}
"""By capture kind name (``lineprobe.capture.kinds``)."""


# -- the other messages -------------------------------------------------------------------------------


def progress_of(message: protocol.Progress) -> Progress:
    live = message.live
    shown: LiveReport | None = None
    if isinstance(live, protocol.ProbeLive):
        shown = LiveProbe(
            elapsed_s=message.elapsed_s,
            events=live.events,
            site_hits=_site_hits(live.site_hits),
            groups=tuple(ProbeGroup(g.count, tuple(g.values)) for g in live.groups),
            hits=tuple(_hit_record(h, live.started_ns) for h in live.hits),
            hits_not_shown=live.hits_not_shown,
        )
    elif isinstance(live, protocol.JvmLive):
        shown = JvmLiveReport(
            elapsed_s=message.elapsed_s,
            gc_count=live.gcs,
            classes_loaded=live.classes_loaded,
            new_gcs=tuple(_gc_pause(gc, live.started_ns) for gc in live.new_gcs),
            new_classes=tuple(_class_load(c, live.started_ns) for c in live.new_classes),
        )
    elif isinstance(live, protocol.TracepointLive):
        layout = layout_of(live.format)
        shown = TracepointLiveReport(
            elapsed_s=message.elapsed_s,
            layout=layout,
            hits=live.events,
            new_events=tuple(_tracepoint_event(r, layout, live.started_ns) for r in live.new_records),
            not_shown=live.not_shown,
        )
    elif isinstance(live, protocol.SystemLive):
        shown = SystemLiveReport(
            elapsed_s=message.elapsed_s, unit=live.unit, totals=tuple((t.name, t.value) for t in live.totals)
        )
    return Progress(message.phase, message.elapsed_s, message.duration_s, message.samples, shown)


def capabilities_of(report: protocol.CapabilityReport) -> CapabilityReport:
    return CapabilityReport(
        report.kernel_release,
        tuple(Capability(c.name, c.available, c.detail) for c in report.capabilities),
        tuple(report.works),
        tuple(report.missing),
    )


def version_problem(hello: protocol.Hello) -> str | None:
    """Why this server cannot talk to the agent that said ``hello``, or None."""
    if hello.oldest_version <= PROTOCOL_VERSION <= hello.version:
        return None
    return (
        f"the agent speaks protocol v{hello.oldest_version}..v{hello.version}, this server "
        f"v{PROTOCOL_VERSION}: reinstall lineprobe so both come from one version (and, for the installed "
        "agent, run `make install-agent` again)"
    )


@dataclass(frozen=True)
class Hello:
    agent_pid: int
    euid: int
    features: tuple[str, ...]


class WireSession:
    """Request ids, encoding, and decoding of one agent's messages, for any transport."""

    def __init__(self) -> None:
        self._next_id = 1

    @staticmethod
    def protocol_version() -> int:
        return PROTOCOL_VERSION

    def next_id(self) -> int:
        request_id = self._next_id
        self._next_id += 1
        return request_id

    @staticmethod
    def trace_request(
        kind: str,
        request_id: int,
        pid: int,
        duration_s: float,
        start_at_exec: int,
        parameters: dict[str, Any],
    ) -> bytes:
        return protocol.encode(WIRE_KINDS[kind].build(request_id, pid, duration_s, start_at_exec, parameters))

    @staticmethod
    def prepare_request(request_id: int, programs: list[str]) -> bytes:
        return protocol.encode(protocol.PrepareRequest(request_id, programs))

    @staticmethod
    def capabilities_request(request_id: int) -> bytes:
        return protocol.encode(protocol.CapabilitiesRequest(request_id))

    @staticmethod
    def tracepoints_request(request_id: int, pattern: str) -> bytes:
        return protocol.encode(protocol.TracepointsRequest(request_id, pattern))

    @staticmethod
    def stop_request(request_id: int) -> bytes:
        return protocol.encode(protocol.StopRequest(request_id))

    @staticmethod
    def shutdown_request() -> bytes:
        return protocol.encode(protocol.ShutdownRequest())

    @staticmethod
    def decode(line: bytes) -> Message:
        """One line from the agent, as what the client needs to know. Raises ``AgentError`` on garbage."""
        try:
            message = protocol.decode_message(line)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise AgentError("internal", f"undecodable agent message: {exc}: {line[:200]!r}") from None
        if isinstance(message, protocol.Hello):
            problem = version_problem(message)
            if problem is not None:
                raise IncompatibleAgent("internal", problem)
            return Message(None, Hello(message.agent_pid, message.euid, tuple(message.features)))
        if isinstance(message, protocol.Progress):
            return Message(message.id, progress_of(message))
        if isinstance(message, protocol.Failure):
            return Message(message.id, AgentError(message.code, message.message, message.hint))
        if isinstance(message, protocol.CapabilitiesResult):
            return Message(message.id, capabilities_of(message.report))
        if isinstance(message, protocol.Prepared):
            return Message(message.id, Prepared(message.compile_s))
        if isinstance(message, protocol.TracepointsResult):
            return Message(message.id, Tracepoints(tuple(layout_of(t) for t in message.tracepoints)))
        for wire in WIRE_KINDS.values():
            if isinstance(message, wire.answer):
                return Message(message.id, Captured(wire.convert(message.result)))
        raise AgentError("internal", f"unexpected agent message {type(message).__name__}")


@dataclass(frozen=True)
class Prepared:
    compile_s: float


@dataclass(frozen=True)
class Tracepoints:
    """The answer to a ``tracepoints`` request: each tracepoint's layout."""

    layouts: tuple[TracepointLayout, ...]


@dataclass(frozen=True)
class Captured:
    """A tracing request's answer, already its kind's raw capture."""

    raw: Any


@dataclass(frozen=True)
class Message:
    """One decoded agent message: the request it answers (None: hello) and what it says."""

    request_id: int | None
    body: Hello | Progress | AgentError | CapabilityReport | Prepared | Tracepoints | Captured
