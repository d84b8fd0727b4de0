"""System calls of one process from the raw_syscalls tracepoints: counts, failures, file I/O.

What syscount, opensnoop, argdist and fileslower answer, built only from
``raw_syscalls:sys_enter``/``sys_exit`` and the ``block:`` tracepoints, since
this kernel has neither kprobes nor fentry. Exact counts are aggregated in
the kernel; for attribution to the calling line, a bounded number of
*exemplars* per aggregate (the user registers plus a copy of the user stack
at the syscall) go to user space, where the server unwinds them with CFI
(glibc has no frame pointers, so the kernel's own stack walk would lose the
caller).

Syscall arguments are read from the ``pt_regs`` the tracepoint passes (the
user-ABI register frame, identical across kernel versions); tracepoint
fields come from tracefs formats. No kernel struct is read through the
installed headers, which may not match the running kernel.
"""

from __future__ import annotations

import ctypes
import errno as errno_names
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

from lineprobe_agent.bpf_source import compile_program, constant, copied_stack
from lineprobe_agent.bpf_tables import stat
from lineprobe_agent.bpf_tracer import BpfTracer
from lineprobe_agent.descriptors import DescriptorTable
from lineprobe_agent.exemplar_buffer import ExemplarBuffer
from lineprobe_agent.protocol import (
    BlockIo,
    BlockRecord,
    FileIo,
    Histogram,
    HistogramBucket,
    SyscallCount,
    SyscallExemplar,
    SyscallFailure,
    SyscallsCounters,
)
from lineprobe_agent.syscall_names import SyscallNames
from lineprobe_agent.target_gate import TargetGate
from lineprobe_agent.tracepoints import Tracepoints

MAX_PATH = constant("MAX_PATH")
HIST_BUCKETS = constant("HIST_BUCKETS")
HIST_SUB_BITS = constant("HIST_SUB_BITS")
MAX_BLOCK_RECORDS = 2000

# Argument classes (high nibble of the per-syscall kind byte); the low bits hold the argument
# index. Defined in bpf/lineprobe.h, with the descriptor operations (the low nibble of FD_OP).
PATH_ARG = constant("PATH_ARG")
SOCKADDR_ARG = constant("SOCKADDR_ARG")
FILE_IO = constant("FILE_IO")
SLEEP_ARG = constant("SLEEP_ARG")
FD_OP = constant("FD_OP")
OPENS_FD = constant("OPENS_FD")
FDOP_CLOSE = constant("FDOP_CLOSE")
FDOP_DUP = constant("FDOP_DUP")
FDOP_FCNTL = constant("FDOP_FCNTL")
FDOP_SOCKET = constant("FDOP_SOCKET")
FDOP_ACCEPT = constant("FDOP_ACCEPT")
FDOP_PIPE = constant("FDOP_PIPE")
FDOP_SOCKETPAIR = constant("FDOP_SOCKETPAIR")
FDOP_CREATE = constant("FDOP_CREATE")

# x86-64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl) and the argument of interest.
SYSCALL_KINDS: dict[int, int] = {
    2: PATH_ARG | OPENS_FD | 0,  # open
    4: PATH_ARG | 0,  # stat
    6: PATH_ARG | 0,  # lstat
    21: PATH_ARG | 0,  # access
    59: PATH_ARG | 0,  # execve
    76: PATH_ARG | 0,  # truncate
    80: PATH_ARG | 0,  # chdir
    82: PATH_ARG | 0,  # rename
    83: PATH_ARG | 0,  # mkdir
    84: PATH_ARG | 0,  # rmdir
    85: PATH_ARG | OPENS_FD | 0,  # creat
    86: PATH_ARG | 0,  # link
    87: PATH_ARG | 0,  # unlink
    89: PATH_ARG | 0,  # readlink
    90: PATH_ARG | 0,  # chmod
    92: PATH_ARG | 0,  # chown
    133: PATH_ARG | 0,  # mknod
    137: PATH_ARG | 0,  # statfs
    257: PATH_ARG | OPENS_FD | 1,  # openat
    258: PATH_ARG | 1,  # mkdirat
    260: PATH_ARG | 1,  # fchownat
    262: PATH_ARG | 1,  # newfstatat
    263: PATH_ARG | 1,  # unlinkat
    264: PATH_ARG | 1,  # renameat
    267: PATH_ARG | 1,  # readlinkat
    268: PATH_ARG | 1,  # fchmodat
    269: PATH_ARG | 1,  # faccessat
    280: PATH_ARG | 1,  # utimensat
    316: PATH_ARG | 1,  # renameat2
    322: PATH_ARG | 1,  # execveat
    332: PATH_ARG | 1,  # statx
    437: PATH_ARG | OPENS_FD | 1,  # openat2
    439: PATH_ARG | 1,  # faccessat2
    42: SOCKADDR_ARG | 1,  # connect
    49: SOCKADDR_ARG | 1,  # bind
    0: FILE_IO | 0,  # read
    1: FILE_IO | 0,  # write
    17: FILE_IO | 0,  # pread64
    18: FILE_IO | 0,  # pwrite64
    19: FILE_IO | 0,  # readv
    20: FILE_IO | 0,  # writev
    74: FILE_IO | 0,  # fsync
    75: FILE_IO | 0,  # fdatasync
    277: FILE_IO | 0,  # sync_file_range
    295: FILE_IO | 0,  # preadv
    296: FILE_IO | 0,  # pwritev
    35: SLEEP_ARG | 0,  # nanosleep
    230: SLEEP_ARG | 2,  # clock_nanosleep
    3: FD_OP | FDOP_CLOSE,  # close
    32: FD_OP | FDOP_DUP,  # dup
    33: FD_OP | FDOP_DUP,  # dup2
    292: FD_OP | FDOP_DUP,  # dup3
    72: FD_OP | FDOP_FCNTL,  # fcntl (F_DUPFD, F_DUPFD_CLOEXEC)
    41: FD_OP | FDOP_SOCKET,  # socket
    43: FD_OP | FDOP_ACCEPT,  # accept
    288: FD_OP | FDOP_ACCEPT,  # accept4
    22: FD_OP | FDOP_PIPE,  # pipe
    293: FD_OP | FDOP_PIPE,  # pipe2
    53: FD_OP | FDOP_SOCKETPAIR,  # socketpair
    213: FD_OP | FDOP_CREATE,  # epoll_create
    291: FD_OP | FDOP_CREATE,  # epoll_create1
    283: FD_OP | FDOP_CREATE,  # timerfd_create
    284: FD_OP | FDOP_CREATE,  # eventfd
    290: FD_OP | FDOP_CREATE,  # eventfd2
    282: FD_OP | FDOP_CREATE,  # signalfd
    289: FD_OP | FDOP_CREATE,  # signalfd4
    253: FD_OP | FDOP_CREATE,  # inotify_init
    294: FD_OP | FDOP_CREATE,  # inotify_init1
    319: FD_OP | FDOP_CREATE,  # memfd_create
    298: FD_OP | FDOP_CREATE,  # perf_event_open
    323: FD_OP | FDOP_CREATE,  # userfaultfd
    425: FD_OP | FDOP_CREATE,  # io_uring_setup
    434: FD_OP | FDOP_CREATE,  # pidfd_open
}

# Stats array indices (enum lp_syscall_stat in bpf/lineprobe.h).
STAT_EVENTS = constant("SYS_STAT_EVENTS")
STAT_INFLIGHT_FULL = constant("SYS_STAT_INFLIGHT_FULL")
STAT_FAILURES_FULL = constant("SYS_STAT_FAILURES_FULL")
STAT_IO_FULL = constant("SYS_STAT_IO_FULL")
STAT_BIO_FULL = constant("SYS_STAT_BIO_FULL")
STAT_COUNTS_FULL = constant("SYS_STAT_COUNTS_FULL")

TRACEPOINTS = (
    ("sys_enter", "on_sys_enter"),
    ("sys_exit", "on_sys_exit"),
    ("block:block_bio_queue", "on_block_bio_queue"),
    ("block:block_rq_issue", "on_block_rq_issue"),
    ("block:block_rq_complete", "on_block_rq_complete"),
)
"""What bpf/syscall_tracer.bpf.c runs on: attached for a trace, detached after it."""


def bucket_of(value: int) -> int:
    """The log-linear bucket of ``value``: lp_bucket_of() of bpf/lineprobe.h, in Python."""
    subs = 1 << HIST_SUB_BITS
    if value < subs:
        return value
    power = value.bit_length() - 1
    bucket = power * subs + ((value >> (power - HIST_SUB_BITS)) & (subs - 1))
    return min(bucket, HIST_BUCKETS - 1)


def bucket_bounds(index: int) -> tuple[int, int]:
    """[low, high) of a log-linear bucket: the values ``bucket_of`` puts there."""
    subs = 1 << HIST_SUB_BITS
    if index < subs:
        return index, index + 1
    power, sub = divmod(index, subs)
    if power < HIST_SUB_BITS:
        return subs, subs  # unused indices (subs .. subs * HIST_SUB_BITS - 1)
    shift = power - HIST_SUB_BITS
    return (subs + sub) << shift, (subs + sub + 1) << shift


def histogram(name: str, unit: str, counts: list[int], scale: float = 1.0) -> Histogram:
    buckets = []
    for index, count in enumerate(counts):
        if count:
            low, high = bucket_bounds(index)
            buckets.append(HistogramBucket(low / scale, high / scale, int(count)))
    return Histogram(name, unit, buckets)


def errno_name(value: int) -> str:
    return errno_names.errorcode.get(value, f"E{value}")


def decode_sockaddr(raw: bytes) -> str | None:
    if len(raw) < 2:
        return None
    family = struct.unpack_from("<H", raw)[0]
    if family == socket.AF_UNIX:
        path = raw[2:].split(b"\0", 1)[0]
        if not path and len(raw) > 3:  # abstract socket: leading NUL
            return "@" + raw[3:].split(b"\0", 1)[0].decode(errors="replace")
        return path.decode(errors="replace")
    if family == socket.AF_INET and len(raw) >= 8:
        port = struct.unpack_from(">H", raw, 2)[0]
        return f"{socket.inet_ntop(socket.AF_INET, raw[4:8])}:{port}"
    if family == socket.AF_INET6 and len(raw) >= 24:
        port = struct.unpack_from(">H", raw, 2)[0]
        return f"[{socket.inet_ntop(socket.AF_INET6, raw[8:24])}]:{port}"
    return f"<address family {family}>"


@dataclass
class CollectedSyscalls:
    counts: list[SyscallCount]
    failures: list[SyscallFailure]
    io: list[FileIo]
    sleeps: list[Histogram]
    block: BlockIo
    exemplars: list[SyscallExemplar]
    counters: SyscallsCounters


@dataclass
class _RawExemplar:
    kind: int
    nr: int
    err: int
    fd: int
    generation: int
    path: bytes
    exemplar: SyscallExemplar


@dataclass
class SyscallTracer(BpfTracer):
    """One compiled program (bpf/syscall_tracer.bpf.c), reused for every trace this agent runs;
    its tracepoints are attached for a trace and detached after it."""

    TABLES = (
        "syscall_counts",
        "inflight",
        "failures",
        "io_stats",
        "sleep_hists",
        "bio_inflight",
        "block_hist",
        "ok_counts",
    )

    _bpf: Any = None
    _records: list[BlockRecord] = field(default_factory=list)
    _records_dropped: int = 0
    descriptors: DescriptorTable = field(default_factory=DescriptorTable)
    names: SyscallNames = field(default_factory=SyscallNames.load)
    descriptor_changes_lost: int = 0
    _pid: int = 0
    _started_ns: int = 0
    _tracepoints: Tracepoints = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._bpf = compile_program("syscall_tracer")
        kinds = self._bpf["syscall_kind"]
        for nr, kind in SYSCALL_KINDS.items():
            kinds[ctypes.c_int(nr)] = ctypes.c_uint8(kind)
        self._exemplars: ExemplarBuffer[_RawExemplar] = ExemplarBuffer(self._bpf, self._exemplar_of, 256)
        self._bpf["bio_records"].open_perf_buffer(self._on_bio, page_cnt=64, lost_cb=self._on_bio_lost)
        self._bpf["fd_events"].open_perf_buffer(
            self._on_descriptor, page_cnt=256, lost_cb=self._on_descriptors_lost
        )
        self.gate = TargetGate(self._bpf)
        self._tracepoints = Tracepoints(self._bpf, TRACEPOINTS)

    # -- perf buffer callbacks (copy now: the event is a view into the ring) --------------

    def _exemplar_of(self, e: Any) -> _RawExemplar:
        stack = copied_stack(e)
        path = _raw_field(e, "path", MAX_PATH)
        exemplar = SyscallExemplar(int(e.tid), int(e.ip), int(e.sp), int(e.bp), stack, int(e.latency_ns))
        raw = _RawExemplar(int(e.kind), int(e.nr), int(e.err), int(e.fd), int(e.gen), path, exemplar)
        if raw.kind == FILE_IO:
            self.descriptors.remember(raw.fd, raw.generation)
        return raw

    def _on_bio(self, cpu: int, data: Any, size: int) -> None:
        r = self._bpf["bio_records"].event(data)
        if len(self._records) >= MAX_BLOCK_RECORDS:
            self._records_dropped += 1
            return
        rwbs = bytes(r.rwbs).split(b"\0", 1)[0].decode(errors="replace")
        self._records.append(
            BlockRecord(
                dev=f"{int(r.dev) >> 20}:{int(r.dev) & 0xFFFFF}",
                sector=int(r.sector),
                bytes=int(r.bytes),
                rwbs=rwbs,
                queue_us=int(r.queue_ns) / 1000,
                service_us=int(r.service_ns) / 1000,
                tid=int(r.tid),
                at_s=max(int(r.done_ns) - self._started_ns, 0) / 1e9,
            )
        )

    def _on_bio_lost(self, count: int) -> None:
        self._records_dropped += int(count)

    def _on_descriptor(self, cpu: int, data: Any, size: int) -> None:
        e = self._bpf["fd_events"].event(data)
        path = _raw_field(e, "path", MAX_PATH).split(b"\0", 1)[0].decode(errors="replace")
        self.descriptors.on_change(
            int(e.kind),
            int(e.fd),
            int(e.gen),
            path or self.names.name(int(e.nr)),
            int(e.dirfd),
            (int(e.from_fd), int(e.from_gen)),
        )

    def _on_descriptors_lost(self, count: int) -> None:
        self.descriptor_changes_lost += int(count)

    # -- a run -----------------------------------------------------------------------------------

    def start(self, tgid: int, slow_ms: float, exemplars: bool = True) -> None:
        self._reset()
        self._pid = tgid
        self._started_ns = _monotonic_ns()
        self._bpf["slow_ns"][ctypes.c_int(0)] = ctypes.c_uint64(int(slow_ms * 1e6))
        self._bpf["exemplars_enabled"][ctypes.c_int(0)] = ctypes.c_uint32(1 if exemplars else 0)
        # Generations given so far belong to earlier traces: from here on they mean nothing.
        serial = self._bpf["fd_serial"]
        serial[ctypes.c_int(1)] = ctypes.c_uint64(int(serial[ctypes.c_int(0)].value))
        self.descriptor_changes_lost = 0
        self.descriptors.begin(tgid)
        # Attached with the gate still shut: recording begins when it opens.
        self.gate.attach()
        self._tracepoints.attach()
        self.gate.open(tgid)

    def events_so_far(self) -> int:
        return stat(self._bpf, STAT_EVENTS)

    def poll(self, timeout_s: float) -> None:
        self._bpf.perf_buffer_poll(timeout=max(int(timeout_s * 1000), 0))

    def tick(self) -> None:
        """Name descriptors no event named while the process still has them (unfollowed calls)."""
        for key, _ in self._bpf["io_stats"].items():
            self.descriptors.remember(int(key.fd), int(key.gen))

    def stop(self) -> None:
        """End the trace: the gate shut, then every tracepoint detached (the maps stay readable).
        Safe to call after a start that failed part way, or with nothing attached."""
        self.gate.close()
        try:
            self._tracepoints.detach()
        finally:
            self.gate.detach()

    def collect(self) -> CollectedSyscalls:
        self.poll(0)
        counts: dict[int, SyscallCount] = {}
        ok_counts = self._bpf["ok_counts"]
        for nr in range(512):
            total = sum(int(v) for v in ok_counts[ctypes.c_int(nr)])
            if total:
                counts[nr] = SyscallCount(nr, self.names.name(nr), total, {})
        for key, value in self._bpf["syscall_counts"].items():
            nr, err, n = int(key.nr), int(key.err), int(value.value)
            entry = counts.get(nr) or SyscallCount(nr, self.names.name(nr), 0, {})
            errors = dict(entry.errors)
            if err:
                errors[errno_name(err)] = errors.get(errno_name(err), 0) + n
            counts[nr] = SyscallCount(nr, entry.name, entry.count + n, errors)

        exemplars: list[SyscallExemplar] = []
        failure_exemplars: dict[tuple[int, int, bytes], list[int]] = {}
        io_exemplars: dict[tuple[int, int, int], list[int]] = {}
        for raw in self._exemplars.records:
            index = len(exemplars)
            exemplars.append(raw.exemplar)
            if raw.kind in (PATH_ARG, SOCKADDR_ARG):
                failure_exemplars.setdefault((raw.nr, -raw.err, raw.path), []).append(index)
            else:
                io_exemplars.setdefault((raw.nr, raw.fd, raw.generation), []).append(index)

        failures = []
        for key, value in self._bpf["failures"].items():
            nr, err = int(key.nr), int(key.err)
            raw_path = _raw_field(key, "path", MAX_PATH)
            if SYSCALL_KINDS.get(nr, 0) & 0xF0 == SOCKADDR_ARG:
                path = decode_sockaddr(raw_path)
            else:
                path = raw_path.split(b"\0", 1)[0].decode(errors="replace") or None
            failures.append(
                SyscallFailure(
                    nr,
                    self.names.name(nr),
                    errno_name(err),
                    path,
                    int(value.count),
                    failure_exemplars.get((nr, err, raw_path), []),
                )
            )

        io = []
        for key, value in self._bpf["io_stats"].items():
            nr, fd, generation = int(key.nr), int(key.fd), int(key.gen)
            io.append(
                FileIo(
                    nr=nr,
                    name=self.names.name(nr),
                    fd=fd,
                    path=self.descriptors.name(fd, generation),
                    count=int(value.count),
                    bytes=int(value.bytes),
                    total_ns=int(value.total_ns),
                    max_ns=int(value.max_ns),
                    latency=histogram("latency", "us", list(value.hist), scale=1000.0),
                    exemplars=io_exemplars.get((nr, fd, generation), []),
                )
            )

        sleeps = [
            histogram(f"{self.names.name(int(key.value))} requested", "us", list(value.hist), scale=1000.0)
            for key, value in self._bpf["sleep_hists"].items()
        ]
        block_counts = list(self._bpf["block_hist"][ctypes.c_int(0)].hist)
        block = BlockIo(
            count=sum(int(c) for c in block_counts),
            bytes=sum(r.bytes for r in self._records),
            latency=histogram("block I/O service latency", "us", block_counts, scale=1000.0),
            records=list(self._records),
            records_dropped=self._records_dropped,
        )
        counters = SyscallsCounters(
            events=stat(self._bpf, STAT_EVENTS),
            lost=stat(self._bpf, STAT_FAILURES_FULL)
            + stat(self._bpf, STAT_IO_FULL)
            + stat(self._bpf, STAT_COUNTS_FULL),
            inflight_full=stat(self._bpf, STAT_INFLIGHT_FULL),
            block_unmatched=stat(self._bpf, STAT_BIO_FULL),
            exemplars_lost=self._exemplars.lost,
            descriptor_changes_lost=self.descriptor_changes_lost,
        )
        result = CollectedSyscalls(
            counts=sorted(counts.values(), key=lambda c: -c.count),
            failures=sorted(failures, key=lambda f: -f.count),
            io=sorted(io, key=lambda i: -i.max_ns),
            sleeps=sleeps,
            block=block,
            exemplars=exemplars,
            counters=counters,
        )
        self._reset()
        return result

    def _forget(self) -> None:
        self._records = []
        self._records_dropped = 0


def _raw_field(struct_value: Any, name: str, size: int) -> bytes:
    """A char-array field's exact bytes (ctypes would cut them at the first NUL)."""
    offset = getattr(type(struct_value), name).offset
    return ctypes.string_at(ctypes.addressof(struct_value) + offset, size)


def _monotonic_ns() -> int:
    import time

    return time.monotonic_ns()
