/* Block I/O, as biotop and biolatency see it, from the block tracepoints (the kprobes those bcc
 * tools use are refused on this kernel): each request's issue and completion are paired by
 * (device, sector), and in the kernel each completed request adds to its device's latency
 * histogram (powers of two of microseconds, as biolatency -D) and to the totals of the process
 * that issued it (I/Os, bytes, latency; reads, writes and flushes apart, as biotop).
 *
 * The tracepoints give no request pointer (biolatency keys by it, from BTF-typed tracepoints),
 * and (device, sector) is not unique: concurrent flushes all carry sector 0. A request issued
 * under a key already in flight is counted on that entry (``pending``), so every request is
 * counted; its latency is then measured from the first one's issue.
 *
 * Compiled for each request, with -D settings that are numbers only:
 *   SYSTEM_WIDE   1: requests issued by every task (root callers only); 0: by the gate's target
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
    u32 pending;  /* requests in flight under this key: flushes all have sector 0 */
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
};

BPF_HASH(issued, struct request_key_t, struct issued_t, 10240);
BPF_HASH(processes, struct process_key_t, struct process_value_t, 4096);
BPF_HASH(latency, struct latency_key_t, u64, 2048);
BPF_PERCPU_ARRAY(stats, u64, DK_STAT_COUNT);

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
    request.pending = 1;
    struct issued_t *in_flight = issued.lookup(&key);
    if (in_flight) {
        __sync_fetch_and_add(&in_flight->pending, 1);
        return 0;
    }
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
    u64 took = bpf_ktime_get_ns() - request->time_ns;
    struct latency_key_t bucket = {.dev = key.dev, .bucket = lp_log2_bucket(took / 1000)};
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
    /* Not atomic (this BPF target cannot use an atomic add's result): two completions of one
     * key at the same moment on two CPUs are rare enough, and cost one entry's latency. */
    if (request->pending > 1)
        request->pending -= 1;
    else
        issued.delete(&key);
    return 0;
}
