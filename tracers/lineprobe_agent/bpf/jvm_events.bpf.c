/* HotSpot's garbage collections and class loads in one JVM, from its standard USDT probes
 * (no -XX flag needed): each GC pause's start, length and kind (gc__begin with its is_full
 * argument, then gc__end on the same thread), and each loaded class's name (class__loaded,
 * whose name is unterminated: read with the length it passes, never past it).
 *
 * Compiled for each request: bcc writes the argument readers from libjvm.so's notes (the usdt
 * context). Events go to the perf ring; the counts are kept in the kernel, so that an event
 * the ring had no room for is still counted.
 */
#include "lineprobe.h"

struct gc_begun_t {
    u64 start_ns;
    u64 full;
};

/* Flat, as bcc decodes perf events. */
struct jvm_event_t {
    u64 time_ns;      /* bpf_ktime_get_ns(): a GC's start, a class's load */
    u64 duration_ns;  /* a GC's pause */
    u32 tid;
    u32 kind;         /* JE_KIND_GC or JE_KIND_CLASS */
    u32 full;         /* a GC: gc__begin's is_full */
    u32 length;       /* a class: its name's length as passed */
    char name[JVM_NAME_BYTES];
};

BPF_HASH(gc_begun, u32, struct gc_begun_t, 1024);
BPF_PERF_OUTPUT(events);
BPF_PERCPU_ARRAY(event_scratch, struct jvm_event_t, 1);
BPF_PERCPU_ARRAY(stats, u64, JE_STAT_COUNT);

static __always_inline void bump(u32 index)
{
    u64 *value = stats.lookup(&index);
    if (value)
        (*value)++;
}

static __always_inline struct jvm_event_t *new_event(u32 kind)
{
    u32 zero = 0;
    struct jvm_event_t *event = event_scratch.lookup(&zero);
    if (!event)
        return 0;
    __builtin_memset(event, 0, sizeof(*event));
    event->kind = kind;
    event->tid = (u32)bpf_get_current_pid_tgid();
    return event;
}

int on_gc_begin(struct pt_regs *ctx)
{
    if (!lp_is_target())
        return 0;
    u8 full = 0;
    bpf_usdt_readarg(1, ctx, &full);
    u32 tid = (u32)bpf_get_current_pid_tgid();
    struct gc_begun_t begun = {.start_ns = bpf_ktime_get_ns(), .full = full};
    gc_begun.update(&tid, &begun);
    return 0;
}

int on_gc_end(struct pt_regs *ctx)
{
    if (!lp_is_target())
        return 0;
    u64 now = bpf_ktime_get_ns();
    u32 tid = (u32)bpf_get_current_pid_tgid();
    struct gc_begun_t *begun = gc_begun.lookup(&tid);
    if (!begun) {
        bump(JE_STAT_UNMATCHED);
        return 0;
    }
    bump(JE_STAT_GCS);
    struct jvm_event_t *event = new_event(JE_KIND_GC);
    if (event) {
        event->time_ns = begun->start_ns;
        event->duration_ns = now - begun->start_ns;
        event->full = begun->full ? 1 : 0;
        if (events.perf_submit(ctx, event, sizeof(*event)) != 0)
            bump(JE_STAT_RING_FULL);
    }
    gc_begun.delete(&tid);
    return 0;
}

int on_class_loaded(struct pt_regs *ctx)
{
    if (!lp_is_target())
        return 0;
    bump(JE_STAT_CLASSES);
    struct jvm_event_t *event = new_event(JE_KIND_CLASS);
    if (!event)
        return 0;
    event->time_ns = bpf_ktime_get_ns();
    u64 name = 0;
    int32_t length = 0;
    bpf_usdt_readarg(1, ctx, &name);
    bpf_usdt_readarg(2, ctx, &length);
    event->length = length < 0 ? 0 : (u32)length;
    s64 room = length;
    if (room < 0)
        room = 0;
    if (room > JVM_NAME_BYTES - 1) {
        bump(JE_STAT_TRUNCATED);
        room = JVM_NAME_BYTES - 1;
    }
    /* The mask keeps the verifier sure of the bound; the NUL after it is the memset's. */
    if (room > 0)
        bpf_probe_read_user(event->name, room & 0x7f, (void *)name);
    if (events.perf_submit(ctx, event, sizeof(*event)) != 0)
        bump(JE_STAT_RING_FULL);
    return 0;
}
