/* Hard and soft interrupt time, as libbpf-tools' hardirqs and softirqs report it, from the irq
 * tracepoints: each handler counted as it enters, its entry time kept per CPU and its run added
 * at exit to its IRQ's (or softirq vector's) nanoseconds, in the kernel. Interrupts are machine-wide: there is
 * no process to gate on, so this is for root callers only.
 */
#include "lineprobe.h"

#define IRQ_NAME_BYTES 32

struct irq_name_t {
    char name[IRQ_NAME_BYTES];
};

struct irq_value_t {
    u64 count;
    u64 time_ns;
};

BPF_PERCPU_ARRAY(hard_start, u64, 1);
BPF_PERCPU_ARRAY(soft_start, u64, 1);
BPF_HASH(hard, u32, struct irq_value_t, 1024);  /* by IRQ number */
BPF_HASH(hard_names, u32, struct irq_name_t, 1024);
BPF_HASH(soft, u32, struct irq_value_t, 32);    /* by softirq vector */
BPF_PERCPU_ARRAY(stats, u64, 1);  /* none kept: every program has the table the reset zeroes */

/* Each handler is counted as it enters (as hardirqs -C counts) and its time added as it
 * leaves. */

int on_hard_entry(struct tracepoint__irq__irq_handler_entry *args)
{
    u32 zero = 0;
    u64 *start = hard_start.lookup(&zero);
    if (start)
        *start = bpf_ktime_get_ns();
    u32 irq = args->irq;
    struct irq_value_t none = {};
    struct irq_value_t *value = hard.lookup_or_try_init(&irq, &none);
    if (value)
        __sync_fetch_and_add(&value->count, 1);
    if (!hard_names.lookup(&irq)) {
        struct irq_name_t name = {};
        TP_DATA_LOC_READ_STR(name.name, name, sizeof(name.name));
        hard_names.update(&irq, &name);
    }
    return 0;
}

int on_hard_exit(struct tracepoint__irq__irq_handler_exit *args)
{
    u32 zero = 0;
    u64 *start = hard_start.lookup(&zero);
    if (!start || !*start)
        return 0;
    u64 took = bpf_ktime_get_ns() - *start;
    *start = 0;
    u32 irq = args->irq;
    struct irq_value_t *value = hard.lookup(&irq);
    if (value)
        __sync_fetch_and_add(&value->time_ns, took);
    return 0;
}

int on_soft_entry(struct tracepoint__irq__softirq_entry *args)
{
    u32 vec = args->vec;
    struct irq_value_t none = {};
    struct irq_value_t *value = soft.lookup_or_try_init(&vec, &none);
    if (value)
        __sync_fetch_and_add(&value->count, 1);
    u32 zero = 0;
    u64 *start = soft_start.lookup(&zero);
    if (start)
        *start = bpf_ktime_get_ns();
    return 0;
}

int on_soft_exit(struct tracepoint__irq__softirq_exit *args)
{
    u32 zero = 0;
    u64 *start = soft_start.lookup(&zero);
    if (!start || !*start)
        return 0;
    u64 took = bpf_ktime_get_ns() - *start;
    *start = 0;
    u32 vec = args->vec;
    struct irq_value_t *value = soft.lookup(&vec);
    if (value)
        __sync_fetch_and_add(&value->time_ns, took);
    return 0;
}
