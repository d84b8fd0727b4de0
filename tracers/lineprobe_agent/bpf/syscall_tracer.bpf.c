/* System calls of one process from raw_syscalls:sys_enter/sys_exit and the block: tracepoints
 * (syscall_tracer.py attaches them for each request and detaches them after it).
 *
 * Exact counts: successes in a per-CPU array by number, failures by (number, errno); failed
 * path-taking calls with their path; file I/O latency histograms per (call, fd, generation);
 * sleep-argument histograms; block I/O matched from queue to completion; exemplars for a
 * bounded number of calls per aggregate. Arguments come from the syscall's pt_regs (the user
 * register frame, stable across kernels), never from kernel structs. */
#include "lineprobe.h"

/* Exemplars always sent for the first occurrences of each aggregate... */
#define EXEMPLARS_FIRST 4
/* ...and then for one occurrence in this many, so that many call sites still show. */
#define EXEMPLAR_EVERY 1024
/* Descriptor numbers whose generations are followed; higher numbers keep generation 0. */
#define MAX_FDS 65536
#define F_DUPFD 0
#define F_DUPFD_CLOEXEC 1030

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
    u32 kind; u32 pad;
    char path[MAX_PATH];
    LP_EXEMPLAR_STACK;
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
BPF_PERCPU_ARRAY(stats, u64, SYS_STAT_COUNT);
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

/* raw_syscalls:sys_enter (a raw tracepoint: args[0] the user pt_regs, args[1] the number) */
int on_sys_enter(struct bpf_raw_tracepoint_args *ctx)
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
            u32 b = lp_bucket_of(ts[0] * 1000000000ULL + ts[1]);
            if (h && b < HIST_BUCKETS)
                __sync_fetch_and_add(&h->hist[b], 1);
        }
        return 0;
    }
    u32 tid = (u32)bpf_get_current_pid_tgid();
    if (inflight.update(&tid, &entry) != 0)
        bump(SYS_STAT_INFLIGHT_FULL);
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

/* raw_syscalls:sys_exit (args[0] the user pt_regs, args[1] the return value) */
int on_sys_exit(struct bpf_raw_tracepoint_args *ctx)
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
        bump(SYS_STAT_EVENTS);
        u64 *ok = ok_counts.lookup(&ckey.nr);
        if (ok)
            (*ok)++;
        else
            bump(SYS_STAT_COUNTS_FULL);
    } else {
        bump(SYS_STAT_EVENTS);
        u64 one = 0;
        u64 *count = syscall_counts.lookup_or_try_init(&ckey, &one);
        if (count)
            __sync_fetch_and_add(count, 1);
        else
            bump(SYS_STAT_COUNTS_FULL);
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
            bump(SYS_STAT_FAILURES_FULL);
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
                bump(SYS_STAT_IO_FULL);
                return 0;
            }
        }
        u64 seen = __sync_fetch_and_add(&val->count, 1);
        if (ret > 0)
            __sync_fetch_and_add(&val->bytes, (u64)ret);
        __sync_fetch_and_add(&val->total_ns, latency);
        if (latency > val->max_ns)
            val->max_ns = latency;
        u32 b = lp_bucket_of(latency);
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
int on_block_bio_queue(struct tracepoint__block__block_bio_queue *args)
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
        bump(SYS_STAT_BIO_FULL);
    return 0;
}

int on_block_rq_issue(struct tracepoint__block__block_rq_issue *args)
{
    struct bio_key_t key = {};
    key.dev = args->dev;
    key.sector = args->sector;
    struct bio_start_t *start = bio_inflight.lookup(&key);
    if (start && start->issued_ns == 0)
        start->issued_ns = bpf_ktime_get_ns();
    return 0;
}

int on_block_rq_complete(struct tracepoint__block__block_rq_complete *args)
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
    u32 b = lp_bucket_of(record.service_ns);
    if (h && b < HIST_BUCKETS)
        __sync_fetch_and_add(&h->hist[b], 1);
    bio_inflight.delete(&key);
    bio_records.perf_submit(args, &record, sizeof(record));
    return 0;
}
