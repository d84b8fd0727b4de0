/* Outstanding allocations by allocating site: uprobes on the C library's allocators
 * (leak_tracer.py attaches them for each request, the hot ones only part of the time).
 *
 * Tracked blocks (address -> size, time, site key) and per-site outstanding bytes and counts
 * are kept here, decremented by the free and realloc probes. A site key is the exact return
 * address at the allocator's entry ([rsp]), the frame-pointer stack id and a fingerprint of
 * the call path; a few exemplars per key let the server unwind with CFI. */
#include "lineprobe.h"

#define ALLOCS_ENTRIES 4000000  /* tracked blocks at most; allocated as used, about 100 bytes each */
#define SITES_ENTRIES 65536
#define EXEMPLARS_FIRST 2
#define EXEMPLAR_EVERY 512
#define PATH_WORDS 32           /* stack words examined for the fingerprint (256 bytes above sp) */
#define PATH_HITS 3             /* code addresses that make the fingerprint */

struct site_key_t { u64 caller; s64 stack_id; u64 path_hash; };
struct words_t { u64 w[PATH_WORDS]; };
struct pending_t { u64 size; u64 memptr; u64 ts; struct site_key_t key; };
struct alloc_t { u64 size; u64 ts; struct site_key_t key; };
struct site_t { s64 bytes; s64 count; u64 allocs; u64 alloc_bytes; u64 exemplars; };
/* The site key spelled out field by field: bcc derives the record's Python class only for
 * flat structs. */
struct exemplar_t {
    u64 caller; s64 stack_id; u64 path_hash;
    LP_EXEMPLAR_STACK;
};

BPF_ARRAY(tracking, u32, 1);  /* 1 while the allocation probes are attached */
BPF_PERCPU_ARRAY(stats, u64, LEAK_STAT_COUNT);
BPF_HASH(pending, u32, struct pending_t, 16384);
BPF_F_TABLE("hash", u64, struct alloc_t, allocs, ALLOCS_ENTRIES, BPF_F_NO_PREALLOC);
BPF_HASH(sites, struct site_key_t, struct site_t, SITES_ENTRIES);
BPF_ARRAY(code_range, u64, 2);  /* [start, end) of the executable's code, at run-time addresses */
BPF_PERCPU_ARRAY(words_scratch, struct words_t, 1);
BPF_STACK_TRACE(stack_traces, SITES_ENTRIES);
BPF_PERCPU_ARRAY(exemplar_scratch, struct exemplar_t, 1);
BPF_PERF_OUTPUT(exemplars);

static __always_inline void bump(u32 index)
{
    u64 *value = stats.lookup(&index);
    if (value)
        (*value)++;
}

static __always_inline void send_exemplar(struct pt_regs *ctx, struct site_key_t *key)
{
    u32 zero = 0;
    struct exemplar_t *e = exemplar_scratch.lookup(&zero);
    if (!e)
        return;
    e->caller = key->caller;
    e->stack_id = key->stack_id;
    e->path_hash = key->path_hash;
    e->ip = ctx->ip;
    e->sp = ctx->sp;
    e->bp = ctx->bp;
    COPY_USER_STACK(e, ctx->sp);
    exemplars.perf_submit(ctx, e, sizeof(*e));
}

/* A fingerprint of the call path, for code without frame pointers: the first
 * PATH_HITS words above the stack pointer that point into the executable's
 * code. Return addresses of the user's frames are such words (stale ones may
 * join them, consistently for one path); the frame-pointer stack id alone
 * cannot tell two callers of one allocator wrapper (operator new) apart. */
static __always_inline u64 path_hash(struct pt_regs *ctx)
{
    u32 zero = 0, one = 1;
    u64 *start = code_range.lookup(&zero);
    u64 *end = code_range.lookup(&one);
    struct words_t *words = words_scratch.lookup(&zero);
    if (!start || !end || !words || *start >= *end)
        return 0;
    if (bpf_probe_read_user(words->w, sizeof(words->w), (void *)ctx->sp) != 0)
        return 0;
    u64 hash = 0;
    u32 found = 0;
    #pragma unroll
    for (int i = 0; i < PATH_WORDS; i++) {
        u64 word = words->w[i];
        if (found < PATH_HITS && word >= *start && word < *end) {
            hash = (hash * 1000003ULL) ^ word;
            found++;
        }
    }
    return hash;
}

static __always_inline int alloc_enter(struct pt_regs *ctx, u64 size, u64 memptr)
{
    u32 zero = 0;
    if (!lp_is_target())
        return 0;
    u32 *on = tracking.lookup(&zero);
    if (!on || !*on)
        return 0;
    struct pending_t p = {};
    p.size = size;
    p.memptr = memptr;
    p.ts = bpf_ktime_get_ns();
    /* At a function's first instruction the return address is at [rsp]. */
    bpf_probe_read_user(&p.key.caller, sizeof(p.key.caller), (void *)ctx->sp);
    p.key.stack_id = stack_traces.get_stackid(ctx, BPF_F_USER_STACK);
    p.key.path_hash = path_hash(ctx);
    struct site_t *site = sites.lookup(&p.key);
    if (!site || site->exemplars < EXEMPLARS_FIRST || (site->allocs % EXEMPLAR_EVERY) == 0) {
        if (site)
            site->exemplars++;
        send_exemplar(ctx, &p.key);
    }
    u32 tid = (u32)bpf_get_current_pid_tgid();
    pending.update(&tid, &p);
    return 0;
}

static __always_inline int alloc_return(struct pt_regs *ctx, u64 address)
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    struct pending_t *p = pending.lookup(&tid);
    if (!p)
        return 0;
    struct pending_t entry = *p;
    pending.delete(&tid);
    if (entry.memptr) {  /* posix_memalign: 0 on success, the block is in *memptr */
        if (address != 0)
            return 0;
        bpf_probe_read_user(&address, sizeof(address), (void *)entry.memptr);
    }
    if (address == 0)
        return 0;
    bump(LEAK_STAT_MALLOCS);
    struct alloc_t a = {};
    a.size = entry.size;
    a.ts = entry.ts;
    a.key = entry.key;
    if (allocs.update(&address, &a) != 0) {
        bump(LEAK_STAT_LOST);
        return 0;
    }
    struct site_t zero_site = {};
    struct site_t *site = sites.lookup_or_try_init(&entry.key, &zero_site);
    if (!site) {
        bump(LEAK_STAT_SITES_FULL);
        return 0;
    }
    if (site->exemplars == 0)
        site->exemplars = 1;  /* the entry probe sent one before the site existed */
    __sync_fetch_and_add(&site->bytes, (s64)a.size);
    __sync_fetch_and_add(&site->count, 1);
    __sync_fetch_and_add(&site->allocs, 1);
    __sync_fetch_and_add(&site->alloc_bytes, a.size);
    return 0;
}

static __always_inline void release(u64 address)
{
    struct alloc_t *a = allocs.lookup(&address);
    if (!a)
        return;
    bump(LEAK_STAT_FREES);
    struct site_t *site = sites.lookup(&a->key);
    if (site) {
        __sync_fetch_and_add(&site->bytes, -(s64)a->size);
        __sync_fetch_and_add(&site->count, -1);
    }
    allocs.delete(&address);
}

int free_enter(struct pt_regs *ctx)
{
    if (lp_is_target())
        release(PT_REGS_PARM1(ctx));
    return 0;
}

int malloc_enter(struct pt_regs *ctx) { return alloc_enter(ctx, PT_REGS_PARM1(ctx), 0); }
int calloc_enter(struct pt_regs *ctx) { return alloc_enter(ctx, PT_REGS_PARM1(ctx) * PT_REGS_PARM2(ctx), 0); }
int realloc_enter(struct pt_regs *ctx)
{
    if (!lp_is_target())
        return 0;
    /* The old block is gone whether or not allocations are being sampled now. */
    release(PT_REGS_PARM1(ctx));
    return alloc_enter(ctx, PT_REGS_PARM2(ctx), 0);
}
int reallocarray_enter(struct pt_regs *ctx)
{
    if (!lp_is_target())
        return 0;
    release(PT_REGS_PARM1(ctx));
    return alloc_enter(ctx, PT_REGS_PARM2(ctx) * PT_REGS_PARM3(ctx), 0);
}
int posix_memalign_enter(struct pt_regs *ctx)
{
    return alloc_enter(ctx, PT_REGS_PARM3(ctx), PT_REGS_PARM1(ctx));
}
int aligned_enter(struct pt_regs *ctx) { return alloc_enter(ctx, PT_REGS_PARM2(ctx), 0); }
int alloc_exit(struct pt_regs *ctx) { return alloc_return(ctx, PT_REGS_RC(ctx)); }
