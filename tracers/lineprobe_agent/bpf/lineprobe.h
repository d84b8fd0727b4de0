/* lineprobe.h: what the agent's BPF programs share with each other and with their loaders.
 *
 * Each program (cpu_profiler.bpf.c, syscall_tracer.bpf.c, leak_tracer.bpf.c) includes this
 * file. The Python side reads its plain constants, `#define NAME value` lines and enum
 * members whose values are integer expressions, through lineprobe_agent.bpf_source: a value
 * written here is written nowhere else. The rest (macros, maps, functions) is for the programs.
 *
 * bcc rewrites map calls (`map.lookup()`, `perf_submit`) and tracepoint arguments only in
 * the file it compiles, so the loader puts this header's text in front of the program's
 * (bpf_source.program_text); the include guard then makes the program's own #include a no-op.
 */
#ifndef LINEPROBE_H
#define LINEPROBE_H

#include <uapi/linux/ptrace.h>

/* ---- Exemplars: a record with the user registers and a copy of the user stack ---------- */

/* User stack bytes copied per exemplar: enough for the frames of most programs. */
#define STACK_COPY_BYTES 8192

/* The fields every exemplar record ends with, in this order: the user registers at the
 * event and `size` valid bytes of the user stack from `sp` up (COPY_USER_STACK), which the
 * server unwinds with CFI where frame pointers are missing. Python reads them by name. */
#define LP_EXEMPLAR_STACK      \
    u64 ip;                    \
    u64 sp;                    \
    u64 bp;                    \
    u32 size;                  \
    u32 stack_pad;             \
    u8 data[STACK_COPY_BYTES]

/* Copy the user stack from SP upwards into E->data (STACK_COPY_BYTES at most) and set E->size.
 * A read that would cross the top of the stack fails whole. The top is page-aligned, so when
 * the full copy fails the stack ends within two pages of SP: the copy up to the end of the page
 * after SP's, else up to the end of SP's own page, holds every byte there is (the outermost
 * frames, main's among them, are the ones nearest the top: a shorter fixed fallback lost them
 * whenever the environment put the top between the fallback's size and 8 KiB above SP). */
#define COPY_USER_STACK(E, SP)                                                        \
    do {                                                                             \
        (E)->size = STACK_COPY_BYTES;                                                \
        if (bpf_probe_read_user((E)->data, STACK_COPY_BYTES, (void *)(SP)) != 0) {   \
            u32 lp_to_page_end = 4096 - ((u64)(SP) & 4095);                          \
            u32 lp_n = lp_to_page_end + 4096;                                        \
            if (lp_n > STACK_COPY_BYTES)                                             \
                lp_n = STACK_COPY_BYTES;                                             \
            (E)->size = lp_n;                                                        \
            if (bpf_probe_read_user((E)->data, lp_n, (void *)(SP)) != 0) {           \
                lp_n = lp_to_page_end;                                               \
                if (lp_n > STACK_COPY_BYTES)                                         \
                    lp_n = STACK_COPY_BYTES;                                         \
                (E)->size = lp_n;                                                    \
                if (bpf_probe_read_user((E)->data, lp_n, (void *)(SP)) != 0)         \
                    (E)->size = 0;                                                   \
            }                                                                        \
        }                                                                            \
    } while (0)

/* ---- Loss counters: indices into each program's per-CPU `stats` array ------------------ */

enum lp_cpu_stat {
    CPU_STAT_SAMPLES,
    CPU_STAT_LOST,                 /* the counts map was full */
    CPU_STAT_USER_STACK_MISSING,
    CPU_STAT_KERNEL_STACK_MISSING,
    CPU_STAT_COLLISIONS,           /* a stack id lost to a hash collision (-EEXIST) */
    CPU_STAT_UNTIMED,              /* counted without its time bucket (the counts map was full) */
    CPU_STAT_COUNT,
};

enum lp_syscall_stat {
    SYS_STAT_EVENTS,
    SYS_STAT_INFLIGHT_FULL,
    SYS_STAT_FAILURES_FULL,
    SYS_STAT_IO_FULL,
    SYS_STAT_BIO_FULL,
    SYS_STAT_COUNTS_FULL,
    SYS_STAT_COUNT,
};

enum lp_leak_stat {
    LEAK_STAT_LOST,                /* the tracked-blocks map was full */
    LEAK_STAT_SITES_FULL,
    LEAK_STAT_MALLOCS,
    LEAK_STAT_FREES,
    LEAK_STAT_COUNT,
};

enum lp_stack_counter_stat {
    SC_STAT_EVENTS,                /* hits of the tracepoint in the target (or any task) */
    SC_STAT_LOST,                  /* the counts map was full */
    SC_STAT_USER_STACK_MISSING,
    SC_STAT_KERNEL_STACK_MISSING,
    SC_STAT_COLLISIONS,            /* a stack id lost to a hash collision (-EEXIST) */
    SC_STAT_COUNT,
};

/* The stack counter's settings array, written by its loader for each trace. */
enum lp_stack_counter_setting {
    SC_SETTING_EXEMPLARS,          /* 1: send exemplars */
    SC_SETTING_SYSTEM_WIDE,        /* 1: every task, not only the gate's target */
    SC_SETTING_COUNT,
};

/* Stack counter key flag: the task had a user context (a kernel thread has none, so its
 * missing user stack is not counted missing). */
#define SC_KEY_HAS_USER 1

/* ---- USDT argument counts (probe_args.bpf.c) ------------------------------------------ */

enum lp_probe_args_stat {
    PA_STAT_EVENTS,                /* hits of the probe in the target */
    PA_STAT_LOST,                  /* the groups map was full */
    PA_STAT_TRUNCATED,             /* a text longer than PROBE_TEXT_BYTES - 1 */
    PA_STAT_UNREADABLE,            /* a text the target's memory would not give */
    PA_STAT_LIMITED,               /* tracing: a hit over the rate limit, counted and not sent */
    PA_STAT_RING_FULL,             /* tracing: a hit the perf ring had no room for */
    PA_STAT_COUNT,
};

/* Room for one text argument in a group's key, its NUL included. */
#define PROBE_TEXT_BYTES 96

/* The power-of-two bucket of V, as argdist -H and biolatency count: 0 for 0, else K for
 * 2^(K-1) <= V < 2^K (no count-leading-zeros in BPF). */
static __always_inline u64 lp_log2_bucket(u64 v)
{
    if (v == 0)
        return 0;
    u64 bucket = 1;
    if (v >> 32) { v >>= 32; bucket += 32; }
    if (v >> 16) { v >>= 16; bucket += 16; }
    if (v >> 8) { v >>= 8; bucket += 8; }
    if (v >> 4) { v >>= 4; bucket += 4; }
    if (v >> 2) { v >>= 2; bucket += 2; }
    if (v >> 1)
        bucket += 1;
    return bucket;
}

/* ---- Kernel tracepoint records (tracepoint_events.bpf.c) ------------------------------- */

enum lp_tracepoint_stat {
    TP_STAT_EVENTS,                /* hits in the target (or anywhere, system-wide) */
    TP_STAT_LIMITED,               /* a hit over the rate limit, counted and not sent */
    TP_STAT_RING_FULL,             /* a hit the perf ring had no room for */
    TP_STAT_UNREADABLE,            /* a record (or counted field) the program could not copy */
    TP_STAT_LOST,                  /* counting: a hit not counted by value (the map was full) */
    TP_STAT_COUNT,
};

/* The bytes of a record sent: its fixed fields and the dynamic strings after them. */
#define TP_RECORD_BYTES 512
/* Room for a char-array field's text in a count's key. */
#define TP_KEY_TEXT 32

/* ---- Block I/O by device and process (disk_io.bpf.c) ----------------------------------- */

enum lp_disk_stat {
    DK_STAT_ISSUED,                /* requests issued (by the target, or anywhere) */
    DK_STAT_COMPLETED,             /* of those, completed in the window */
    DK_STAT_LOST,                  /* a request or total the maps had no room for */
    DK_STAT_NOT_SENT,              /* a completed request not sent on its own (limit, ring full) */
    DK_STAT_COUNT,
};

/* ---- File I/O by process, thread and descriptor (file_io.bpf.c) ----------------------- */

enum lp_file_stat {
    FI_STAT_CALLS,                 /* read, write and sync calls completed (target or anywhere) */
    FI_STAT_SLOW,                  /* of those, slower than the request's threshold */
    FI_STAT_SLOW_NOT_SENT,         /* a slow call not sent: over the record limit or ring full */
    FI_STAT_LOST,                  /* a call the maps had no room for */
    FI_STAT_COUNT,
};

/* ---- Page cache by process and file (page_cache.bpf.c) --------------------------------- */

enum lp_page_cache_stat {
    PC_STAT_EVENTS,                /* filemap and writeback hits counted */
    PC_STAT_LOST,                  /* a hit the map had no room for */
    PC_STAT_COUNT,
};

/* ---- HotSpot's garbage collections and class loads (jvm_events.bpf.c) ------------------ */

enum lp_jvm_events_stat {
    JE_STAT_GCS,                   /* gc__end hits that closed a gc__begin in the target */
    JE_STAT_CLASSES,               /* class__loaded hits in the target */
    JE_STAT_UNMATCHED,             /* gc__end without a gc__begin seen (begun before tracing) */
    JE_STAT_TRUNCATED,             /* a class name longer than JVM_NAME_BYTES - 1 */
    JE_STAT_RING_FULL,             /* an event the perf ring had no room for */
    JE_STAT_COUNT,
};

enum lp_jvm_event_kind {
    JE_KIND_GC = 1,
    JE_KIND_CLASS = 2,
};

/* Room for a class name (HotSpot's internal form, java/lang/String), its NUL included. */
#define JVM_NAME_BYTES 128

/* ---- Histograms: log-linear buckets --------------------------------------------------- */

/* 1 << HIST_SUB_BITS buckets per power of two; values below 1 << HIST_SUB_BITS get one each.
 * The Python twin of lp_bucket_of is syscall_tracer.bucket_of (and bucket_bounds its inverse). */
#define HIST_BUCKETS 256
#define HIST_SUB_BITS 2
#define HIST_SUBS (1 << HIST_SUB_BITS)

static __always_inline u32 lp_log2(u64 v)
{
    u32 r = 0;
    if (v >> 32) { v >>= 32; r += 32; }
    if (v >> 16) { v >>= 16; r += 16; }
    if (v >> 8) { v >>= 8; r += 8; }
    if (v >> 4) { v >>= 4; r += 4; }
    if (v >> 2) { v >>= 2; r += 2; }
    if (v >> 1) { r += 1; }
    return r;
}

static __always_inline u32 lp_bucket_of(u64 v)
{
    if (v < HIST_SUBS)
        return (u32)v;
    u32 l = lp_log2(v);
    u32 b = l * HIST_SUBS + (u32)((v >> (l - HIST_SUB_BITS)) & (HIST_SUBS - 1));
    return b < HIST_BUCKETS ? b : HIST_BUCKETS - 1;
}

/* ---- System calls: what the syscall tracer's tables and records say ------------------- */

/* Longest path (or socket address) kept per failure and per descriptor change. */
#define MAX_PATH 256

/* Argument classes: the high nibble of a syscall's kind byte (the syscall_kind map, filled
 * from syscall_tracer.SYSCALL_KINDS); the low bits hold the index of the argument of interest. */
#define PATH_ARG 0x10
#define SOCKADDR_ARG 0x20
#define FILE_IO 0x30
#define SLEEP_ARG 0x40
#define FD_OP 0x50              /* changes what a descriptor number names; low nibble: FDOP_* */
#define OPENS_FD 0x08           /* a PATH_ARG call that returns a new descriptor (open, openat...) */

enum lp_fd_op {
    FDOP_CLOSE = 1,
    FDOP_DUP = 2,
    FDOP_FCNTL = 3,
    FDOP_SOCKET = 4,
    FDOP_ACCEPT = 5,
    FDOP_PIPE = 6,              /* pipe, pipe2: two descriptors written at the first argument */
    FDOP_SOCKETPAIR = 7,        /* two descriptors written at the fourth argument */
    FDOP_CREATE = 8,            /* a new descriptor of its own kind (eventfd, epoll, memfd...) */
};

/* What an fd_events record says happened to a descriptor number (descriptors.py). */
enum lp_fd_change {
    FD_OPENED = 1,
    FD_DUPED = 2,
    FD_SOCKET = 3,
    FD_ACCEPTED = 4,
    FD_CLOSED = 5,
    FD_CREATED = 6,
};

/* What an open's directory argument says when the path is relative to the working directory. */
#define AT_FDCWD -100

/* ---- The target gate: which process's events may be recorded, and when ---------------- */

/* One u64 per slot of the lp_gate array, so that user space writes only its own slots (tgid,
 * approved, trusted, start, ended at open) and the programs only theirs (execs, held, ended):
 * no update is ever lost to a concurrent write of a neighbouring field. The gate is open
 * while the approved exec count equals the exec count: an exec shuts it until user space has
 * checked access and approved the count it checked, and a second exec during that check
 * keeps it shut. target_gate.py is the user-space side. */
enum lp_gate_slot {
    GATE_TGID,
    GATE_EXECS,
    GATE_APPROVED,
    GATE_ENDED,
    GATE_HELD,
    GATE_TRUSTED,
    GATE_START,
    GATE_FOLLOW,                   /* 1: also record the processes the target (or a followed one) forks */
    GATE_FOLLOW_FULL,              /* forks not followed: lp_followed was full */
    GATE_SLOTS,
};

/* The processes followed besides the target (GATE_FOLLOW): tgids added at their fork, deleted at
 * their exit. A thread's tid is added too (sched_process_fork cannot tell a thread from a
 * process), inert since lookups are by tgid. */
#define FOLLOWED_ENTRIES 8192

/* What the lp_gate_events perf buffer says. */
#define GATE_EVENT_EXEC 1
#define GATE_EVENT_REUSED 2
#define GATE_EVENT_FOLLOWED_EXEC 3   /* a followed process exec'd: its new map is worth reading */

BPF_ARRAY(lp_gate, u64, GATE_SLOTS);
BPF_PERF_OUTPUT(lp_gate_events);
BPF_HASH(lp_followed, u32, u8, FOLLOWED_ENTRIES);

static __always_inline u64 *lp_gate_slot(u32 slot)
{
    return lp_gate.lookup(&slot);
}

static __always_inline int lp_gate_matches(u32 tgid)
{
    u64 *wanted = lp_gate_slot(GATE_TGID);
    return wanted && *wanted && tgid == (u32)*wanted;
}

/* 0: not the target, or its gate is shut; 1: the target, recording; 2: the target before the exec
 * that starts recording (a launched command's gate and wrapper: lineprobe's own work). */
static __always_inline int lp_gate_state(void)
{
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    if (!lp_gate_matches(tgid)) {
        /* One hash lookup more, only while following: a followed process records as the target
         * does once it runs the command (root callers only, so no exec shuts its gate). */
        u64 *follow = lp_gate_slot(GATE_FOLLOW);
        if (follow && *follow && lp_followed.lookup(&tgid))
            return 1;
        return 0;
    }
    u64 *execs = lp_gate_slot(GATE_EXECS);
    u64 *start = lp_gate_slot(GATE_START);
    u64 *approved = lp_gate_slot(GATE_APPROVED);
    u64 *ended = lp_gate_slot(GATE_ENDED);
    u64 *trusted = lp_gate_slot(GATE_TRUSTED);
    if (!execs || !start || !approved || !ended || !trusted)
        return 0;
    if (*ended == 0 && (*approved == *execs || *trusted))
        return *execs < *start ? 2 : 1;
    if (*execs >= *start) {
        u64 *held = lp_gate_slot(GATE_HELD);
        if (held)
            __sync_fetch_and_add(held, 1);
    }
    return 0;
}

static __always_inline int lp_is_target(void)
{
    return lp_gate_state() == 1;
}

/* sched:sched_process_exec, attached while a request runs (TargetGate.attach). */
int lp_gate_on_exec(struct tracepoint__sched__sched_process_exec *args)
{
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    if (!lp_gate_matches(tgid)) {
        u64 *follow = lp_gate_slot(GATE_FOLLOW);
        if (follow && *follow && lp_followed.lookup(&tgid)) {
            u32 what = GATE_EVENT_FOLLOWED_EXEC;
            lp_gate_events.perf_submit(args, &what, sizeof(what));
        }
        return 0;
    }
    u64 *execs = lp_gate_slot(GATE_EXECS);
    if (execs)
        __sync_fetch_and_add(execs, 1);
    u32 what = GATE_EVENT_EXEC;
    lp_gate_events.perf_submit(args, &what, sizeof(what));
    return 0;
}

/* sched:sched_process_fork: a new task given the target's number (the target has exited and
 * been reaped). It fires before the new task first runs, so not one of its events is recorded. */
int lp_gate_on_fork(struct tracepoint__sched__sched_process_fork *args)
{
    u32 child = (u32)args->child_pid;
    if (!lp_gate_matches(child)) {
        /* Following: the parent (this task) is recorded, so its child is followed from its
         * first instruction. */
        u64 *follow = lp_gate_slot(GATE_FOLLOW);
        if (!follow || !*follow || lp_gate_state() != 1)
            return 0;
        u8 one = 1;
        if (lp_followed.update(&child, &one) != 0) {
            u64 *full = lp_gate_slot(GATE_FOLLOW_FULL);
            if (full)
                __sync_fetch_and_add(full, 1);
        }
        return 0;
    }
    u64 *ended = lp_gate_slot(GATE_ENDED);
    if (ended)
        *ended = 1;
    u32 what = GATE_EVENT_REUSED;
    lp_gate_events.perf_submit(args, &what, sizeof(what));
    return 0;
}

/* sched:sched_process_exit, attached only while following: a task that exits is followed no
 * more, so that its number, given to another process, is not followed by mistake. */
int lp_gate_on_exit(struct tracepoint__sched__sched_process_exit *args)
{
    u32 pid = (u32)args->pid;
    lp_followed.delete(&pid);
    return 0;
}

#endif /* LINEPROBE_H */
