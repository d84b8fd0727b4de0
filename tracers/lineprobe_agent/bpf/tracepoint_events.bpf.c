/* Each hit of one kernel tracepoint, sent with its raw record (the fields the tracepoint's
 * format describes, dynamic strings included), in one process or (SYSTEM_WIDE) in every task,
 * under a rate limit; every hit not sent is counted. The server decodes the fields with the
 * format the agent read from tracefs: no field is named here.
 *
 * With COUNT set, nothing is sent: hits are counted in the kernel by one field's value (an
 * integer, or a char array up to TP_KEY_TEXT bytes), or by the power of two of an integer
 * field (HISTOGRAM), as argdist and bpftrace's count()/hist() do.
 *
 * Compiled for each request, with -D settings that are numbers only:
 *   SYSTEM_WIDE     1: every task (root callers only); 0: the gate's target
 *   FIXED_BYTES     the record's fixed part, from its format (the last field's end)
 *   RATE_LIMIT      hits sent a second, at most
 *   COUNT           1: count by FIELD_OFFSET/FIELD_SIZE instead of sending records
 *   FIELD_TEXT      1: the field is a char array (counted by its text); 0: an integer
 *   FIELD_SIGNED    1: the integer is signed (sign-extended into the key)
 *   HISTOGRAM       1: the integer is counted by its power of two
 */
#include "lineprobe.h"

struct record_t {
    u64 time_ns;    /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
    u32 tid;
    u32 cpu;
    u32 size;       /* bytes of data that are the record's */
    u32 pad;
    u8 data[TP_RECORD_BYTES];
};

/* Flat: bcc sizes its ctypes key from the struct. */
struct count_key_t {
    u64 number;
    char text[TP_KEY_TEXT];
};

BPF_HASH(counts, struct count_key_t, u64, 10240);
BPF_PERCPU_ARRAY(key_scratch, struct count_key_t, 1);
BPF_PERF_OUTPUT(records);
BPF_PERCPU_ARRAY(record_scratch, struct record_t, 1);
BPF_ARRAY(rate_window, u64, 2);  /* [0]: the second's start (ns), [1]: hits sent in it */
BPF_PERCPU_ARRAY(stats, u64, TP_STAT_COUNT);

static __always_inline void bump(u32 index)
{
    u64 *value = stats.lookup(&index);
    if (value)
        (*value)++;
}

/* At most RATE_LIMIT hits sent in each second (shared by the CPUs; a few may pass at the turn). */
static __always_inline int under_rate_limit(u64 now)
{
    u32 start_slot = 0, sent_slot = 1;
    u64 *start = rate_window.lookup(&start_slot);
    u64 *sent = rate_window.lookup(&sent_slot);
    if (!start || !sent)
        return 0;
    if (now - *start >= 1000000000ULL) {
        *start = now;
        *sent = 0;
    }
    return __sync_fetch_and_add(sent, 1) < RATE_LIMIT;
}


#if COUNT
static __always_inline int count_hit(void *ctx)
{
    u32 zero = 0;
    struct count_key_t *key = key_scratch.lookup(&zero);
    if (!key)
        return 0;
    __builtin_memset(key, 0, sizeof(*key));
#if FIELD_TEXT
    if (bpf_probe_read_kernel(key->text, FIELD_SIZE, (char *)ctx + FIELD_OFFSET) != 0) {
        bump(TP_STAT_UNREADABLE);
        return 0;
    }
#else
    u64 raw = 0;
    if (bpf_probe_read_kernel(&raw, FIELD_SIZE, (char *)ctx + FIELD_OFFSET) != 0) {
        bump(TP_STAT_UNREADABLE);
        return 0;
    }
#if FIELD_SIGNED
    /* Sign-extend from the field's width. */
    int shift = 64 - 8 * FIELD_SIZE;
    raw = (u64)(((s64)(raw << shift)) >> shift);
#endif
    key->number = HISTOGRAM ? lp_log2_bucket(raw) : raw;
#endif
    u64 none = 0;
    u64 *count = counts.lookup_or_try_init(key, &none);
    if (!count) {
        bump(TP_STAT_LOST);
        return 0;
    }
    __sync_fetch_and_add(count, 1);
    return 0;
}
#endif

int on_event(void *ctx)
{
    if (!SYSTEM_WIDE && !lp_is_target())
        return 0;
    bump(TP_STAT_EVENTS);
#if COUNT
    return count_hit(ctx);
#endif
    u64 now = bpf_ktime_get_ns();
    if (!under_rate_limit(now)) {
        bump(TP_STAT_LIMITED);
        return 0;
    }
    u32 zero = 0;
    struct record_t *record = record_scratch.lookup(&zero);
    if (!record)
        return 0;
    record->time_ns = now;
    record->tid = (u32)bpf_get_current_pid_tgid();
    record->cpu = bpf_get_smp_processor_id();
    /* The fixed part and what follows it (dynamic strings); where the record sits at the end of
     * the kernel's page, the longer read fails: the fixed part alone is read then. */
    record->size = TP_RECORD_BYTES;
    if (bpf_probe_read_kernel(record->data, TP_RECORD_BYTES, ctx) != 0) {
        record->size = FIXED_BYTES;
        if (bpf_probe_read_kernel(record->data, FIXED_BYTES, ctx) != 0) {
            bump(TP_STAT_UNREADABLE);
            return 0;
        }
    }
    if (records.perf_submit(ctx, record, sizeof(*record)) != 0)
        bump(TP_STAT_RING_FULL);
    return 0;
}
