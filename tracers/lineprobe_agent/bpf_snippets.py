"""C shared by the agent's BPF programs, prepended to each program's text."""

COPY_USER_STACK = r"""
/* Copy the user stack from SP upwards into E->data (STACK_COPY_BYTES at most)
 * and set E->size. A read that would cross the top of the stack fails whole,
 * so smaller sizes are tried before giving up (size 0). */
#define COPY_USER_STACK(E, SP)                                                        \
    do {                                                                             \
        (E)->size = STACK_COPY_BYTES;                                                \
        if (bpf_probe_read_user((E)->data, STACK_COPY_BYTES, (void *)(SP)) != 0) {   \
            (E)->size = STACK_COPY_BYTES / 4;                                        \
            if (bpf_probe_read_user((E)->data, STACK_COPY_BYTES / 4, (void *)(SP))) { \
                (E)->size = 512;                                                     \
                if (bpf_probe_read_user((E)->data, 512, (void *)(SP)) != 0)          \
                    (E)->size = 0;                                                   \
            }                                                                        \
        }                                                                            \
    } while (0)
"""
