/* Block I/O, as biotop and biolatency see it, from the block tracepoints (the kprobes those bcc
 * tools use are refused on this kernel): each request's issue and completion are paired by
 * (device, sector), and in the kernel each completed request adds to its device's latency
 * histogram (powers of two of microseconds, as biolatency -D) and to the totals of the process
 * that issued it (I/Os, bytes, latency; reads, writes and flushes apart, as biotop).
 *
 * The tracepoints give no request pointer (biolatency keys by it, from BTF-typed tracepoints),
 * so a request is known by (device, sector), and an issue replaces whatever was in flight under
 * its key. That is what keeps the count right: a synchronous write goes through the kernel's
 * flush sequence and block_rq_complete fires for it twice (a database rewriting its redo log's
 * block issues such writes to one sector thousands of times a second); only the first
 * completion finds the entry and counts, as only the first finds biolatency's. Two distinct
 * requests in flight under one key at once (two flushes: sector 0) count as one: measured a few
 * in tens of thousands under MariaDB's insert loop.
 *
 * Each completed request is also sent on its own (biosnoop's line), up to MAX_REQUESTS; with an
 * INTERVAL_NS, the latency histograms are kept per interval from the window's start (biolatency
 * with an interval), the start written by the loader into window_start.
 *
 * Compiled for each request, with -D settings that are numbers only:
 *   SYSTEM_WIDE   1: requests issued by every task (root callers only); 0: by the gate's target
 *   INTERVAL_NS   the histograms' interval; 0: one histogram for the window
 *   MAX_REQUESTS  requests sent one by one at most
 */
#include "lineprobe.h"

struct request_key_t {
    u32 dev;
    u32 pad;
    u64 sector;
};

struct issued_t {
    u64 time_ns;
    u32 tgid;
    u32 bytes;
    u32 op;       /* rwbs' first letter: R(ead), W(rite), F(lush), D(iscard), N(one) */
    u32 pad;
    char comm[16];
};

/* Flat: bcc sizes its ctypes key from the struct. */
struct process_key_t {
    u32 tgid;
    u32 dev;
    u32 op;
    u32 pad;
    char comm[16];
};

struct process_value_t {
    u64 ios;
    u64 bytes;
    u64 latency_ns;
};

struct latency_key_t {
    u32 dev;
    u32 bucket;
    u32 interval;
    u32 pad;
};

struct request_record_t {
    u64 time_ns;
    u64 latency_ns;
    u64 sector;
    u32 tgid;
    u32 dev;
    u32 bytes;
    u32 op;
    char comm[16];
};

BPF_HASH(issued, struct request_key_t, struct issued_t, 10240);
BPF_HASH(processes, struct process_key_t, struct process_value_t, 4096);
BPF_HASH(latency, struct latency_key_t, u64, 2048);
BPF_PERCPU_ARRAY(stats, u64, DK_STAT_COUNT);
BPF_ARRAY(window_start, u64, 1);
BPF_ARRAY(requests_sent, u64, 1);
BPF_PERF_OUTPUT(request_records);

static __always_inline void bump(u32 index)
{
    u64 *value = stats.lookup(&index);
    if (value)
        (*value)++;
}


int on_issue(struct tracepoint__block__block_rq_issue *args)
{
    if (!SYSTEM_WIDE && !lp_is_target())
        return 0;
    bump(DK_STAT_ISSUED);
    struct request_key_t key = {.dev = args->dev, .sector = args->sector};
    struct issued_t request = {.time_ns = bpf_ktime_get_ns(), .bytes = args->bytes};
    request.tgid = bpf_get_current_pid_tgid() >> 32;
    bpf_get_current_comm(request.comm, sizeof(request.comm));
    char op = 0;
    bpf_probe_read_kernel(&op, 1, args->rwbs);
    request.op = op;
    if (issued.update(&key, &request) != 0)
        bump(DK_STAT_LOST);
    return 0;
}

int on_complete(struct tracepoint__block__block_rq_complete *args)
{
    struct request_key_t key = {.dev = args->dev, .sector = args->sector};
    struct issued_t *request = issued.lookup(&key);
    if (!request)
        return 0;  /* issued before the window, or by a task not traced */
    bump(DK_STAT_COMPLETED);
    u64 now = bpf_ktime_get_ns();
    u64 took = now - request->time_ns;
    struct latency_key_t bucket = {.dev = key.dev, .bucket = lp_log2_bucket(took / 1000)};
    u32 first = 0;
    if (INTERVAL_NS > 0) {
        u64 *start = window_start.lookup(&first);
        if (start && *start && now > *start)
            bucket.interval = (now - *start) / INTERVAL_NS;
    }
    u64 none = 0;
    u64 *count = latency.lookup_or_try_init(&bucket, &none);
    if (count)
        __sync_fetch_and_add(count, 1);
    struct process_key_t who = {.tgid = request->tgid, .dev = key.dev, .op = request->op};
    __builtin_memcpy(who.comm, request->comm, sizeof(who.comm));
    struct process_value_t zero = {};
    struct process_value_t *totals = processes.lookup_or_try_init(&who, &zero);
    if (totals) {
        __sync_fetch_and_add(&totals->ios, 1);
        __sync_fetch_and_add(&totals->bytes, request->bytes);
        __sync_fetch_and_add(&totals->latency_ns, took);
    } else {
        bump(DK_STAT_LOST);
    }
    u64 *sent = requests_sent.lookup(&first);
    if (sent && __sync_fetch_and_add(sent, 1) < MAX_REQUESTS) {
        struct request_record_t record = {
            .time_ns = now, .latency_ns = took, .sector = key.sector, .tgid = request->tgid,
            .dev = key.dev, .bytes = request->bytes, .op = request->op};
        __builtin_memcpy(record.comm, request->comm, sizeof(record.comm));
        if (request_records.perf_submit(args, &record, sizeof(record)) != 0)
            bump(DK_STAT_NOT_SENT);
    } else {
        bump(DK_STAT_NOT_SENT);
    }
    issued.delete(&key);
    return 0;
}
