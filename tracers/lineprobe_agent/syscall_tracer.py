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

from lineprobe_agent.bpf_snippets import COPY_USER_STACK
from lineprobe_agent.bpf_tables import empty, stat
from lineprobe_agent.descriptors import (
    AT_FDCWD,
    FD_ACCEPTED,
    FD_CLOSED,
    FD_CREATED,
    FD_DUPED,
    FD_OPENED,
    FD_SOCKET,
    DescriptorTable,
)
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
from lineprobe_agent.target_gate import TARGET_GATE_C, TargetGate, gate_cflags

STACK_COPY_BYTES = 8192
MAX_PATH = 256
HIST_BUCKETS = 256
EXEMPLARS_FIRST = 4
"""Exemplars always sent for the first occurrences of each aggregate..."""
EXEMPLAR_EVERY = 1024
"""...and then for one occurrence in this many, so that many call sites still show."""
MAX_BLOCK_RECORDS = 2000

# Argument classes (high nibble of the per-syscall kind byte); the low bits hold the argument index.
PATH_ARG = 0x10
SOCKADDR_ARG = 0x20
FILE_IO = 0x30
SLEEP_ARG = 0x40
FD_OP = 0x50
"""Calls that change what a descriptor number names; the low nibble says how (FDOP_*)."""
OPENS_FD = 0x08
"""A path-taking call that returns a new descriptor (open, openat, creat, openat2)."""
FDOP_CLOSE = 1
FDOP_DUP = 2
FDOP_FCNTL = 3
FDOP_SOCKET = 4
FDOP_ACCEPT = 5
FDOP_PIPE = 6
"""pipe, pipe2: two new descriptors written to the array at the first argument."""
FDOP_SOCKETPAIR = 7
"""socketpair: two new descriptors written to the array at the fourth argument."""
FDOP_CREATE = 8
"""Calls that return a new descriptor of their own kind (eventfd, epoll, memfd, timerfd...)."""
MAX_FDS = 65536
"""Descriptor numbers whose generations are followed; higher numbers keep generation 0."""

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

# Stats array indices; keep in sync with the C below.
STAT_EVENTS = 0
STAT_INFLIGHT_FULL = 1
STAT_FAILURES_FULL = 2
STAT_IO_FULL = 3
STAT_BIO_FULL = 4
STAT_COUNTS_FULL = 5
STAT_COUNT = 6

BPF_PROGRAM = (
    COPY_USER_STACK
    + r"""
#include <uapi/linux/ptrace.h>
"""
    + TARGET_GATE_C
    + r"""

struct count_key_t { u32 nr; u32 err; };
struct inflight_t { u64 start_ns; u64 arg; u64 arg2; u32 nr; u32 kind; };
struct failure_key_t { u32 nr; u32 err; char path[MAX_PATH]; };
struct failure_val_t { u64 count; u64 exemplars; };
struct io_key_t { u32 nr; s32 fd; u64 gen; };
struct io_val_t {
    u64 count; u64 bytes; u64 total_ns; u64 max_ns; u64 exemplars;
    u64 hist[HIST_BUCKETS];
};
struct hist_t { u64 hist[HIST_BUCKETS]; };
struct exemplar_t {
    u32 tid; u32 nr; s32 err; s32 fd; u64 latency_ns; u64 ret; u64 gen;
    u64 ip; u64 sp; u64 bp; u32 size; u32 kind;
    char path[MAX_PATH];
    u8 data[STACK_COPY_BYTES];
};
/* A descriptor number given a new generation: what it names now, as far as the call says. */
struct fd_event_t {
    u32 kind; s32 fd; u64 gen; s64 dirfd; s32 from_fd; u32 nr; u64 from_gen;
    char path[MAX_PATH];
};
struct bio_key_t { u32 dev; u32 pad; u64 sector; };
struct bio_start_t { u64 queued_ns; u64 issued_ns; u32 tid; u32 bytes; char rwbs[8]; };
struct bio_record_t {
    u32 dev; u32 tid; u64 sector; u32 bytes; u32 pad;
    u64 queue_ns; u64 service_ns; u64 done_ns; char rwbs[8];
};

BPF_ARRAY(slow_ns, u64, 1);
BPF_ARRAY(exemplars_enabled, u32, 1);
BPF_ARRAY(syscall_kind, u8, 512);
BPF_PERCPU_ARRAY(stats, u64, STAT_COUNT);
BPF_PERCPU_ARRAY(ok_counts, u64, 512);     /* successful calls by number: no hashing */
BPF_HASH(syscall_counts, struct count_key_t, u64, 8192);  /* failed calls by (number, errno) */
BPF_HASH(inflight, u32, struct inflight_t, 16384);
BPF_HASH(failures, struct failure_key_t, struct failure_val_t, 2048);
BPF_HASH(io_stats, struct io_key_t, struct io_val_t, 1024);
BPF_HASH(sleep_hists, u32, struct hist_t, 8);
BPF_ARRAY(block_hist, struct hist_t, 1);
BPF_HASH(bio_inflight, struct bio_key_t, struct bio_start_t, 8192);
BPF_PERCPU_ARRAY(failure_scratch, struct failure_key_t, 1);
BPF_ARRAY(io_zero, struct io_val_t, 1);     /* never written: initial values */
BPF_ARRAY(hist_zero, struct hist_t, 1);
BPF_PERCPU_ARRAY(exemplar_scratch, struct exemplar_t, 1);
BPF_PERF_OUTPUT(exemplars);
BPF_PERF_OUTPUT(bio_records);
BPF_ARRAY(fd_gen, u64, MAX_FDS);    /* generation per descriptor number (0: as tracing began) */
BPF_ARRAY(fd_serial, u64, 2);       /* [0]: the last generation given, [1]: the last of an older trace */
BPF_PERCPU_ARRAY(fd_event_scratch, struct fd_event_t, 1);
BPF_PERF_OUTPUT(fd_events);

static __always_inline void bump(u32 index)
{
    u64 *value = stats.lookup(&index);
    if (value)
        (*value)++;
}

static __always_inline u64 fd_gen_of(s32 fd)
{
    if (fd < 0 || fd >= MAX_FDS)
        return 0;
    u32 index = fd, one = 1;
    u64 *gen = fd_gen.lookup(&index);
    u64 *older = fd_serial.lookup(&one);
    /* A generation given in an earlier trace (another process) means nothing now. */
    return gen && older && *gen > *older ? *gen : 0;
}

static __always_inline void fd_changed(void *ctx, u32 kind, s32 fd, s64 dirfd, s32 from_fd, u64 path, u32 nr)
{
    u32 zero = 0;
    struct fd_event_t *e = fd_event_scratch.lookup(&zero);
    u64 *serial = fd_serial.lookup(&zero);
    if (!e || !serial)
        return;
    e->from_gen = from_fd >= 0 ? fd_gen_of(from_fd) : 0;  /* before fd changes: dup2(3, 3) */
    e->gen = __sync_fetch_and_add(serial, 1) + 1;
    if (fd >= 0 && fd < MAX_FDS) {
        u32 index = fd;
        u64 *slot = fd_gen.lookup(&index);
        if (slot)
            *slot = e->gen;
    }
    e->kind = kind;
    e->fd = fd;
    e->dirfd = dirfd;
    e->from_fd = from_fd;
    e->nr = nr;
    e->path[0] = 0;
    if (path)
        bpf_probe_read_user_str(e->path, sizeof(e->path), (void *)path);
    fd_events.perf_submit(ctx, e, sizeof(*e));
}

static __always_inline u32 log2_u64(u64 v)
{
    u32 r = 0;
    if (v >> 32) { v >>= 32; r += 32; }
    if (v >> 16) { v >>= 16; r += 16; }
    if (v >> 8) { v >>= 8; r += 8; }
    if (v >> 4) { v >>= 4; r += 4; }
    if (v >> 2) { v >>= 2; r += 2; }
    if (v >> 1) { r += 1; }
    return r;
}

/* Log-linear buckets: four per power of two (values below 4 get their own). */
static __always_inline u32 bucket_of(u64 v)
{
    if (v < 4)
        return (u32)v;
    u32 l = log2_u64(v);
    u32 b = l * 4 + (u32)((v >> (l - 2)) & 3);
    return b < HIST_BUCKETS ? b : HIST_BUCKETS - 1;
}

static __always_inline u64 syscall_arg(struct pt_regs *regs, u32 index)
{
    u64 value = 0;
    switch (index) {
    case 0: bpf_probe_read_kernel(&value, sizeof(value), &regs->di); break;
    case 1: bpf_probe_read_kernel(&value, sizeof(value), &regs->si); break;
    case 2: bpf_probe_read_kernel(&value, sizeof(value), &regs->dx); break;
    case 3: bpf_probe_read_kernel(&value, sizeof(value), &regs->r10); break;
    case 4: bpf_probe_read_kernel(&value, sizeof(value), &regs->r8); break;
    default: bpf_probe_read_kernel(&value, sizeof(value), &regs->r9); break;
    }
    return value;
}

/* Before a launched command's exec (gate state 2) only what changes descriptors is followed,
 * so that the command starts with its descriptors named (the gate's `</dev/null`). */
static __always_inline int follows_descriptors(u32 k)
{
    return (k & 0xf0) == FD_OP || ((k & 0xf0) == PATH_ARG && (k & OPENS_FD));
}

RAW_TRACEPOINT_PROBE(sys_enter)
{
    int state = lp_gate_state();
    if (!state)
        return 0;
    u32 nr = (u32)ctx->args[1];
    u8 *kind = syscall_kind.lookup(&nr);
    if (!kind || !*kind)
        return 0;
    struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
    u32 k = *kind;
    if (state != 1 && !follows_descriptors(k))
        return 0;
    struct inflight_t entry = {};
    entry.start_ns = bpf_ktime_get_ns();
    entry.nr = nr;
    entry.kind = k;
    if ((k & 0xf0) == FD_OP) {
        entry.arg = syscall_arg(regs, 0);
        entry.arg2 = syscall_arg(regs, (k & 0x0f) == FDOP_SOCKETPAIR ? 3 : 1);
    } else {
        entry.arg = syscall_arg(regs, k & 0x7);
        /* openat and openat2 resolve a relative path against their first argument */
        entry.arg2 = (k & 0x7) == 1 ? syscall_arg(regs, 0) : (u64)(s64)AT_FDCWD;
    }
    if ((k & 0xf0) == SLEEP_ARG) {
        u64 ts[2] = {};
        u32 zero = 0;
        struct hist_t *zero_hist = hist_zero.lookup(&zero);
        if (zero_hist && bpf_probe_read_user(ts, sizeof(ts), (void *)entry.arg) == 0) {
            struct hist_t *h = sleep_hists.lookup_or_try_init(&nr, zero_hist);
            u32 b = bucket_of(ts[0] * 1000000000ULL + ts[1]);
            if (h && b < HIST_BUCKETS)
                __sync_fetch_and_add(&h->hist[b], 1);
        }
        return 0;
    }
    u32 tid = (u32)bpf_get_current_pid_tgid();
    if (inflight.update(&tid, &entry) != 0)
        bump(STAT_INFLIGHT_FULL);
    return 0;
}

static __always_inline void send_exemplar(struct bpf_raw_tracepoint_args *ctx, struct pt_regs *regs,
                                          u32 nr, s32 err, s32 fd, u64 gen, u64 latency, long ret,
                                          u32 kind, struct failure_key_t *fkey)
{
    u32 zero = 0;
    u32 *enabled = exemplars_enabled.lookup(&zero);
    if (!enabled || !*enabled)
        return;
    struct exemplar_t *e = exemplar_scratch.lookup(&zero);
    if (!e)
        return;
    e->tid = (u32)bpf_get_current_pid_tgid();
    e->nr = nr;
    e->err = err;
    e->fd = fd;
    e->gen = gen;
    e->latency_ns = latency;
    e->ret = (u64)ret;
    e->kind = kind;
    bpf_probe_read_kernel(&e->ip, sizeof(e->ip), &regs->ip);
    bpf_probe_read_kernel(&e->sp, sizeof(e->sp), &regs->sp);
    bpf_probe_read_kernel(&e->bp, sizeof(e->bp), &regs->bp);
    if (fkey)
        bpf_probe_read_kernel(e->path, sizeof(e->path), fkey->path);
    else
        e->path[0] = 0;
    COPY_USER_STACK(e, e->sp);
    exemplars.perf_submit(ctx, e, sizeof(*e));
}

RAW_TRACEPOINT_PROBE(sys_exit)
{
    int state = lp_gate_state();
    if (!state)
        return 0;
    struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
    long ret = (long)ctx->args[1];
    u64 orig_ax = 0;
    bpf_probe_read_kernel(&orig_ax, sizeof(orig_ax), &regs->orig_ax);
    struct count_key_t ckey = {};
    ckey.nr = (u32)orig_ax;
    ckey.err = (ret < 0 && ret > -4096) ? (u32)(-ret) : 0;
    if (state != 1) {
        /* before the command: no counts */
    } else if (ckey.err == 0) {
        bump(STAT_EVENTS);
        u64 *ok = ok_counts.lookup(&ckey.nr);
        if (ok)
            (*ok)++;
        else
            bump(STAT_COUNTS_FULL);
    } else {
        bump(STAT_EVENTS);
        u64 one = 0;
        u64 *count = syscall_counts.lookup_or_try_init(&ckey, &one);
        if (count)
            __sync_fetch_and_add(count, 1);
        else
            bump(STAT_COUNTS_FULL);
    }
    /* Only the calls sys_enter recorded have an in-flight entry. */
    u8 *kind = syscall_kind.lookup(&ckey.nr);
    if (!kind || !*kind || (*kind & 0xf0) == SLEEP_ARG)
        return 0;

    u32 tid = (u32)bpf_get_current_pid_tgid();
    struct inflight_t *entry = inflight.lookup(&tid);
    if (!entry)
        return 0;
    struct inflight_t f = *entry;
    inflight.delete(&tid);
    if (f.nr != ckey.nr)
        return 0;  /* a stale entry (the enter was missed): ignore it */
    u64 latency = bpf_ktime_get_ns() - f.start_ns;
    u32 cls = f.kind & 0xf0;
    u32 zero = 0;

    if (ckey.err == 0 && cls == PATH_ARG && (f.kind & OPENS_FD))
        fd_changed(ctx, FD_OPENED, (s32)ret, (s64)f.arg2, -1, f.arg, ckey.nr);
    if (cls == FD_OP) {
        u32 op = f.kind & 0x0f;
        if (ckey.err != 0)
            return 0;
        if (op == FDOP_CLOSE) {
            fd_changed(ctx, FD_CLOSED, (s32)f.arg, 0, -1, 0, ckey.nr);
        } else if (op == FDOP_DUP || (op == FDOP_FCNTL && (f.arg2 == F_DUPFD || f.arg2 == F_DUPFD_CLOEXEC))) {
            fd_changed(ctx, FD_DUPED, (s32)ret, 0, (s32)f.arg, 0, ckey.nr);
        } else if (op == FDOP_SOCKET || op == FDOP_ACCEPT) {
            fd_changed(ctx, op == FDOP_SOCKET ? FD_SOCKET : FD_ACCEPTED, (s32)ret, 0, -1, 0, ckey.nr);
        } else if (op == FDOP_PIPE || op == FDOP_SOCKETPAIR) {
            s32 pair[2] = {-1, -1};
            bpf_probe_read_user(pair, sizeof(pair), (void *)(op == FDOP_PIPE ? f.arg : f.arg2));
            u32 made = op == FDOP_PIPE ? FD_CREATED : FD_SOCKET;
            fd_changed(ctx, made, pair[0], 0, -1, 0, ckey.nr);
            fd_changed(ctx, made, pair[1], 0, -1, 0, ckey.nr);
        } else if (op == FDOP_CREATE) {
            fd_changed(ctx, FD_CREATED, (s32)ret, 0, -1, 0, ckey.nr);
        }
        return 0;
    }
    if (state != 1)
        return 0;

    if (cls == PATH_ARG || cls == SOCKADDR_ARG) {
        if (ckey.err == 0)
            return 0;
        struct failure_key_t *key = failure_scratch.lookup(&zero);
        if (!key)
            return 0;
        #pragma unroll
        for (int i = 0; i < MAX_PATH / 8; i++)
            ((u64 *)key->path)[i] = 0;
        key->nr = ckey.nr;
        key->err = ckey.err;
        if (cls == PATH_ARG)
            bpf_probe_read_user_str(key->path, sizeof(key->path), (void *)f.arg);
        else
            bpf_probe_read_user(key->path, 128, (void *)f.arg);
        struct failure_val_t zero_val = {};
        struct failure_val_t *val = failures.lookup_or_try_init(key, &zero_val);
        if (!val) {
            bump(STAT_FAILURES_FULL);
            return 0;
        }
        u64 seen = __sync_fetch_and_add(&val->count, 1);
        if (val->exemplars < EXEMPLARS_FIRST || (seen % EXEMPLAR_EVERY) == 0) {
            val->exemplars++;
            send_exemplar(ctx, regs, ckey.nr, -(s32)ckey.err, -1, 0, latency, ret, cls, key);
        }
        return 0;
    }

    if (cls == FILE_IO) {
        struct io_key_t key = {};
        key.nr = ckey.nr;
        key.fd = (s32)f.arg;
        key.gen = fd_gen_of(key.fd);
        struct io_val_t *val = io_stats.lookup(&key);
        if (!val) {
            /* Values are larger than the BPF stack: initialise from an all-zero map entry. */
            struct io_val_t *zero_io = io_zero.lookup(&zero);
            if (!zero_io)
                return 0;
            val = io_stats.lookup_or_try_init(&key, zero_io);
            if (!val) {
                bump(STAT_IO_FULL);
                return 0;
            }
        }
        u64 seen = __sync_fetch_and_add(&val->count, 1);
        if (ret > 0)
            __sync_fetch_and_add(&val->bytes, (u64)ret);
        __sync_fetch_and_add(&val->total_ns, latency);
        if (latency > val->max_ns)
            val->max_ns = latency;
        u32 b = bucket_of(latency);
        if (b < HIST_BUCKETS)
            __sync_fetch_and_add(&val->hist[b], 1);
        u64 *threshold = slow_ns.lookup(&zero);
        int slow = threshold && latency >= *threshold;
        if (val->exemplars < EXEMPLARS_FIRST || (slow && (val->exemplars < 64 || (seen % 256) == 0))) {
            val->exemplars++;
            s32 err = (s32)(ret < 0 ? ret : 0);
            send_exemplar(ctx, regs, ckey.nr, err, key.fd, key.gen, latency, ret, cls, 0);
        }
    }
    return 0;
}

/* Block I/O: a bio queued by the target (in its own context) is followed to
 * the request that completes it, matched by (device, first sector). */
TRACEPOINT_PROBE(block, block_bio_queue)
{
    if (!lp_is_target())
        return 0;
    struct bio_key_t key = {};
    key.dev = args->dev;
    key.sector = args->sector;
    struct bio_start_t start = {};
    start.queued_ns = bpf_ktime_get_ns();
    start.tid = (u32)bpf_get_current_pid_tgid();
    start.bytes = args->nr_sector * 512;
    bpf_probe_read_kernel(start.rwbs, sizeof(start.rwbs), args->rwbs);
    if (bio_inflight.update(&key, &start) != 0)
        bump(STAT_BIO_FULL);
    return 0;
}

TRACEPOINT_PROBE(block, block_rq_issue)
{
    struct bio_key_t key = {};
    key.dev = args->dev;
    key.sector = args->sector;
    struct bio_start_t *start = bio_inflight.lookup(&key);
    if (start && start->issued_ns == 0)
        start->issued_ns = bpf_ktime_get_ns();
    return 0;
}

TRACEPOINT_PROBE(block, block_rq_complete)
{
    struct bio_key_t key = {};
    key.dev = args->dev;
    key.sector = args->sector;
    struct bio_start_t *start = bio_inflight.lookup(&key);
    if (!start)
        return 0;
    u64 now = bpf_ktime_get_ns();
    u64 issued = start->issued_ns ? start->issued_ns : start->queued_ns;
    struct bio_record_t record = {};
    record.dev = key.dev;
    record.sector = key.sector;
    record.tid = start->tid;
    record.bytes = args->nr_sector ? args->nr_sector * 512 : start->bytes;
    record.queue_ns = issued - start->queued_ns;
    record.service_ns = now - issued;
    record.done_ns = now;
    __builtin_memcpy(record.rwbs, start->rwbs, sizeof(record.rwbs));
    u32 zero = 0;
    struct hist_t *h = block_hist.lookup(&zero);
    u32 b = bucket_of(record.service_ns);
    if (h && b < HIST_BUCKETS)
        __sync_fetch_and_add(&h->hist[b], 1);
    bio_inflight.delete(&key);
    bio_records.perf_submit(args, &record, sizeof(record));
    return 0;
}
"""
)


def program_cflags() -> list[str]:
    return [
        f"-DSTACK_COPY_BYTES={STACK_COPY_BYTES}",
        f"-DMAX_PATH={MAX_PATH}",
        f"-DHIST_BUCKETS={HIST_BUCKETS}",
        f"-DEXEMPLARS_FIRST={EXEMPLARS_FIRST}",
        f"-DEXEMPLAR_EVERY={EXEMPLAR_EVERY}",
        f"-DPATH_ARG={PATH_ARG}",
        f"-DSOCKADDR_ARG={SOCKADDR_ARG}",
        f"-DFILE_IO={FILE_IO}",
        f"-DSLEEP_ARG={SLEEP_ARG}",
        f"-DFD_OP={FD_OP}",
        f"-DOPENS_FD={OPENS_FD}",
        f"-DFDOP_CLOSE={FDOP_CLOSE}",
        f"-DFDOP_DUP={FDOP_DUP}",
        f"-DFDOP_FCNTL={FDOP_FCNTL}",
        f"-DFDOP_SOCKET={FDOP_SOCKET}",
        f"-DFDOP_ACCEPT={FDOP_ACCEPT}",
        f"-DFDOP_PIPE={FDOP_PIPE}",
        f"-DFDOP_SOCKETPAIR={FDOP_SOCKETPAIR}",
        f"-DFDOP_CREATE={FDOP_CREATE}",
        f"-DFD_CREATED={FD_CREATED}",
        f"-DFD_OPENED={FD_OPENED}",
        f"-DFD_DUPED={FD_DUPED}",
        f"-DFD_SOCKET={FD_SOCKET}",
        f"-DFD_ACCEPTED={FD_ACCEPTED}",
        f"-DFD_CLOSED={FD_CLOSED}",
        f"-DAT_FDCWD={AT_FDCWD}",
        "-DF_DUPFD=0",
        "-DF_DUPFD_CLOEXEC=1030",
        f"-DMAX_FDS={MAX_FDS}",
        f"-DSTAT_EVENTS={STAT_EVENTS}",
        f"-DSTAT_INFLIGHT_FULL={STAT_INFLIGHT_FULL}",
        f"-DSTAT_FAILURES_FULL={STAT_FAILURES_FULL}",
        f"-DSTAT_IO_FULL={STAT_IO_FULL}",
        f"-DSTAT_BIO_FULL={STAT_BIO_FULL}",
        f"-DSTAT_COUNTS_FULL={STAT_COUNTS_FULL}",
        f"-DSTAT_COUNT={STAT_COUNT}",
        *gate_cflags(),
    ]


def bucket_bounds(index: int) -> tuple[int, int]:
    """[low, high) of a log-linear bucket, matching bucket_of() in the C above."""
    if index < 4:
        return index, index + 1
    power, sub = divmod(index, 4)
    if power < 2:
        return 4, 4  # unused indices 4..7
    return (4 + sub) << (power - 2), (5 + sub) << (power - 2)


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
class SyscallTracer:
    """One compiled program, reused for every trace this agent runs."""

    _bpf: Any = None
    _exemplars: list[_RawExemplar] = field(default_factory=list)
    _exemplars_lost: int = 0
    _records: list[BlockRecord] = field(default_factory=list)
    _records_dropped: int = 0
    descriptors: DescriptorTable = field(default_factory=DescriptorTable)
    names: SyscallNames = field(default_factory=SyscallNames.load)
    descriptor_changes_lost: int = 0
    _pid: int = 0
    _attached: bool = False
    _started_ns: int = 0

    def __post_init__(self) -> None:
        from bcc import BPF

        self._bpf = BPF(text=BPF_PROGRAM.encode(), cflags=program_cflags())
        kinds = self._bpf["syscall_kind"]
        for nr, kind in SYSCALL_KINDS.items():
            kinds[ctypes.c_int(nr)] = ctypes.c_uint8(kind)
        self._bpf["exemplars"].open_perf_buffer(
            self._on_exemplar, page_cnt=256, lost_cb=self._on_exemplars_lost
        )
        self._bpf["bio_records"].open_perf_buffer(self._on_bio, page_cnt=64, lost_cb=self._on_bio_lost)
        self._bpf["fd_events"].open_perf_buffer(
            self._on_descriptor, page_cnt=256, lost_cb=self._on_descriptors_lost
        )
        self.gate = TargetGate(self._bpf)

    # -- perf buffer callbacks (copy now: the event is a view into the ring) --------------

    def _on_exemplar(self, cpu: int, data: Any, size: int) -> None:
        e = self._bpf["exemplars"].event(data)
        length = min(int(e.size), STACK_COPY_BYTES)
        stack = ctypes.string_at(ctypes.addressof(e.data), length)
        path = _raw_field(e, "path", MAX_PATH)
        exemplar = SyscallExemplar(int(e.tid), int(e.ip), int(e.sp), int(e.bp), stack, int(e.latency_ns))
        raw = _RawExemplar(int(e.kind), int(e.nr), int(e.err), int(e.fd), int(e.gen), path, exemplar)
        self._exemplars.append(raw)
        if raw.kind == FILE_IO:
            self.descriptors.remember(raw.fd, raw.generation)

    def _on_exemplars_lost(self, count: int) -> None:
        self._exemplars_lost += int(count)

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
        self.gate.open(tgid)
        self._attached = True

    def events_so_far(self) -> int:
        return stat(self._bpf, STAT_EVENTS)

    def poll(self, timeout_s: float) -> None:
        self._bpf.perf_buffer_poll(timeout=max(int(timeout_s * 1000), 0))

    def tick(self) -> None:
        """Name descriptors no event named while the process still has them (unfollowed calls)."""
        for key, _ in self._bpf["io_stats"].items():
            self.descriptors.remember(int(key.fd), int(key.gen))

    def stop(self) -> None:
        # The tracepoints stay attached for the agent's life; clearing the
        # target makes the programs return at their first check.
        self.gate.close()
        self._attached = False

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
        for raw in self._exemplars:
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
            exemplars_lost=self._exemplars_lost,
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

    def close(self) -> None:
        self.stop()
        self._bpf.cleanup()

    def _reset(self) -> None:
        self._exemplars = []
        self._exemplars_lost = 0
        self._records = []
        self._records_dropped = 0
        tables = ("syscall_counts", "inflight", "failures", "io_stats", "sleep_hists", "bio_inflight")
        empty(self._bpf, (*tables, "block_hist", "ok_counts"))


def _raw_field(struct_value: Any, name: str, size: int) -> bytes:
    """A char-array field's exact bytes (ctypes would cut them at the first NUL)."""
    offset = getattr(type(struct_value), name).offset
    return ctypes.string_at(ctypes.addressof(struct_value) + offset, size)


def _monotonic_ns() -> int:
    import time

    return time.monotonic_ns()
