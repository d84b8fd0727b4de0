/* CPU sampling: one cpu-clock perf event per CPU runs on_cpu_sample (cpu_profiler.py).
 *
 * Samples of the target (the gate's tgid: a map value, so one compiled program serves every
 * profile of an agent, and the processes it started when following them) count each distinct
 * (user stack, kernel stack, thread, time bucket) in a
 * hash map; the thread's name is kept beside it. User-mode samples also send an exemplar
 * (registers and user stack) for CFI unwinding.
 * Only UAPI headers: the kernel headers available may not match the running kernel. */
#include "lineprobe.h"

#define COUNTS_ENTRIES 65536
#define THREAD_ENTRIES 8192
#define NO_TIME_BUCKET 0xffffffffu  /* counted without its time: no room for one more key */
#define STACK_ENTRIES 16384

/* The layout of uapi/linux/bpf_perf_event.h on x86_64, written out because
 * including that header costs about 2.5 s of compile time per agent. */
struct lp_perf_event_data {
    struct pt_regs regs;
    u64 sample_period;
    u64 addr;
};

#define EEXIST 17

struct sample_key_t {
    int user_stack_id;
    int kernel_stack_id;
    u64 user_ip;      /* only set when the user stack is missing */
    u32 tid;
    u32 time_bucket;  /* (now - clock[CLOCK_START]) / clock[CLOCK_BUCKET_NS], or NO_TIME_BUCKET */
    u32 tgid;         /* the process: the target, or one it started (following children) */
    u32 key_pad;
};

/* profile_clock's slots, written by the agent before the perf events are attached. */
enum { CLOCK_START, CLOCK_BUCKET_NS, CLOCK_SLOTS };

struct thread_name_t {
    char comm[16];
};

/* A user-mode sample's registers and a copy of its stack, for unwinding
 * with CFI in user space where frame pointers are missing. */
struct exemplar_t {
    u32 tid;
    s32 user_stack_id;
    u64 user_ip_key;
    u32 time_bucket;
    u32 padding;
    u64 r13; /* where HotSpot's interpreter keeps the running method's bytecode pointer */
    LP_EXEMPLAR_STACK;
};

BPF_HASH(counts, struct sample_key_t, u64, COUNTS_ENTRIES);
BPF_HASH(thread_names, u32, struct thread_name_t, THREAD_ENTRIES);
BPF_ARRAY(profile_clock, u64, CLOCK_SLOTS);
BPF_PERCPU_ARRAY(exemplar_scratch, struct exemplar_t, 1);
BPF_PERF_OUTPUT(exemplars);
BPF_ARRAY(exemplars_enabled, u32, 1);
BPF_STACK_TRACE(stack_traces, STACK_ENTRIES);
BPF_PERCPU_ARRAY(stats, u64, CPU_STAT_COUNT);

static __always_inline void bump(u32 index)
{
    u64 *value = stats.lookup(&index);
    if (value)
        (*value)++;
}

int on_cpu_sample(struct lp_perf_event_data *ctx)
{
    u32 zero = 0;
    if (!lp_is_target())
        return 0;
    bump(CPU_STAT_SAMPLES);

    struct sample_key_t key = {};
    /* cs & 3 == 3: the CPU was running user code when the tick came. */
    int in_user = (ctx->regs.cs & 3) == 3;
    key.user_stack_id = stack_traces.get_stackid(ctx, BPF_F_USER_STACK);
    if (key.user_stack_id < 0) {
        bump(key.user_stack_id == -EEXIST ? CPU_STAT_COLLISIONS : CPU_STAT_USER_STACK_MISSING);
        if (in_user)
            key.user_ip = ctx->regs.ip;
    }
    if (in_user) {
        key.kernel_stack_id = -1;
    } else {
        key.kernel_stack_id = stack_traces.get_stackid(ctx, 0);
        if (key.kernel_stack_id < 0)
            bump(key.kernel_stack_id == -EEXIST ? CPU_STAT_COLLISIONS : CPU_STAT_KERNEL_STACK_MISSING);
    }

    u64 pid_tgid = bpf_get_current_pid_tgid();
    key.tid = (u32)pid_tgid;
    key.tgid = pid_tgid >> 32;
    key.time_bucket = 0;
    u32 slot = CLOCK_START;
    u64 *start = profile_clock.lookup(&slot);
    slot = CLOCK_BUCKET_NS;
    u64 *width = profile_clock.lookup(&slot);
    if (start && width && *width) {
        u64 now = bpf_ktime_get_ns();
        key.time_bucket = now > *start ? (u32)((now - *start) / *width) : 0;
    }
    /* The last name wins: a thread often names itself (pthread_setname_np) after it starts. */
    struct thread_name_t name = {};
    bpf_get_current_comm(&name.comm, sizeof(name.comm));
    thread_names.update(&key.tid, &name);

    u64 one = 0;
    u64 *count = counts.lookup_or_try_init(&key, &one);
    if (!count) {
        /* No room for one more (stack, thread, bucket): keep the sample, without its time. */
        key.time_bucket = NO_TIME_BUCKET;
        count = counts.lookup_or_try_init(&key, &one);
        if (count)
            bump(CPU_STAT_UNTIMED);
    }
    if (count)
        __sync_fetch_and_add(count, 1);
    else
        bump(CPU_STAT_LOST);

    u32 *enabled = exemplars_enabled.lookup(&zero);
    if (!in_user || !enabled || !*enabled)
        return 0;
    struct exemplar_t *e = exemplar_scratch.lookup(&zero);
    if (!e)
        return 0;
    e->tid = (u32)bpf_get_current_pid_tgid();
    e->user_stack_id = key.user_stack_id;
    e->user_ip_key = key.user_ip;
    e->time_bucket = key.time_bucket;
    e->ip = ctx->regs.ip;
    e->sp = ctx->regs.sp;
    e->bp = ctx->regs.bp;
    e->r13 = ctx->regs.r13;
    COPY_USER_STACK(e, e->sp);
    exemplars.perf_submit(ctx, e, sizeof(*e));
    return 0;
}
