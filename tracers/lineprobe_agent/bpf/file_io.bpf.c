/* File I/O as filetop and fileslower see it, from the syscall tracepoints (the vfs_read and
 * vfs_write kprobes those bcc tools use are refused on this kernel): every read, write and sync
 * call on a descriptor, timed from its sys_enter to its sys_exit and added, in the kernel, to
 * the totals of its (process, thread, descriptor, call) and to its (process, descriptor, call)
 * latency histogram (powers of two of microseconds); a call slower than SLOW_NS is also sent on
 * its own, as fileslower prints it. The loader names the descriptors from /proc while they are
 * open (the kernel's struct file is not read: the headers here do not match the kernel).
 *
 * One function serves every call: the syscall tracepoints' records put the call's number at
 * offset 8 and its first argument, the descriptor, at offset 16 whichever the call is.
 *
 * Compiled for each request, with -D settings that are numbers only:
 *   SYSTEM_WIDE   1: every task's calls (root callers only); 0: the gate's target's
 *   SELF_TGID     the agent's own process, never counted
 *   SLOW_NS       the latency from which a call is sent on its own
 *   MAX_SLOW      how many slow calls are sent at most (the rest are counted)
 */
#include "lineprobe.h"

struct inflight_t {
    u64 start_ns;
    s32 fd;
    u32 nr;
};

struct file_key_t {
    u32 tgid;
    u32 tid;
    s32 fd;
    u32 nr;
};

struct file_value_t {
    u64 calls;
    u64 bytes;
    u64 errors;
    u64 total_ns;
    u64 max_ns;
    char comm[16];        /* the thread's name */
};

struct latency_key_t {
    u32 tgid;
    s32 fd;
    u32 nr;
    u32 bucket;
};

struct slow_call_t {
    u64 time_ns;
    u64 latency_ns;
    s64 ret;
    u32 tgid;
    u32 tid;
    s32 fd;
    u32 nr;
    char comm[16];
};

BPF_HASH(inflight, u64, struct inflight_t, 10240);
BPF_HASH(files, struct file_key_t, struct file_value_t, 16384);
BPF_HASH(latency, struct latency_key_t, u64, 16384);
BPF_PERF_OUTPUT(slow_calls);
BPF_PERCPU_ARRAY(stats, u64, FI_STAT_COUNT);
BPF_ARRAY(slow_sent, u64, 1);

static __always_inline void bump(u32 index)
{
    u64 *value = stats.lookup(&index);
    if (value)
        (*value)++;
}

/* Attached to sys_enter_read, _write, _pread64, _pwrite64, _readv, _writev, _preadv, _pwritev,
 * _fsync, _fdatasync (the record's layout is the same for all). */
int on_enter(struct tracepoint__syscalls__sys_enter_read *args)
{
    u64 pid_tgid = bpf_get_current_pid_tgid();
    u32 tgid = pid_tgid >> 32;
    if (tgid == SELF_TGID)
        return 0;
    if (!SYSTEM_WIDE && !lp_is_target())
        return 0;
    struct inflight_t call = {.start_ns = bpf_ktime_get_ns(), .fd = (s32)args->fd, .nr = args->__syscall_nr};
    inflight.update(&pid_tgid, &call);
    return 0;
}

/* Attached to the same calls' sys_exit tracepoints. */
int on_exit(struct tracepoint__syscalls__sys_exit_read *args)
{
    u64 pid_tgid = bpf_get_current_pid_tgid();
    struct inflight_t *call = inflight.lookup(&pid_tgid);
    if (!call)
        return 0;  /* entered before the window, or not traced */
    u64 took = bpf_ktime_get_ns() - call->start_ns;
    struct file_key_t key = {.tgid = pid_tgid >> 32, .tid = (u32)pid_tgid, .fd = call->fd, .nr = call->nr};
    inflight.delete(&pid_tgid);
    bump(FI_STAT_CALLS);
    s64 ret = args->ret;

    struct file_value_t zero = {};
    struct file_value_t *totals = files.lookup_or_try_init(&key, &zero);
    if (!totals) {
        bump(FI_STAT_LOST);
        return 0;
    }
    if (totals->calls == 0)
        bpf_get_current_comm(totals->comm, sizeof(totals->comm));
    __sync_fetch_and_add(&totals->calls, 1);
    if (ret < 0)
        __sync_fetch_and_add(&totals->errors, 1);
    else
        __sync_fetch_and_add(&totals->bytes, ret);
    __sync_fetch_and_add(&totals->total_ns, took);
    if (took > totals->max_ns)
        totals->max_ns = took;  /* a race between threads can keep the smaller: rare, and only the max */

    struct latency_key_t bucket = {
        .tgid = key.tgid, .fd = key.fd, .nr = key.nr, .bucket = lp_log2_bucket(took / 1000)};
    u64 none = 0;
    u64 *count = latency.lookup_or_try_init(&bucket, &none);
    if (count)
        __sync_fetch_and_add(count, 1);
    else
        bump(FI_STAT_LOST);

    if (took < SLOW_NS)
        return 0;
    bump(FI_STAT_SLOW);
    u32 first = 0;
    u64 *sent = slow_sent.lookup(&first);
    if (!sent || __sync_fetch_and_add(sent, 1) >= MAX_SLOW) {
        bump(FI_STAT_SLOW_NOT_SENT);
        return 0;
    }
    struct slow_call_t record = {
        .time_ns = bpf_ktime_get_ns(), .latency_ns = took, .ret = ret,
        .tgid = key.tgid, .tid = key.tid, .fd = key.fd, .nr = key.nr};
    bpf_get_current_comm(record.comm, sizeof(record.comm));
    if (slow_calls.perf_submit(args, &record, sizeof(record)) != 0)
        bump(FI_STAT_SLOW_NOT_SENT);
    return 0;
}
