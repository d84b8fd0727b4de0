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

from typing import Literal

import msgspec

PROTOCOL_VERSION = 2
"""Bumped on any change that an older peer would misread."""

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


class CapabilitiesRequest(msgspec.Struct, tag="capabilities", tag_field="type", frozen=True):
    id: int


class ProfileRequest(msgspec.Struct, tag="profile", tag_field="type", frozen=True):
    """Sample every thread of one process with a CPU clock perf event."""

    id: int
    pid: int
    frequency: int = 99
    duration_s: float = 5.0
    exemplars: bool = True
    """Also send user stack copies, so that the server can unwind without frame pointers."""
    start_at_exec: int = 0
    """Record the target's events from its Nth exec on (0: from the start). A command that lineprobe
    launches execs once or twice (its gate, the parent-death wrapper) before it is the command."""


class PrepareRequest(msgspec.Struct, tag="prepare", tag_field="type", frozen=True):
    """Compile programs ahead of use, so that the first trace starts at once."""

    id: int
    programs: list[Literal["cpu", "syscalls", "leaks"]]


class StopRequest(msgspec.Struct, tag="stop", tag_field="type", frozen=True):
    """End the running request ``id`` early; it still answers with what it collected."""

    id: int


class ShutdownRequest(msgspec.Struct, tag="shutdown", tag_field="type", frozen=True):
    pass


class SyscallsRequest(msgspec.Struct, tag="trace-syscalls", tag_field="type", frozen=True):
    """Count, time and attribute one process's system calls (and its block I/O)."""

    id: int
    pid: int
    duration_s: float = 5.0
    slow_ms: float = 1.0
    """File I/O calls at least this slow always get exemplars (subject to a rate limit)."""
    exemplars: bool = True
    start_at_exec: int = 0
    """Record the target's events from its Nth exec on (0: from the start). A command that lineprobe
    launches execs once or twice (its gate, the parent-death wrapper) before it is the command."""


class LeaksRequest(msgspec.Struct, tag="find-leaks", tag_field="type", frozen=True):
    """Track a process's heap allocations and report those still outstanding, by site."""

    id: int
    pid: int
    duration_s: float = 10.0
    interval_s: float = 1.0
    """How often outstanding bytes per site are snapshotted (growth over time)."""
    budget_percent: float = 5.0
    """CPU the allocation probes may cost the target; sets the sampled fraction."""
    sample_fraction: float | None = None
    """Force the fraction of time allocations are tracked (1.0: all of them)."""
    start_at_exec: int = 0
    """Record the target's events from its Nth exec on (0: from the start). A command that lineprobe
    launches execs once or twice (its gate, the parent-death wrapper) before it is the command."""


TracingRequest = ProfileRequest | SyscallsRequest | LeaksRequest
"""The requests that trace a process (the fields they share: id, pid, duration_s, start_at_exec)."""

Request = (
    CapabilitiesRequest
    | PrepareRequest
    | ProfileRequest
    | SyscallsRequest
    | LeaksRequest
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


class PhaseTimings(msgspec.Struct, frozen=True):
    agent_start_s: float
    """From the agent process's start to its first request (interpreter, imports)."""
    compile_s: float
    """BPF compile and load; zero when this agent already holds the program."""
    attach_s: float
    sampling_s: float
    collect_s: float
    """Reading the maps, naming kernel frames, clearing for the next run."""


class ProfileResult(msgspec.Struct, frozen=True):
    pid: int
    exe: str
    comm: str
    frequency: int
    requested_s: float
    duration_s: float
    started_at: float
    """Unix time when sampling started."""
    stopped_early: bool
    target_exited: bool
    exited_after_s: float | None
    counters: SampleCounters
    stacks: list[StackCount]
    maps: list[Mapping]
    timings: PhaseTimings
    exemplars: list[Exemplar] = []
    access_lost: str | None = None
    """Why tracing stopped before its end because the caller may no longer debug the target (it
    exec'd a setuid or setgid program, or made itself non-dumpable); nothing after was recorded."""
    held_events: int = 0
    """Events of the target not recorded while the gate was shut: from an exec until access was
    confirmed again, or after access was lost."""


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
    pid: int
    exe: str
    comm: str
    requested_s: float
    duration_s: float
    started_at: float
    stopped_early: bool
    target_exited: bool
    exited_after_s: float | None
    counts: list[SyscallCount]
    failures: list[SyscallFailure]
    io: list[FileIo]
    sleeps: list[Histogram]
    block: BlockIo
    cpu: list[CpuSplit]
    exemplars: list[SyscallExemplar]
    counters: SyscallsCounters
    maps: list[Mapping]
    timings: PhaseTimings
    access_lost: str | None = None
    """Why tracing stopped before its end because the caller may no longer debug the target (it
    exec'd a setuid or setgid program, or made itself non-dumpable); nothing after was recorded."""
    held_events: int = 0
    """Events of the target not recorded while the gate was shut: from an exec until access was
    confirmed again, or after access was lost."""


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
    pid: int
    exe: str
    comm: str
    libc: str
    requested_s: float
    duration_s: float
    started_at: float
    stopped_early: bool
    target_exited: bool
    exited_after_s: float | None
    sites: list[LeakSite]
    exemplars: list[LeakExemplar]
    history: list[LeakSnapshot]
    sampling: dict[str, float]
    """fraction (of time allocations were tracked), sampled_s, window_s, period_s,
    malloc_rate_per_s, tracked_allocations, tracked_frees, lost, exemplars_lost."""
    maps: list[Mapping]
    timings: PhaseTimings
    access_lost: str | None = None
    """Why tracing stopped before its end because the caller may no longer debug the target (it
    exec'd a setuid or setgid program, or made itself non-dumpable); nothing after was recorded."""
    held_events: int = 0
    """Events of the target not recorded while the gate was shut: from an exec until access was
    confirmed again, or after access was lost."""


# --- messages: agent -> server ---------------------------------------------------


class Hello(msgspec.Struct, tag="hello", tag_field="type", frozen=True):
    version: int
    agent_pid: int
    euid: int


class Progress(msgspec.Struct, tag="progress", tag_field="type", frozen=True):
    id: int
    phase: Literal["compiling", "sampling", "collecting"]
    elapsed_s: float
    duration_s: float
    samples: int


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


AgentMessage = (
    Hello | Progress | CapabilitiesResult | Prepared | ProfileDone | SyscallsDone | LeaksDone | Failure
)


_REQUEST_DECODER = msgspec.json.Decoder(Request)
_MESSAGE_DECODER = msgspec.json.Decoder(AgentMessage)
_ENCODER = msgspec.json.Encoder()


def encode(message: Request | AgentMessage) -> bytes:
    """One message as one line of JSON, newline included."""
    return _ENCODER.encode(message) + b"\n"


def decode_request(line: bytes) -> Request:
    """Raises msgspec.ValidationError or msgspec.DecodeError on anything malformed."""
    return _REQUEST_DECODER.decode(line)


def decode_message(line: bytes) -> AgentMessage:
    return _MESSAGE_DECODER.decode(line)
