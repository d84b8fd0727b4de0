/*
 * libFuzzer harness for the DWARF accelerator (server/lineprobe/symbolization/dwarf_accel.c).
 *
 * An input is a section table, nine little-endian u32 sizes in the order of
 * dwarf_accel.c's SEC_* enum (.debug_info, .debug_abbrev, .debug_line,
 * .debug_str, .debug_line_str, .debug_addr, .debug_ranges, .debug_rnglists,
 * .debug_str_offsets), then the sections' bytes back to back; sizes that run
 * past the input are cut to what is there. Every unit lp_open finds is
 * decoded, and lp_frames looks up addresses in it (its rows' and ranges'
 * ends, and the extremes) with little output room, so that it stops and
 * resumes as the Python binding makes it. AddressSanitizer and UndefinedBehaviorSanitizer turn any
 * out-of-bounds read, overflow or leak into a finding; libFuzzer's -timeout
 * and -rss_limit_mb catch hangs and memory blow-ups.
 *
 *   make fuzz-accel FUZZ_ACCEL_RUNS=1000000
 *
 * The seed corpus (tests/fuzz/corpus-dwarf/) holds the workloads' real
 * sections, written by tests/fuzz/make_dwarf_corpus.py.
 */
#include <stdint.h>
#include <stddef.h>
#include <string.h>

#include "../../server/lineprobe/symbolization/dwarf_accel.c"

/* lp_frames over one decoded unit, as unit_index.frames_in_units calls it. */
static void look_up(const lp_unit *u) {
    lp_unit_view view = {
        u->row_address, u->row_file, u->row_line, u->row_column, u->row_end_sequence, u->n_rows,
        u->scope_name, u->scope_inlined, u->scope_decl_file, u->scope_decl_line, u->scope_call_file,
        u->scope_call_line, u->n_scopes,
        u->range_low, u->range_high, u->range_scope, u->range_parent, u->n_ranges,
        0, u->n_names, 0, u->n_files,
    };
    enum { MAX_ADDRESSES = 64, MAX_CHAIN = 128, ROOM = 4 };
    uint64_t addresses[MAX_ADDRESSES];
    uint32_t unit_of[MAX_ADDRESSES] = {0}, counts[MAX_ADDRESSES];
    uint64_t n = 0;
    addresses[n++] = 0;
    addresses[n++] = UINT64_MAX;
    for (uint64_t i = 0; i < u->n_rows && n + 2 <= MAX_ADDRESSES / 2; i += 1 + u->n_rows / 8) {
        addresses[n++] = u->row_address[i];
        addresses[n++] = u->row_address[i] - 1;
    }
    for (uint64_t i = 0; i < u->n_ranges && n + 2 <= MAX_ADDRESSES; i += 1 + u->n_ranges / 8) {
        addresses[n++] = u->range_low[i];
        addresses[n++] = u->range_high[i] - 1;
    }
    int64_t chain[MAX_CHAIN], records[ROOM * LP_FRAME_FIELDS];
    uint64_t done = 0, used = 0;
    while (done < n) {
        uint64_t now = lp_frames(&view, 1, unit_of + done, addresses + done, n - done, MAX_CHAIN, chain,
                                 records, ROOM, counts + done, &used);
        done += now ? now : 1; /* none done: its chain has more frames than ROOM, so skip it */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lp_buf sections[SEC_COUNT];
    memset(sections, 0, sizeof sections);
    size_t table = 4 * SEC_COUNT;
    if (size < table) return 0;
    const uint8_t *p = data + table, *end = data + size;
    for (int i = 0; i < SEC_COUNT; i++) {
        uint32_t n;
        memcpy(&n, data + 4 * i, 4);
        if ((size_t)(end - p) < n) n = (uint32_t)(end - p);
        sections[i].p = n ? p : NULL;
        sections[i].n = n;
        p += n;
    }
    lp_ctx *c = lp_open(sections);
    if (!c) return 0;
    for (uint64_t i = 0; i < lp_unit_count(c) && i < 64; i++) {
        lp_unit u;
        if (lp_decode_unit(c, lp_unit_offset(c, i), &u)) {
            look_up(&u);
            lp_free_unit(&u);
        }
    }
    lp_close(c);
    return 0;
}
