/*
 * libFuzzer harness for the DWARF accelerator (server/lineprobe/symbolization/dwarf_accel.c).
 *
 * An input is a section table, nine little-endian u32 sizes in the order of
 * dwarf_accel.c's SEC_* enum (.debug_info, .debug_abbrev, .debug_line,
 * .debug_str, .debug_line_str, .debug_addr, .debug_ranges, .debug_rnglists,
 * .debug_str_offsets), then the sections' bytes back to back; sizes that run
 * past the input are cut to what is there. Every unit lp_open finds is
 * decoded. AddressSanitizer and UndefinedBehaviorSanitizer turn any
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
        if (lp_decode_unit(c, lp_unit_offset(c, i), &u)) lp_free_unit(&u);
    }
    lp_close(c);
    return 0;
}
