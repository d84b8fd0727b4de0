/* Stack counts at one tracepoint or USDT probe, aggregated in the kernel; or off-CPU time.
 *
 * One program, attached by the agent to whichever tracepoint a trace names
 * (on_tracepoint), or as uprobes to every site of a USDT probe (on_usdt),
 * counts each distinct (tgid, kernel stack, user stack) it meets. The user
 * stack the kernel walks follows frame pointers, which glibc lacks, so the
 * first occurrences of each distinct key (then one in EXEMPLAR_EVERY) also
 * send an exemplar: the task's user registers and a copy of its user stack,
 * which the server unwinds with CFI.
 *
 * Off-CPU (on_switch, at sched:sched_switch): when a target thread leaves the CPU its stacks
 * are taken (and exemplars sent, as for a hit) and kept by thread with the time; when that
 * thread is switched back in, the time it was away is added to those stacks' count, which is
 * then nanoseconds (what offcputime measures).
 *
 * The shared header (lineprobe.h) brings the target gate (lp_is_target), the
 * exemplar record's tail (LP_EXEMPLAR_STACK, COPY_USER_STACK), and the stats and
 * settings indices the loader reads. Only a UAPI header is included: the
 * installed kernel headers may not match the running kernel, and no kernel
 * struct is read through them. The user registers come from
 * bpf_task_pt_regs(), which the kernel resolves through its own BTF.
 */
#include "lineprobe.h"

#define EEXIST 17
#define COUNTS_ENTRIES 40960
#define COMMS_ENTRIES 4096
#define STACK_ENTRIES 16384
#define EXEMPLARS_FIRST 4    /* exemplars for the first hits of each distinct key... */
#define EXEMPLAR_EVERY 1024  /* ...then for one hit in this many */
#define OFFCPU_ENTRIES 16384

struct stack_key_t {
    u32 tgid;
    s32 user_stack_id;
    s32 kernel_stack_id;
    u32 flags;
    u64 user_ip;  /* the user instruction pointer, kept only when the user stack is missing */
};

struct stack_value_t {
    u64 count;      /* hits, or off-CPU nanoseconds */
    u64 exemplars;
    u64 hits;       /* times the stacks were met: the exemplar policy's clock */
};

/* A target thread off the CPU: the stacks it left with, and when. */
struct offcpu_start_t {
    struct stack_key_t key;
    u64 start_ns;
};

struct comm_t {
    char comm[16];
};

/* The key's fields written out: bcc decodes perf buffer events of flat structs only. */
struct exemplar_t {
    u32 tgid;
    s32 user_stack_id;
    s32 kernel_stack_id;
    u32 flags;
    u64 user_ip;
    u32 tid;
    u32 tid_pad;
    LP_EXEMPLAR_STACK;
};

BPF_HASH(counts, struct stack_key_t, struct stack_value_t, COUNTS_ENTRIES);
BPF_HASH(comms, u32, struct comm_t, COMMS_ENTRIES);
BPF_STACK_TRACE(stack_traces, STACK_ENTRIES);
BPF_PERCPU_ARRAY(stats, u64, SC_STAT_COUNT);
BPF_ARRAY(settings, u32, SC_SETTING_COUNT);
BPF_PERCPU_ARRAY(exemplar_scratch, struct exemplar_t, 1);
BPF_PERF_OUTPUT(exemplars);
BPF_HASH(offcpu_starts, u32, struct offcpu_start_t, OFFCPU_ENTRIES);

static __always_inline void bump(u32 index)
{
    u64 *value = stats.lookup(&index);
    if (value)
        (*value)++;
}

static __always_inline u32 setting(u32 index)
{
    u32 *value = settings.lookup(&index);
    return value ? *value : 0;
}

/* Adds ``weight`` to the stacks in ``key`` (one hit; 0 when the time comes later, off-CPU; the
 * user registers given when the task has a user stack), and sends an exemplar for the first
 * meetings of each distinct key. */
static __always_inline int count_hit(void *ctx, struct stack_key_t *key, u64 pid_tgid, int has_user,
                                     u64 ip, u64 sp, u64 bp, u64 weight)
{
    struct stack_value_t zero_value = {};
    struct stack_value_t *value = counts.lookup_or_try_init(key, &zero_value);
    if (!value) {
        bump(SC_STAT_LOST);
        return 0;
    }
    if (weight)
        __sync_fetch_and_add(&value->count, weight);
    u64 seen = __sync_fetch_and_add(&value->hits, 1);

    if (setting(SC_SETTING_SYSTEM_WIDE)) {
        /* The latest name: a child forked from a shell or Python hits the tracepoint under its
         * parent's name until it execs its program, and the program is what it will be named. */
        struct comm_t comm = {};
        bpf_get_current_comm(comm.comm, sizeof(comm.comm));
        comms.update(&key->tgid, &comm);
    }

    if (!has_user || !setting(SC_SETTING_EXEMPLARS))
        return 0;
    if (value->exemplars >= EXEMPLARS_FIRST && (seen % EXEMPLAR_EVERY) != 0)
        return 0;
    value->exemplars++;
    u32 zero = 0;
    struct exemplar_t *e = exemplar_scratch.lookup(&zero);
    if (!e)
        return 0;
    e->tgid = key->tgid;
    e->user_stack_id = key->user_stack_id;
    e->kernel_stack_id = key->kernel_stack_id;
    e->flags = key->flags;
    e->user_ip = key->user_ip;
    e->tid = (u32)pid_tgid;
    e->ip = ip;
    e->sp = sp;
    e->bp = bp;
    COPY_USER_STACK(e, e->sp);
    exemplars.perf_submit(ctx, e, sizeof(*e));
    return 0;
}

static __always_inline void user_stack_of(void *ctx, struct stack_key_t *key, u64 ip)
{
    key->flags = SC_KEY_HAS_USER;
    key->user_stack_id = stack_traces.get_stackid(ctx, BPF_F_USER_STACK);
    if (key->user_stack_id < 0) {
        bump(key->user_stack_id == -EEXIST ? SC_STAT_COLLISIONS : SC_STAT_USER_STACK_MISSING);
        key->user_ip = ip;
    }
}

/* The current task's stacks into ``key``, and the user registers it entered the kernel with
 * (a kernel thread's are zero); returns whether it has a user context. */
static __always_inline int stacks_of_current(void *ctx, struct stack_key_t *key, u64 pid_tgid, u64 *ip,
                                             u64 *sp, u64 *bp)
{
    key->tgid = pid_tgid >> 32;
    struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
    u64 cs = 0;
    bpf_probe_read_kernel(&cs, sizeof(cs), &regs->cs);
    int has_user = (cs & 3) == 3;
    if (has_user) {
        bpf_probe_read_kernel(ip, sizeof(*ip), &regs->ip);
        bpf_probe_read_kernel(sp, sizeof(*sp), &regs->sp);
        bpf_probe_read_kernel(bp, sizeof(*bp), &regs->bp);
        user_stack_of(ctx, key, *ip);
    } else {
        key->user_stack_id = -1;
    }
    key->kernel_stack_id = stack_traces.get_stackid(ctx, 0);
    if (key->kernel_stack_id < 0)
        bump(key->kernel_stack_id == -EEXIST ? SC_STAT_COLLISIONS : SC_STAT_KERNEL_STACK_MISSING);
    return has_user;
}

int on_tracepoint(void *ctx)
{
    /* System-wide: every task. Otherwise only the target, and only while its gate is open. */
    if (!setting(SC_SETTING_SYSTEM_WIDE) && !lp_is_target())
        return 0;
    bump(SC_STAT_EVENTS);
    u64 pid_tgid = bpf_get_current_pid_tgid();
    struct stack_key_t key = {};
    u64 ip = 0, sp = 0, bp = 0;
    int has_user = stacks_of_current(ctx, &key, pid_tgid, &ip, &sp, &bp);
    return count_hit(ctx, &key, pid_tgid, has_user, ip, sp, bp, 1);
}

/* sched:sched_switch, for off-CPU time: the thread switched in gets the time since it left
 * added to the stacks it left with; a target thread switched out leaves its stacks and the time
 * (``current`` is the thread leaving). A thread still away when the window ends is not counted. */
int on_switch(struct tracepoint__sched__sched_switch *args)
{
    u64 now = bpf_ktime_get_ns();
    u32 next = args->next_pid;
    struct offcpu_start_t *begun = offcpu_starts.lookup(&next);
    if (begun) {
        struct stack_value_t zero_value = {};
        struct stack_value_t *value = counts.lookup_or_try_init(&begun->key, &zero_value);
        if (value)
            __sync_fetch_and_add(&value->count, now - begun->start_ns);
        else
            bump(SC_STAT_LOST);
        offcpu_starts.delete(&next);
    }
    if (!lp_is_target())
        return 0;
    bump(SC_STAT_EVENTS);
    u64 pid_tgid = bpf_get_current_pid_tgid();
    struct offcpu_start_t start = {};
    u64 ip = 0, sp = 0, bp = 0;
    int has_user = stacks_of_current(args, &start.key, pid_tgid, &ip, &sp, &bp);
    start.start_ns = now;
    u32 tid = (u32)pid_tgid;
    offcpu_starts.update(&tid, &start);
    return count_hit(args, &start.key, pid_tgid, has_user, ip, sp, bp, 0);
}

/* A USDT probe site, as a uprobe: the context is the task's user registers at the probe, and
 * there is no kernel stack (the probe is user code). Only the target counts. */
int on_usdt(struct pt_regs *ctx)
{
    if (!lp_is_target())
        return 0;
    bump(SC_STAT_EVENTS);
    u64 pid_tgid = bpf_get_current_pid_tgid();
    struct stack_key_t key = {};
    key.tgid = pid_tgid >> 32;
    key.kernel_stack_id = -1;
    u64 ip = PT_REGS_IP(ctx), sp = PT_REGS_SP(ctx), bp = ctx->bp;
    user_stack_of(ctx, &key, ip);
    return count_hit(ctx, &key, pid_tgid, 1, ip, sp, bp, 1);
}
