/* The page cache as the filemap and writeback tracepoints show it (cachestat's kprobes are
 * refused on this kernel): pages added to the cache (a miss: read from the file, or about to be
 * written), pages removed from it (evicted, truncated), folios dirtied, and pages written back,
 * by process and file, counted in the kernel. A cache hit passes no tracepoint, so no hit ratio
 * is possible from here.
 *
 * Added and dirtied pages belong to the task that caused them. Removals and write-backs are
 * mostly done by the kernel's own threads (kswapd, the flusher workers): in one process's trace
 * they are counted for the files that process added or dirtied pages of in the window, under
 * the thread that did them.
 *
 * Compiled for each request, with -D settings that are numbers only:
 *   SYSTEM_WIDE   1: every task (root callers only); 0: the gate's target and its files
 */
#include "lineprobe.h"

/* Flat: bcc sizes its ctypes key from the struct. */
struct page_key_t {
    u32 tgid;
    u32 dev;      /* the file system's dev_t; 0 for writeback's records, which carry none */
    u64 ino;
};

struct page_value_t {
    u64 added;
    u64 removed;
    u64 dirtied;   /* folios, not pages: the tracepoint gives no size */
    u64 written;
    char comm[16];
};

BPF_HASH(pages, struct page_key_t, struct page_value_t, 16384);
BPF_HASH(touched, u64, u8, 16384);   /* the target's files, by inode (per-process traces) */
BPF_PERCPU_ARRAY(stats, u64, PC_STAT_COUNT);

static __always_inline void bump(u32 index)
{
    u64 *value = stats.lookup(&index);
    if (value)
        (*value)++;
}

/* Whose row a hit goes to, or NULL when it is not counted. OWN: the hit is the target's
 * doing (added, dirtied), so its file becomes the target's; else (removed, written) it counts
 * for a file the target touched. */
static __always_inline struct page_value_t *row(u32 dev, u64 ino, int own)
{
    if (!SYSTEM_WIDE) {
        if (own) {
            if (!lp_is_target())
                return 0;
            u8 yes = 1;
            touched.update(&ino, &yes);
        } else if (!lp_is_target() && !touched.lookup(&ino)) {
            return 0;
        }
    }
    bump(PC_STAT_EVENTS);
    struct page_key_t key = {.tgid = bpf_get_current_pid_tgid() >> 32, .dev = dev, .ino = ino};
    struct page_value_t zero = {};
    struct page_value_t *value = pages.lookup_or_try_init(&key, &zero);
    if (!value) {
        bump(PC_STAT_LOST);
        return 0;
    }
    if (value->comm[0] == 0)
        bpf_get_current_comm(value->comm, sizeof(value->comm));
    return value;
}

int on_add(struct tracepoint__filemap__mm_filemap_add_to_page_cache *args)
{
    struct page_value_t *value = row(args->s_dev, args->i_ino, 1);
    if (value)
        __sync_fetch_and_add(&value->added, 1ULL << args->order);
    return 0;
}

int on_remove(struct tracepoint__filemap__mm_filemap_delete_from_page_cache *args)
{
    struct page_value_t *value = row(args->s_dev, args->i_ino, 0);
    if (value)
        __sync_fetch_and_add(&value->removed, 1ULL << args->order);
    return 0;
}

int on_dirty(struct tracepoint__writeback__writeback_dirty_folio *args)
{
    struct page_value_t *value = row(0, args->ino, 1);
    if (value)
        __sync_fetch_and_add(&value->dirtied, 1);
    return 0;
}

int on_written(struct tracepoint__writeback__writeback_single_inode *args)
{
    if (args->wrote == 0)
        return 0;
    struct page_value_t *value = row(0, args->ino, 0);
    if (value)
        __sync_fetch_and_add(&value->written, args->wrote);
    return 0;
}
