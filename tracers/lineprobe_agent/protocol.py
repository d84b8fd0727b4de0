"""The agent's wire format: one versioned schema shared by the agent and the server.

Framing: newline-delimited JSON over the agent's stdin (requests) and stdout
(everything the agent says), both one end of a unix socket pair that the
caller made, so that the agent learns who the caller is from the kernel
(SO_PEERCRED). Every message is a JSON object whose ``type`` field names its
kind. PROTOCOL.md documents each message; this module is the
machine-checked form of that document: both sides decode with these types, so
a field that one side renames fails loudly on the other instead of vanishing.

This module must stay importable without bcc and without privileges: the
unprivileged server imports it and nothing else from the agent package.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from lineprobe_agent import parameters
from lineprobe_agent.parameters import Parameter

PROTOCOL_VERSION = 3
"""Bumped on any change that an older peer would misread."""
OLDEST_VERSION = 3
"""The oldest version this side still speaks: ``hello`` carries both, and a server refuses an agent
whose range does not include its own version."""

ErrorCode = Literal[
    "bad-request",
    "no-such-process",
    "permission-denied",
    "no-privileges",
    "bcc-unavailable",
    "kernel-headers-missing",
    "compile-failed",
    "attach-failed",
    "busy",
    "internal",
]


# --- requests: server -> agent -------------------------------------------------
#
# The bounds and defaults of every request parameter come from ``parameters``, written once: the
# agent's decoder enforces them as msgspec constraints, the server checks and offers them.


class _Request(msgspec.Struct, tag_field="type", frozen=True, forbid_unknown_fields=True):
    """Requests reject fields they do not define: a misspelt parameter fails loudly."""


def _meta(parameter: Parameter) -> msgspec.Meta:
    """The parameter's bounds, for msgspec to enforce on decoding."""
    if parameter.low_open:
        return msgspec.Meta(gt=parameter.low, le=parameter.high)
    return msgspec.Meta(ge=parameter.low, le=parameter.high)


def _default(parameter: Parameter) -> float:
    assert parameter.default is not None
    return parameter.default


Duration = Annotated[float, _meta(parameters.DURATION_S)]
Frequency = Annotated[int, _meta(parameters.FREQUENCY)]
StartAtExec = Annotated[int, _meta(parameters.START_AT_EXEC)]
TimeBucket = Annotated[int, _meta(parameters.TIME_BUCKET_MS)]
SlowMs = Annotated[float, _meta(parameters.SLOW_MS)]
IntervalS = Annotated[float, _meta(parameters.INTERVAL_S)]
BudgetPercent = Annotated[float, _meta(parameters.BUDGET_PERCENT)]
SampleFraction = Annotated[float, _meta(parameters.SAMPLE_FRACTION)]
ProbeArgumentNumber = Annotated[int, _meta(parameters.PROBE_ARGUMENT)]
ProbeLengthArgument = Annotated[int, _meta(parameters.PROBE_LENGTH_ARGUMENT)]
RateLimit = Annotated[int, _meta(parameters.RATE_LIMIT)]
MaxHits = Annotated[int, _meta(parameters.MAX_HITS)]
FileSlowMs = Annotated[float, _meta(parameters.FILE_SLOW_MS)]
DiskIntervalS = Annotated[float, _meta(parameters.DISK_INTERVAL_S)]


class CapabilitiesRequest(_Request, tag="capabilities", frozen=True):
    id: int


class ProfileRequest(_Request, tag="profile", frozen=True):
    """Sample every thread of one process with a CPU clock perf event."""

    id: int
    pid: int
    frequency: Frequency = int(_default(parameters.FREQUENCY))
    duration_s: Duration = _default(parameters.DURATION_S)
    exemplars: bool = True
    """Also send user stack copies, so that the server can unwind without frame pointers."""
    start_at_exec: StartAtExec = 0
    """Record the target's events from its Nth exec on (0: from the start). A command that lineprobe
    launches execs once or twice (its gate, the parent-death wrapper) before it is the command."""
    time_bucket_ms: TimeBucket = 0
    """Also count each stack by the slice of this width (from the start) it was sampled in; 0: no time."""
    follow_children: bool = False
    """Also sample the processes the target starts (and theirs), each stack with its ``tgid``. Root
    callers only: no access check is made per child, which may exec a setuid program."""


class PrepareRequest(_Request, tag="prepare", frozen=True):
    """Compile programs ahead of use, so that the first trace starts at once."""

    id: int
    programs: list[str]
    """Program names of the agent's tracers (``cpu``, ``syscalls``, ``leaks``, ...)."""


class StopRequest(_Request, tag="stop", frozen=True):
    """End the running request ``id`` early; it still answers with what it collected."""

    id: int


class ShutdownRequest(_Request, tag="shutdown", frozen=True):
    pass


class SyscallsRequest(_Request, tag="trace-syscalls", frozen=True):
    """Count, time and attribute one process's system calls (and its block I/O)."""

    id: int
    pid: int
    duration_s: Duration = _default(parameters.DURATION_S)
    slow_ms: SlowMs = _default(parameters.SLOW_MS)
    """File I/O calls at least this slow always get exemplars (subject to a rate limit)."""
    exemplars: bool = True
    start_at_exec: StartAtExec = 0
    """Record the target's events from its Nth exec on (0: from the start). A command that lineprobe
    launches execs once or twice (its gate, the parent-death wrapper) before it is the command."""


class LeaksRequest(_Request, tag="find-leaks", frozen=True):
    """Track a process's heap allocations and report those still outstanding, by site."""

    id: int
    pid: int
    duration_s: Duration = _default(parameters.LEAKS_DURATION_S)
    interval_s: IntervalS = _default(parameters.INTERVAL_S)
    """How often outstanding bytes per site are snapshotted (growth over time)."""
    budget_percent: BudgetPercent = _default(parameters.BUDGET_PERCENT)
    """CPU the allocation probes may cost the target; sets the sampled fraction."""
    sample_fraction: SampleFraction | None = None
    """Force the fraction of time allocations are tracked (1.0: all of them)."""
    start_at_exec: StartAtExec = 0
    """Record the target's events from its Nth exec on (0: from the start). A command that lineprobe
    launches execs once or twice (its gate, the parent-death wrapper) before it is the command."""


class StackCountRequest(_Request, tag="stackcount", frozen=True):
    """Count the kernel and user stacks at a tracepoint, in one process or (root only) all."""

    id: int
    pid: int | None
    """The process whose hits are counted; None: every task (root callers only)."""
    tracepoint: str
    """``category:name`` as in tracefs' events folder, e.g. ``block:block_rq_issue``."""
    duration_s: Duration = _default(parameters.DURATION_S)
    exemplars: bool = True
    """Also send user stack copies, so that the server can unwind without frame pointers."""
    start_at_exec: StartAtExec = 0


class ProbeArgument(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One argument of a USDT probe to group hits by."""

    number: ProbeArgumentNumber
    """1-based, as ``tplist -v`` and sys/sdt.h number them."""
    text: bool = False
    """The argument points to text: group by the text (at most ``PROBE_TEXT_BYTES`` - 1 bytes)."""
    length_argument: ProbeLengthArgument = 0
    """For text: the argument that holds its length (HotSpot passes names so, unterminated);
    0: the text ends at its NUL."""


class ProbeArgsRequest(_Request, tag="probe-args", frozen=True):
    """Count the hits of a USDT probe in one running process, grouped by argument values (what
    ``argdist -C`` counts)."""

    id: int
    pid: int
    probe: str
    """``PROVIDER:NAME``, or ``/path/to/file:PROVIDER:NAME`` where several files declare it."""
    group_by: Annotated[list[ProbeArgument], msgspec.Meta(max_length=2)]
    """Up to two arguments; none: the hits are counted as one group."""
    histogram: bool = False
    """Count the first ``group_by`` argument (an integer, taken as unsigned) by its power of two
    (argdist -H): its value in the groups is the bucket, 0 for 0, K for 2^(K-1) .. 2^K - 1."""
    duration_s: Duration = _default(parameters.DURATION_S)
    start_at_exec: StartAtExec = 0


class ProbeTraceRequest(_Request, tag="probe-trace", frozen=True):
    """Every hit of a USDT probe in one running process, with up to two arguments' values and its
    time (what bcc's ``trace`` prints), under a rate limit; what is not sent is counted."""

    id: int
    pid: int
    probe: str
    """As in ``ProbeArgsRequest``."""
    arguments: Annotated[list[ProbeArgument], msgspec.Meta(max_length=2)]
    rate_limit: RateLimit = int(_default(parameters.RATE_LIMIT))
    max_hits: MaxHits = int(_default(parameters.MAX_HITS))
    stacks: bool = False
    """Also each hit's user stack (as the kernel walks it, by frame pointers)."""
    duration_s: Duration = _default(parameters.DURATION_S)
    start_at_exec: StartAtExec = 0


class JvmEventsRequest(_Request, tag="jvm-events", frozen=True):
    """HotSpot's garbage collections (each pause's start, length and kind) and class loads (each
    class's name) in one running JVM, from its standard probes (gc__begin, gc__end,
    class__loaded: no -XX flag needed)."""

    id: int
    pid: int
    max_events: MaxHits = int(_default(parameters.MAX_HITS))
    """Events kept at most (the rest counted)."""
    duration_s: Duration = _default(parameters.DURATION_S)
    start_at_exec: StartAtExec = 0


class OffCpuRequest(_Request, tag="offcpu", frozen=True):
    """Off-CPU time of one process's threads: how long each was away from the CPU, by the kernel
    and user stacks it left with (``sched:sched_switch`` out, then back in)."""

    id: int
    pid: int
    duration_s: Duration = _default(parameters.DURATION_S)
    exemplars: bool = True
    """Also send user stack copies, so that the server can unwind without frame pointers."""
    start_at_exec: StartAtExec = 0


class UprobeSite(msgspec.Struct, frozen=True, array_like=True):
    """Where a uprobe goes: a file the target maps, and the ELF virtual address of an
    instruction in it (a source line's first instruction, from the line table)."""

    binary: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
    """The file's path as the target maps it (``/proc/PID/maps``)."""
    address: Annotated[int, msgspec.Meta(ge=1, lt=1 << 48)]


class LineHitsRequest(_Request, tag="line-hits", frozen=True):
    """Count the hits of source lines in one running process, by the stacks that reached them:
    a uprobe at each site the server found in the line tables, counted as ``stackcount`` counts
    a probe's hits (the stack counter's program)."""

    id: int
    pid: int
    sites: Annotated[list[UprobeSite], msgspec.Meta(min_length=1, max_length=1024)]
    lines: Annotated[str, msgspec.Meta(max_length=4096)]
    """What the sites are, as the user named the lines (``linecount.c:19``): the result's
    ``tracepoint``."""
    duration_s: Duration = _default(parameters.DURATION_S)
    exemplars: bool = True
    """Also send user stack copies, so that the server can unwind without frame pointers."""
    start_at_exec: StartAtExec = 0


class WallClockRequest(_Request, tag="wallclock", frozen=True):
    """Where one process's threads spend wall-clock time: its CPU samples and its off-CPU time
    (``offcpu``'s) taken over the same window, by two programs gated as one."""

    id: int
    pid: int
    frequency: Frequency = int(_default(parameters.FREQUENCY))
    duration_s: Duration = _default(parameters.DURATION_S)
    exemplars: bool = True
    start_at_exec: StartAtExec = 0


class DiskRequest(_Request, tag="disk", frozen=True):
    """Block I/O by device and by the process that issued it (biotop, biolatency -D), in one
    process's requests or (root callers only) every task's."""

    id: int
    pid: int | None
    """The process whose requests are counted; None: every task's (root callers only)."""
    interval_s: DiskIntervalS = _default(parameters.DISK_INTERVAL_S)
    """A latency histogram per disk for each interval this long (biolatency's interval); 0: one."""
    max_requests: MaxHits = 10_000
    """Completed requests sent one by one at most (biosnoop's lines); the rest are counted."""
    duration_s: Duration = _default(parameters.DURATION_S)
    start_at_exec: StartAtExec = 0


class FilesRequest(_Request, tag="files", frozen=True):
    """File I/O by process, thread and descriptor (filetop), with every call slower than
    ``slow_ms`` on its own (fileslower), in one process or (root callers only) every task."""

    id: int
    pid: int | None
    """The process whose calls are counted; None: every task's (root callers only)."""
    slow_ms: FileSlowMs = _default(parameters.FILE_SLOW_MS)
    max_slow: MaxHits = 10_000
    """Slow calls sent at most; the rest are counted."""
    duration_s: Duration = _default(parameters.DURATION_S)
    start_at_exec: StartAtExec = 0


class PageCacheRequest(_Request, tag="pagecache", frozen=True):
    """Pages added to, removed from, dirtied in and written back from the page cache, by process
    and file, in one process's files or (root callers only) every task's."""

    id: int
    pid: int | None
    """The process whose files are followed; None: every task (root callers only)."""
    duration_s: Duration = _default(parameters.DURATION_S)
    start_at_exec: StartAtExec = 0


class IrqRequest(_Request, tag="irqs", frozen=True):
    """Hard and soft interrupt time by IRQ and softirq vector (hardirqs, softirqs): machine-wide,
    root callers only (``pid`` must be null)."""

    id: int
    pid: None = None
    duration_s: Duration = _default(parameters.DURATION_S)
    start_at_exec: StartAtExec = 0


class TracepointsRequest(_Request, tag="tracepoints", frozen=True):
    """The kernel's tracepoints whose ``category:name`` matches ``pattern`` (a glob), with their
    formats (tracefs is root's alone: the caller cannot read it)."""

    id: int
    pattern: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] = "*:*"


class TracepointTraceRequest(_Request, tag="tracepoint-trace", frozen=True):
    """Each hit of one kernel tracepoint with its record, in one process or (root callers
    only) every task, under a rate limit; every hit not sent is counted."""

    id: int
    pid: int | None
    """The process whose hits are sent; None: every task (root callers only)."""
    tracepoint: str
    """``category:name``, as in tracefs' events folder."""
    rate_limit: RateLimit = int(_default(parameters.RATE_LIMIT))
    max_events: MaxHits = int(_default(parameters.MAX_HITS))
    duration_s: Duration = _default(parameters.DURATION_S)
    start_at_exec: StartAtExec = 0


class TracepointCountRequest(_Request, tag="tracepoint-count", frozen=True):
    """Hits of one kernel tracepoint counted in the kernel by one field's value (an integer, or a
    char array of up to 32 bytes), or by the power of two of an integer field (``histogram``)."""

    id: int
    pid: int | None
    """The process whose hits are counted; None: every task (root callers only)."""
    tracepoint: str
    field: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    """A field of the tracepoint's format, by name."""
    histogram: bool = False
    duration_s: Duration = _default(parameters.DURATION_S)
    start_at_exec: StartAtExec = 0


TracingRequest = (
    ProfileRequest
    | SyscallsRequest
    | LeaksRequest
    | StackCountRequest
    | ProbeArgsRequest
    | ProbeTraceRequest
    | JvmEventsRequest
    | TracepointTraceRequest
    | TracepointCountRequest
    | OffCpuRequest
    | LineHitsRequest
    | WallClockRequest
    | DiskRequest
    | FilesRequest
    | PageCacheRequest
    | IrqRequest
)
"""The requests that trace a process (the fields they share: id, pid, duration_s, start_at_exec)."""

Request = (
    CapabilitiesRequest
    | PrepareRequest
    | ProfileRequest
    | SyscallsRequest
    | LeaksRequest
    | StackCountRequest
    | ProbeArgsRequest
    | ProbeTraceRequest
    | JvmEventsRequest
    | TracepointTraceRequest
    | TracepointCountRequest
    | OffCpuRequest
    | LineHitsRequest
    | WallClockRequest
    | DiskRequest
    | FilesRequest
    | PageCacheRequest
    | IrqRequest
    | TracepointsRequest
    | StopRequest
    | ShutdownRequest
)


# --- payloads ------------------------------------------------------------------


class Capability(msgspec.Struct, frozen=True):
    name: str
    available: bool
    detail: str


class CapabilityReport(msgspec.Struct, frozen=True):
    kernel_release: str
    capabilities: list[Capability]
    works: list[str]
    """What lineprobe can do with what is available, in words for the user."""
    missing: list[str]
    """What it cannot do, and why."""


class Mapping(msgspec.Struct, frozen=True):
    """One line of /proc/PID/maps, plus the mapped file's GNU build-id when it has one."""

    start: int
    end: int
    offset: int
    perms: str
    path: str
    inode: int = 0
    build_id: str | None = None


class StackCount(msgspec.Struct, frozen=True):
    """How many samples had exactly this pair of stacks.

    ``user`` holds raw instruction addresses, leaf first: the first is the
    sampled instruction (or, for a sample taken in the kernel, the user
    instruction that entered it), the others are return addresses.
    ``kernel`` holds kernel frames already named, leaf first: kernel symbols
    need privileges to read, so the agent names them.
    """

    count: int
    user: list[int]
    kernel: list[str]
    user_stack_missing: bool = False
    tid: int | None = None
    """The thread the samples were taken in (CPU profiles)."""
    time_bucket: int | None = None
    """Which ``time_bucket_ms``-wide slice of the profile, from its start, they fell in; None: not
    kept (no time asked, or counted without it: ``SampleCounters.untimed``)."""
    tgid: int | None = None
    """The process the samples were taken in, when children are followed (``follow_children``)."""


class SampleCounters(msgspec.Struct, frozen=True):
    samples: int
    """Samples taken in the target."""
    lost: int
    """Samples that could not be recorded (aggregation map full)."""
    user_stack_missing: int
    """Samples whose user stack could not be read (their leaf address is still kept)."""
    kernel_stack_missing: int
    """Samples taken in the kernel whose kernel stack could not be read."""
    stack_collisions: int
    """Stacks dropped because their hash collided with another in the stack map."""
    exemplars_lost: int = 0
    """Exemplars the perf buffer dropped (their samples still count in ``stacks``)."""
    untimed: int = 0
    """Samples counted without their time bucket: the map had no room for one more bucket."""
    children_not_followed: int = 0
    """Following children: forks of a recorded process not followed (the map of followed processes
    was full)."""
    children_unmapped: int = 0
    """Following children: processes sampled that exited before their memory map could be read
    (their samples keep only kernel frames)."""


class Exemplar(msgspec.Struct, frozen=True):
    """One user-mode sample's registers and a copy of its stack, for CFI unwinding.

    ``stack`` indexes ``ProfileResult.stacks``: the aggregated entry this
    sample was counted in (-1 if that entry could not be recorded). ``data``
    holds the bytes from ``sp`` upwards (base64 in JSON).
    """

    stack: int
    tid: int
    ip: int
    sp: int
    bp: int
    data: bytes
    r13: int = 0
    """Where HotSpot's interpreter keeps the running method's bytecode pointer (0: not read)."""


class PhaseTimings(msgspec.Struct, frozen=True):
    agent_start_s: float
    """From the agent process's start to its first request (interpreter, imports)."""
    compile_s: float
    """BPF compile and load; zero when this agent already holds the program."""
    attach_s: float
    sampling_s: float
    collect_s: float
    """Reading the maps, naming kernel frames, clearing for the next run."""


class TraceHeader(msgspec.Struct, frozen=True):
    """What every tracing result starts with: the target, the window traced, the target's memory
    map (for resolving user addresses), the phases' times and what the gate held back."""

    pid: int
    exe: str
    comm: str
    requested_s: float
    duration_s: float
    started_at: float
    """Unix time when tracing started."""
    stopped_early: bool
    target_exited: bool
    exited_after_s: float | None
    maps: list[Mapping]
    timings: PhaseTimings
    access_lost: str | None = None
    """Why tracing stopped before its end because the caller may no longer debug the target (it
    exec'd a setuid or setgid program, or made itself non-dumpable); nothing after was recorded."""
    held_events: int = 0
    """Events of the target not recorded while the gate was shut: from an exec until access was
    confirmed again, or after access was lost."""


class ProcessMaps(msgspec.Struct, frozen=True):
    """A process the target started (following children): its name and memory map, as
    ``TraceHeader`` has the target's, the last seen."""

    comm: str
    exe: str
    maps: list[Mapping]


class ProfileResult(msgspec.Struct, frozen=True):
    header: TraceHeader
    frequency: int
    counters: SampleCounters
    stacks: list[StackCount]
    exemplars: list[Exemplar] = []
    thread_names: dict[int, str] = {}
    """Each sampled thread's name (comm) as the kernel last saw it: tid -> name."""
    time_bucket_ms: int = 0
    """The width of the stacks' ``time_bucket``; 0: they carry no time."""
    processes: dict[int, ProcessMaps] = {}
    """Following children: each followed process whose map was read, by tgid (not the target)."""


class HistogramBucket(msgspec.Struct, frozen=True):
    low: float
    high: float
    count: int


class Histogram(msgspec.Struct, frozen=True):
    """Log-linear buckets (four per power of two), only the non-empty ones."""

    name: str
    unit: str
    buckets: list[HistogramBucket]


class SyscallCount(msgspec.Struct, frozen=True):
    nr: int
    name: str
    count: int
    errors: dict[str, int]
    """errno name -> failed calls."""


class SyscallExemplar(msgspec.Struct, frozen=True):
    """Registers and user stack copy at one system call, for unwinding to its caller."""

    tid: int
    ip: int
    sp: int
    bp: int
    data: bytes
    latency_ns: int


class SyscallFailure(msgspec.Struct, frozen=True):
    nr: int
    name: str
    errno: str
    path: str | None
    """The path argument, or a decoded socket address for connect/bind."""
    count: int
    exemplars: list[int]
    """Indices into ``SyscallsResult.exemplars``."""


class FileIo(msgspec.Struct, frozen=True):
    nr: int
    name: str
    fd: int
    path: str | None
    count: int
    bytes: int
    total_ns: int
    max_ns: int
    latency: Histogram
    exemplars: list[int]


class BlockRecord(msgspec.Struct, frozen=True):
    dev: str
    sector: int
    bytes: int
    rwbs: str
    queue_us: float
    service_us: float
    tid: int
    at_s: float


class BlockIo(msgspec.Struct, frozen=True):
    count: int
    bytes: int
    latency: Histogram
    records: list[BlockRecord]
    records_dropped: int


class CpuSplit(msgspec.Struct, frozen=True):
    """CPU seconds the process used in one interval, as pidstat reports them."""

    at_s: float
    interval_s: float
    user_s: float
    system_s: float


class SyscallsCounters(msgspec.Struct, frozen=True):
    events: int
    """System calls of the target that returned while tracing."""
    lost: int
    """Calls that could not be aggregated because a map was full."""
    inflight_full: int
    block_unmatched: int
    exemplars_lost: int
    descriptor_changes_lost: int = 0
    """Opens, dups and closes not delivered (perf buffer full): some I/O may be named unknown."""


class SyscallsResult(msgspec.Struct, frozen=True):
    header: TraceHeader
    counts: list[SyscallCount]
    failures: list[SyscallFailure]
    io: list[FileIo]
    sleeps: list[Histogram]
    block: BlockIo
    cpu: list[CpuSplit]
    exemplars: list[SyscallExemplar]
    counters: SyscallsCounters


class LeakExemplar(msgspec.Struct, frozen=True):
    """Registers and stack copy at an allocator's entry, for one site key."""

    caller: int
    stack_id: int
    ip: int
    sp: int
    bp: int
    data: bytes
    path_hash: int = 0


class LeakSite(msgspec.Struct, frozen=True):
    """Tracked allocations of one site key (return address at entry + frame-pointer stack)."""

    caller: int
    stack_id: int
    frame_pointer_stack: list[int]
    outstanding_bytes: int
    outstanding_count: int
    allocations: int
    allocated_bytes: int
    oldest_age_s: float | None
    path_hash: int = 0
    """Fingerprint of the call path (code addresses found on the stack), part of the site key."""
    newest_age_s: float | None = None
    """Age of the youngest outstanding block: with the oldest, how far apart in time the blocks
    still held were allocated (a leak keeps adding them; a one-time allocation does not)."""


class LeakSample(msgspec.Struct, frozen=True):
    caller: int
    stack_id: int
    bytes: int
    count: int
    path_hash: int = 0


class LeakSnapshot(msgspec.Struct, frozen=True):
    at_s: float
    sites: list[LeakSample]


class LeaksResult(msgspec.Struct, frozen=True):
    header: TraceHeader
    libc: str
    sites: list[LeakSite]
    exemplars: list[LeakExemplar]
    history: list[LeakSnapshot]
    sampling: dict[str, float]
    """fraction (of time allocations were tracked), sampled_s, window_s, period_s,
    malloc_rate_per_s, tracked_allocations, tracked_frees, lost, exemplars_lost."""


class StackCountResult(msgspec.Struct, frozen=True):
    header: TraceHeader
    """System-wide (no ``pid`` asked): pid 0, no maps; each stack's process is in ``tgids``."""
    tracepoint: str
    counters: SampleCounters
    """``samples`` holds the events counted."""
    stacks: list[StackCount]
    exemplars: list[Exemplar]
    tgids: list[int]
    """The process of each ``stacks`` entry."""
    comms: dict[int, str]
    """System-wide: each process's name, as the kernel saw it."""


class ProbeArgGroup(msgspec.Struct, frozen=True):
    count: int
    values: list[int | str]
    """One per ``group_by`` argument: an integer (as the probe passed it, sign extended), or text."""


class ProbeArgCounters(msgspec.Struct, frozen=True):
    events: int
    """Hits of the probe in the target while counting."""
    lost: int
    """Hits not counted: the groups map was full."""
    truncated: int
    """Texts longer than the room for them, counted under their first bytes."""
    unreadable: int
    """Texts that could not be read from the target's memory (counted under an empty text)."""


class ProbeSiteHits(msgspec.Struct, frozen=True, array_like=True):
    """A probe's hits at one of its sites: the file and the file offset of the probe's
    instruction (what the uprobe is attached at)."""

    binary: str
    offset: int
    hits: int


class ProbeArgsResult(msgspec.Struct, frozen=True):
    header: TraceHeader
    probe: str
    group_by: list[ProbeArgument]
    histogram: bool
    groups: list[ProbeArgGroup]
    counters: ProbeArgCounters
    sites: int
    """How many places the probe was attached at."""
    site_hits: list[ProbeSiteHits] = []
    """The hits at each site that fired (a probe in an inlined function has a site per copy)."""


class ProbeHit(msgspec.Struct, frozen=True, array_like=True):
    """One hit (sent as an array: a trace holds up to ``max_hits`` of them)."""

    time_ns: int
    """CLOCK_MONOTONIC, as ``ProbeTraceResult.started_ns``."""
    tid: int
    values: list[int | str]
    stack: int = -1
    """With ``stacks``: the hit's user stack, a key of ``ProbeTraceResult.stacks``; -1: none."""


class ProbeTraceCounters(msgspec.Struct, frozen=True):
    events: int
    """Hits of the probe in the target: ``len(hits) + dropped + ring_full + rate_limited``."""
    rate_limited: int
    """Hits over ``rate_limit`` in their second: counted, not sent."""
    ring_full: int
    """Hits the perf ring had no room for (the agent read too slowly)."""
    dropped: int
    """Hits received after ``max_hits`` were kept."""
    truncated: int
    unreadable: int


class ProbeTraceResult(msgspec.Struct, frozen=True):
    header: TraceHeader
    probe: str
    arguments: list[ProbeArgument]
    started_ns: int
    """CLOCK_MONOTONIC when the probe was armed: a hit's time minus this is its time in the trace."""
    hits: list[ProbeHit]
    counters: ProbeTraceCounters
    sites: int
    stacks: dict[int, list[int]]
    """The user stacks hits refer to, by id: return addresses, innermost first."""
    site_hits: list[ProbeSiteHits] = []
    """Every hit by site, sent or not."""


class GcPause(msgspec.Struct, frozen=True, array_like=True):
    start_ns: int
    """CLOCK_MONOTONIC at gc__begin."""
    duration_ns: int
    """gc__begin to gc__end on the same thread."""
    full: bool
    """gc__begin's is_full: a full collection."""
    tid: int


class ClassLoad(msgspec.Struct, frozen=True, array_like=True):
    time_ns: int
    name: str
    """HotSpot's internal form (``java/lang/String``), read with the length it passes."""


class JvmEventCounters(msgspec.Struct, frozen=True):
    gcs: int
    """GC pauses that began and ended while tracing."""
    classes_loaded: int
    unmatched_gc_ends: int
    """gc__end without its gc__begin (a collection under way when tracing began)."""
    truncated: int
    """Class names longer than 127 bytes, kept cut."""
    ring_full: int
    """Events the perf ring had no room for (counted above all the same)."""
    dropped: int
    """Events received after ``max_events`` were kept."""


class JvmEventsResult(msgspec.Struct, frozen=True):
    header: TraceHeader
    started_ns: int
    """CLOCK_MONOTONIC when the probes were armed."""
    gcs: list[GcPause]
    classes: list[ClassLoad]
    counters: JvmEventCounters


class JvmLive(msgspec.Struct, tag="jvm", tag_field="kind", frozen=True):
    """What a JVM-events trace has seen so far, sent with progress about once a second."""

    started_ns: int
    gcs: int
    """GC pauses so far."""
    classes_loaded: int
    """Classes loaded so far."""
    new_gcs: list[GcPause]
    """Pauses received since the last report (at most ``jvm_events.LIVE_EVENTS``)."""
    new_classes: list[ClassLoad]
    """Classes received since the last report (at most ``jvm_events.LIVE_EVENTS``)."""


class TracepointField(msgspec.Struct, frozen=True, array_like=True):
    """One field of a tracepoint's record, as its tracefs format describes it."""

    name: str
    declaration: str
    """As the format writes it: ``char prev_comm[16]``, ``__data_loc char[] name``."""
    offset: int
    size: int
    signed: bool


class TracepointFormat(msgspec.Struct, frozen=True):
    name: str
    """``category:name``."""
    id: int
    fields: list[TracepointField]
    """The common fields first (common_type, common_pid...), then the tracepoint's own."""


class TracepointRecord(msgspec.Struct, frozen=True, array_like=True):
    time_ns: int
    """CLOCK_MONOTONIC."""
    tid: int
    cpu: int
    data: bytes
    """The raw record from its first byte (``common_type``): the fixed fields, then as much of
    what follows (dynamic strings) as fits in 512 bytes."""


class TracepointTraceCounters(msgspec.Struct, frozen=True):
    events: int
    """Hits in the target (or anywhere): ``len(records) + dropped + ring_full + rate_limited +
    unreadable``."""
    rate_limited: int
    ring_full: int
    unreadable: int
    """Records the program could not copy (counted, not sent)."""
    dropped: int
    """Records received after ``max_events`` were kept."""


class TracepointTraceResult(msgspec.Struct, frozen=True):
    header: TraceHeader
    """System-wide (no ``pid`` asked): pid 0, no maps."""
    tracepoint: str
    format: TracepointFormat
    started_ns: int
    records: list[TracepointRecord]
    counters: TracepointTraceCounters


class TracepointGroup(msgspec.Struct, frozen=True, array_like=True):
    count: int
    value: int | str
    """The field's value (an integer as the field holds it, sign-extended where signed; text for
    a char array), or with ``histogram`` its power of two (0 for 0, K for 2^(K-1)..2^K-1)."""


class TracepointCountResult(msgspec.Struct, frozen=True):
    header: TraceHeader
    tracepoint: str
    field: str
    histogram: bool
    groups: list[TracepointGroup]
    """Most hits first."""
    events: int
    """Every hit: the groups' counts + ``lost`` + ``unreadable``."""
    lost: int
    """Hits not counted by value: the map of values was full (10,240 distinct values)."""
    unreadable: int


class DiskLatency(msgspec.Struct, frozen=True):
    dev: int
    """The kernel's dev_t: major << 20 | minor."""
    interval: int
    """Which interval of ``interval_s`` from the window's start (0 when there is one)."""
    buckets: list[list[int]]
    """``[bucket, count]`` of requests by the power of two of their microseconds from issue to
    completion (0 for 0, K for 2^(K-1)..2^K-1), in order."""


class DiskProcess(msgspec.Struct, frozen=True):
    tgid: int
    comm: str
    dev: int
    op: str
    """The requests' operation, as rwbs' first letter: R, W, F (flush), D (discard), N."""
    ios: int
    bytes: int
    latency_ns: int
    """The requests' issue-to-completion time, summed."""


class DiskRequestRecord(msgspec.Struct, frozen=True, array_like=True):
    """One completed request, as biosnoop prints it."""

    time_ns: int
    """When it completed (CLOCK_MONOTONIC, as ``DiskResult.started_ns``)."""
    latency_ns: int
    tgid: int
    comm: str
    dev: int
    op: str
    sector: int
    bytes: int


class DiskCounters(msgspec.Struct, frozen=True):
    issued: int
    completed: int
    """Of those issued in the window, completed in it (the ones counted)."""
    lost: int
    requests_not_sent: int
    """Completed requests over ``max_requests`` or that the ring had no room for."""


class DiskResult(msgspec.Struct, frozen=True):
    header: TraceHeader
    """Every task: pid 0, no maps."""
    latency: list[DiskLatency]
    processes: list[DiskProcess]
    """Most bytes first."""
    requests: list[DiskRequestRecord]
    """Oldest first."""
    started_ns: int
    interval_s: float
    counters: DiskCounters


class FileThreadIO(msgspec.Struct, frozen=True, array_like=True):
    """One thread's calls of one kind on one descriptor."""

    tgid: int
    tid: int
    thread: str
    """The thread's name (its comm) at its first call."""
    fd: int
    call: str
    """The system call: read, write, pread64, pwrite64, readv, writev, preadv(2), pwritev(2),
    fsync, fdatasync."""
    calls: int
    bytes: int
    """Bytes moved (sync calls move none)."""
    errors: int
    total_ns: int
    max_ns: int


class FileLatency(msgspec.Struct, frozen=True, array_like=True):
    tgid: int
    fd: int
    call: str
    buckets: list[list[int]]
    """``[bucket, count]`` of calls by the power of two of their microseconds (0 for 0, K for
    2^(K-1)..2^K-1), in order."""


class FileDescriptor(msgspec.Struct, frozen=True, array_like=True):
    tgid: int
    fd: int
    name: str
    """What /proc/TGID/fd/FD named when first seen: a path, ``socket:[N]``, ``pipe:[N]``,
    ``anon_inode:...``; empty when the descriptor was closed before it could be read."""
    process: str
    """The process's name (its comm)."""


class SlowFileCall(msgspec.Struct, frozen=True, array_like=True):
    time_ns: int
    """When it returned, on the monotonic clock (``TraceHeader.started_ns``'s)."""
    tgid: int
    tid: int
    comm: str
    fd: int
    call: str
    latency_ns: int
    ret: int
    """Bytes moved, 0 for a sync, or a negative errno."""


class FileCounters(msgspec.Struct, frozen=True):
    calls: int
    slow: int
    slow_not_sent: int
    """Slow calls over ``max_slow`` or that the ring had no room for (counted in ``io``)."""
    lost: int
    """Calls the maps had no room for."""


class FilesResult(msgspec.Struct, frozen=True):
    header: TraceHeader
    """Every task: pid 0, no maps."""
    io: list[FileThreadIO]
    latency: list[FileLatency]
    descriptors: list[FileDescriptor]
    slow: list[SlowFileCall]
    """Oldest first."""
    started_ns: int
    """When the calls began to be counted (CLOCK_MONOTONIC, as ``SlowFileCall.time_ns``)."""
    slow_ms: float
    counters: FileCounters


class PageCacheFile(msgspec.Struct, frozen=True, array_like=True):
    """What one process's tasks did to one file's pages in the page cache."""

    tgid: int
    comm: str
    dev: int
    """The file system's dev_t (major << 20 | minor); 0 for rows from writeback's tracepoints,
    which give none."""
    ino: int
    path: str
    """Found among the processes' open files and mappings; empty when none had it open."""
    added: int
    removed: int
    dirtied: int
    """Folios (the tracepoint gives no size), not pages."""
    written: int


class PageCacheCounters(msgspec.Struct, frozen=True):
    events: int
    lost: int


class PageCacheResult(msgspec.Struct, frozen=True):
    header: TraceHeader
    files: list[PageCacheFile]
    """Most pages first."""
    counters: PageCacheCounters


class IrqTime(msgspec.Struct, frozen=True, array_like=True):
    name: str
    """The handler's name (hard IRQs, as /proc/interrupts names them) or the softirq vector's."""
    number: int
    """The IRQ number, or the softirq vector."""
    count: int
    time_ns: int


class IrqResult(msgspec.Struct, frozen=True):
    header: TraceHeader
    hard: list[IrqTime]
    """Most time first."""
    soft: list[IrqTime]


class TracepointLive(msgspec.Struct, tag="tracepoint", tag_field="kind", frozen=True):
    """What a tracepoint trace has seen so far, sent with progress about once a second."""

    started_ns: int
    format: TracepointFormat
    """The records' layout (each report carries it: a report is read on its own)."""
    events: int
    new_records: list[TracepointRecord]
    """Records received since the last report (at most ``tracepoint_events.LIVE_RECORDS``)."""
    not_shown: int
    """Records received since the last report beyond those (the result keeps them, to its limit)."""


class ProbeLive(msgspec.Struct, tag="probe", tag_field="kind", frozen=True):
    """What a probe's count or trace has seen so far, sent with progress about once a second so
    that the editor shows it while it runs."""

    events: int
    """Hits so far."""
    started_ns: int
    """When the probe was armed (``ProbeTraceResult.started_ns``)."""
    site_hits: list[ProbeSiteHits]
    groups: list[ProbeArgGroup]
    """Counting: the largest groups so far (at most ``probe_args.LIVE_GROUPS``)."""
    hits: list[ProbeHit]
    """Tracing: hits received since the last report (at most ``probe_args.LIVE_HITS``)."""
    hits_not_shown: int
    """Tracing: hits received since the last report beyond ``probe_args.LIVE_HITS`` (kept for the result)."""


class SystemTotal(msgspec.Struct, frozen=True, array_like=True):
    name: str
    value: int


class SystemLive(msgspec.Struct, tag="system", tag_field="kind", frozen=True):
    """A system view's running totals (disk, files, page cache, interrupts), sent with progress
    about once a second: the editor charts their rates from one report to the next."""

    unit: str
    """What the values count: bytes, ns, pages."""
    totals: list[SystemTotal]
    """Since the window opened, the largest first (at most ``system_live.LIVE_SERIES``)."""


LiveReport = ProbeLive | JvmLive | TracepointLive | SystemLive
"""What a running trace has seen so far (sent with progress by the kinds that show it live)."""


# --- messages: agent -> server ---------------------------------------------------


class Hello(msgspec.Struct, tag="hello", tag_field="type", frozen=True):
    version: int
    """The newest protocol version the agent speaks."""
    oldest_version: int
    """The oldest it still speaks: a server whose version is outside the range refuses the agent."""
    features: list[str]
    """The request types this agent serves (its tracer registry's keys, plus the control requests)."""
    agent_pid: int
    euid: int


class Progress(msgspec.Struct, tag="progress", tag_field="type", frozen=True):
    id: int
    phase: Literal["compiling", "sampling", "collecting"]
    elapsed_s: float
    duration_s: float
    samples: int
    live: LiveReport | None = None
    """USDT counts and traces, JVM events: what was seen so far (the other kinds send none)."""


class CapabilitiesResult(msgspec.Struct, tag="capabilities-result", tag_field="type", frozen=True):
    id: int
    report: CapabilityReport


class ProfileDone(msgspec.Struct, tag="profile-result", tag_field="type", frozen=True):
    id: int
    result: ProfileResult


class Prepared(msgspec.Struct, tag="prepared", tag_field="type", frozen=True):
    id: int
    compile_s: float
    """Seconds spent compiling now (0 when everything was ready)."""


class Failure(msgspec.Struct, tag="error", tag_field="type", frozen=True):
    id: int | None
    code: ErrorCode
    message: str
    hint: str | None = None
    """What the user can do about it."""


class SyscallsDone(msgspec.Struct, tag="syscalls-result", tag_field="type", frozen=True):
    id: int
    result: SyscallsResult


class LeaksDone(msgspec.Struct, tag="leaks-result", tag_field="type", frozen=True):
    id: int
    result: LeaksResult


class StackCountDone(msgspec.Struct, tag="stackcount-result", tag_field="type", frozen=True):
    id: int
    result: StackCountResult


class ProbeArgsDone(msgspec.Struct, tag="probe-args-result", tag_field="type", frozen=True):
    id: int
    result: ProbeArgsResult


class ProbeTraceDone(msgspec.Struct, tag="probe-trace-result", tag_field="type", frozen=True):
    id: int
    result: ProbeTraceResult


class IrqDone(msgspec.Struct, tag="irqs-result", tag_field="type", frozen=True):
    id: int
    result: IrqResult


class DiskDone(msgspec.Struct, tag="disk-result", tag_field="type", frozen=True):
    id: int
    result: DiskResult


class WallClockResult(msgspec.Struct, frozen=True):
    header: TraceHeader
    on_cpu: ProfileResult
    """The CPU samples (as ``profile-result``'s; the same header)."""
    off_cpu: StackCountResult
    """The off-CPU time (as ``offcpu-result``'s; the same header)."""


class WallClockDone(msgspec.Struct, tag="wallclock-result", tag_field="type", frozen=True):
    id: int
    result: WallClockResult


class FilesDone(msgspec.Struct, tag="files-result", tag_field="type", frozen=True):
    id: int
    result: FilesResult


class PageCacheDone(msgspec.Struct, tag="pagecache-result", tag_field="type", frozen=True):
    id: int
    result: PageCacheResult


class OffCpuDone(msgspec.Struct, tag="offcpu-result", tag_field="type", frozen=True):
    id: int
    result: StackCountResult
    """Each stack's count is the nanoseconds its threads spent off the CPU after leaving with it;
    ``tracepoint`` is sched:sched_switch."""


class LineHitsDone(msgspec.Struct, tag="line-hits-result", tag_field="type", frozen=True):
    id: int
    result: StackCountResult
    """Each stack's count is its hits; its innermost user frame is the site it hit."""


class TracepointsResult(msgspec.Struct, tag="tracepoints-result", tag_field="type", frozen=True):
    id: int
    tracepoints: list[TracepointFormat]


class TracepointTraceDone(msgspec.Struct, tag="tracepoint-trace-result", tag_field="type", frozen=True):
    id: int
    result: TracepointTraceResult


class TracepointCountDone(msgspec.Struct, tag="tracepoint-count-result", tag_field="type", frozen=True):
    id: int
    result: TracepointCountResult


class JvmEventsDone(msgspec.Struct, tag="jvm-events-result", tag_field="type", frozen=True):
    id: int
    result: JvmEventsResult


AgentMessage = (
    Hello
    | Progress
    | CapabilitiesResult
    | Prepared
    | ProfileDone
    | SyscallsDone
    | LeaksDone
    | StackCountDone
    | ProbeArgsDone
    | ProbeTraceDone
    | JvmEventsDone
    | TracepointsResult
    | TracepointTraceDone
    | TracepointCountDone
    | OffCpuDone
    | LineHitsDone
    | WallClockDone
    | DiskDone
    | FilesDone
    | PageCacheDone
    | IrqDone
    | Failure
)


_REQUEST_DECODER = msgspec.json.Decoder(Request)
_MESSAGE_DECODER = msgspec.json.Decoder(AgentMessage)
_ENCODER = msgspec.json.Encoder()


def tag_of(kind: type[msgspec.Struct]) -> str:
    """The ``type`` a message or request of this class carries on the wire."""
    tag = kind.__struct_config__.tag
    assert isinstance(tag, str), kind
    return tag


def encode(message: Request | AgentMessage) -> bytes:
    """One message as one line of JSON, newline included."""
    return _ENCODER.encode(message) + b"\n"


def decode_request(line: bytes) -> Request:
    """Raises msgspec.ValidationError or msgspec.DecodeError on anything malformed."""
    return _REQUEST_DECODER.decode(line)


def decode_message(line: bytes) -> AgentMessage:
    return _MESSAGE_DECODER.decode(line)
