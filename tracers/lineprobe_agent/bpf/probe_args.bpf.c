/* Hits of one USDT probe in the target, counted in the kernel by the values of up to two of
 * its arguments (what argdist -C counts), or, with TRACE set, each hit sent with those values
 * and its time (what trace prints), under a rate limit, every hit not sent counted.
 *
 * Compiled for each request: bcc reads the probe's argument locations from the file's notes
 * and writes bpf_usdt_readarg() for this probe (the usdt context), and the loader chooses
 * which arguments are read and how with -D settings that are numbers only:
 *   SLOTn_ARG, SLOTn_TYPE   the argument grouped by in slot n (1-based; 0: slot unused)
 *                           (also written as a number at @SLOTn_ARG@, see below)
 *                           and its C type as the notes give it (int32_t, uint64_t...)
 *   SLOTn_TEXT              1: the argument points to text, grouped by the text
 *   SLOTn_HAS_LENGTH        1: SLOTn_LENGTH (of SLOTn_LENGTH_TYPE) holds the text's length;
 *                           0: the text ends at its NUL
 *   TRACE, RATE_LIMIT       1: send hits (at most RATE_LIMIT a second) instead of counting
 *   HISTOGRAM               1: slot 0 (an integer) is counted by its power of two (argdist -H)
 *   TRACE_STACKS            1: each sent hit carries its user stack's id (frame pointers)
 * A length is honoured: HotSpot passes names unterminated, and reading past one reads the
 * bytes of whatever follows it (bcc's argdist does, and shows them).
 */
#include "lineprobe.h"

#define GROUPS_ENTRIES 10240
#define SITE_ENTRIES 1024

/* Flat fields, no two-dimensional array: bcc's Python side sizes its key type from this
 * struct, and gets a [2][N] array's size wrong (a key copied into too small a buffer). */
struct group_t {
    u64 number0;
    u64 number1;
    char text0[PROBE_TEXT_BYTES];
    char text1[PROBE_TEXT_BYTES];
};

/* A hit as sent: its time and thread, then a group_t's fields written out (bcc decodes perf
 * events of flat structs only); the program writes them through a group_t pointer. */
struct hit_t {
    u64 time_ns;  /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
    u32 tid;
    s32 user_stack_id;  /* with TRACE_STACKS: the user stack (frame pointers); else -1 */
    u64 number0;
    u64 number1;
    char text0[PROBE_TEXT_BYTES];
    char text1[PROBE_TEXT_BYTES];
};

BPF_HASH(groups, struct group_t, u64, GROUPS_ENTRIES);
/* Hits by the site that fired, keyed by its address in the target (a uprobe's handler sees the
 * probed instruction's address): the editor marks each site's line with its rate. */
BPF_HASH(site_hits, u64, u64, SITE_ENTRIES);
BPF_PERF_OUTPUT(hits);
BPF_ARRAY(rate_window, u64, 2);  /* [0]: the second's start (ns), [1]: hits sent in it */
BPF_PERCPU_ARRAY(hit_scratch, struct hit_t, 1);
BPF_STACK_TRACE(stack_traces, TRACE_STACKS ? 16384 : 1);
BPF_PERCPU_ARRAY(stats, u64, PA_STAT_COUNT);
BPF_PERCPU_ARRAY(group_scratch, struct group_t, 1);

static __always_inline void bump(u32 index)
{
    u64 *value = stats.lookup(&index);
    if (value)
        (*value)++;
}

/* The text at ADDRESS, LENGTH bytes of it when LENGTH is known (not its NUL). */
static __always_inline void read_text(char *into, u64 address, s64 length, int known_length)
{
    if (!known_length) {
        if (bpf_probe_read_user_str(into, PROBE_TEXT_BYTES, (void *)address) < 0)
            bump(PA_STAT_UNREADABLE);
        return;
    }
    if (length < 0)
        length = 0;
    if (length > PROBE_TEXT_BYTES - 1) {
        bump(PA_STAT_TRUNCATED);
        length = PROBE_TEXT_BYTES - 1;
    }
    /* The mask keeps the verifier sure of the bound; the NUL after it is the scratch's zero. */
    if (length > 0 && bpf_probe_read_user(into, length & 0x7f, (void *)address) != 0)
        bump(PA_STAT_UNREADABLE);
}

/* bcc rewrites bpf_usdt_readarg(N, ...) into this probe's reader of argument N (which wants
 * a destination of the argument's own type, SLOTn_TYPE), and only where N is a literal number
 * in the text, not a macro and not inside one: the loader writes the numbers in place of the
 * @SLOTn_ARG@ and @SLOTn_LENGTH@ placeholders (bpf_source.program_text), and each slot is
 * written out. */


/* Whether this hit may be sent: at most RATE_LIMIT in each second (shared by the CPUs; the
 * second's turnover is not atomic, so a handful more may pass at a turn, each still counted). */
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

int on_probe(struct pt_regs *ctx)
{
    if (!lp_is_target())
        return 0;
    bump(PA_STAT_EVENTS);
    u64 site = PT_REGS_IP(ctx), none = 0;
    u64 *at_site = site_hits.lookup_or_try_init(&site, &none);
    if (at_site)
        __sync_fetch_and_add(at_site, 1);
    u32 zero = 0;
#if TRACE
    u64 now = bpf_ktime_get_ns();
    if (!under_rate_limit(now)) {
        bump(PA_STAT_LIMITED);
        return 0;
    }
    struct hit_t *hit = hit_scratch.lookup(&zero);
    if (!hit)
        return 0;
    __builtin_memset(hit, 0, sizeof(*hit));
    hit->time_ns = now;
    hit->tid = (u32)bpf_get_current_pid_tgid();
    hit->user_stack_id = TRACE_STACKS ? stack_traces.get_stackid(ctx, BPF_F_USER_STACK) : -1;
    struct group_t *group = (struct group_t *)&hit->number0;
#else
    struct group_t *group = group_scratch.lookup(&zero);
    if (!group)
        return 0;
    __builtin_memset(group, 0, sizeof(*group));
#endif
#if SLOT0_ARG
    {
        SLOT0_TYPE value = 0;
        bpf_usdt_readarg(@SLOT0_ARG@, ctx, &value);
#if SLOT0_TEXT
        SLOT0_LENGTH_TYPE length = 0;
#if SLOT0_HAS_LENGTH
        bpf_usdt_readarg(@SLOT0_LENGTH@, ctx, &length);
#endif
        read_text(group->text0, (u64)value, (s64)length, SLOT0_HAS_LENGTH);
#else
        group->number0 = (u64)(s64)value;
#endif
    }
#endif
#if SLOT1_ARG
    {
        SLOT1_TYPE value = 0;
        bpf_usdt_readarg(@SLOT1_ARG@, ctx, &value);
#if SLOT1_TEXT
        SLOT1_LENGTH_TYPE length = 0;
#if SLOT1_HAS_LENGTH
        bpf_usdt_readarg(@SLOT1_LENGTH@, ctx, &length);
#endif
        read_text(group->text1, (u64)value, (s64)length, SLOT1_HAS_LENGTH);
#else
        group->number1 = (u64)(s64)value;
#endif
    }
#endif
#if HISTOGRAM
    group->number0 = lp_log2_bucket(group->number0);
#endif
#if TRACE
    if (hits.perf_submit(ctx, hit, sizeof(*hit)) != 0)
        bump(PA_STAT_RING_FULL);
    return 0;
#endif
    u64 *count = groups.lookup_or_try_init(group, &none);
    if (!count) {
        bump(PA_STAT_LOST);
        return 0;
    }
    __sync_fetch_and_add(count, 1);
    return 0;
}
