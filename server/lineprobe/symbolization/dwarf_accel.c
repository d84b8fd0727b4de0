/*
 * Optional accelerator for lineprobe's DWARF decoding (see dwarf_accel.py).
 *
 * It decodes one compilation unit (CU) at a time into exactly the arrays that
 * the pure-Python path (pyelftools) builds in dwarf_index.py: the line table
 * rows (DWARF 5 section 6.2) and the scopes, DW_TAG_subprogram and
 * DW_TAG_inlined_subroutine DIEs with their address ranges (section 2.17).
 * Its only job is speed: pyelftools spends 12-17 us per line-table row and
 * 0.1-0.3 s per CU on DIE walks, minutes on a library like libjvm.
 *
 * Everything read is bounds-checked against the section it comes from; on
 * damaged input a CU's decoding stops with a message and keeps what it has.
 * Every loop advances through a section or is bounded by a constant, so any
 * input ends in time linear in its size.
 *
 * Built by `make accel` (gcc -O2 -shared); loaded with ctypes. Little-endian
 * ELF only (the Python side falls back to pyelftools for anything else).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

enum {
    SEC_INFO, SEC_ABBREV, SEC_LINE, SEC_STR, SEC_LINE_STR, SEC_ADDR,
    SEC_RANGES, SEC_RNGLISTS, SEC_STR_OFFSETS, SEC_COUNT
};

/* String references handed back to Python, which reads the NUL-terminated bytes. */
enum { REF_NONE = 0, REF_STR = 1, REF_LINE_STR = 2, REF_INFO = 3, REF_LINE = 4 };

#define MAX_SCOPE_DEPTH 64
#define MAX_ORIGIN_HOPS 8
#define MAX_TREE_LEVEL 4096

typedef struct { const uint8_t *p; uint64_t n; } lp_buf;

typedef struct {
    const uint8_t *p, *end;
    int bad;
} reader;

static uint64_t rd_fixed(reader *r, int size) {
    if (r->bad || size < 0 || (uint64_t)(r->end - r->p) < (uint64_t)size) { r->bad = 1; r->p = r->end; return 0; }
    uint64_t v = 0;
    switch (size) { /* little-endian host and file: the Python side checks both */
    case 1: v = r->p[0]; break;
    case 2: { uint16_t x; memcpy(&x, r->p, 2); v = x; break; }
    case 4: { uint32_t x; memcpy(&x, r->p, 4); v = x; break; }
    case 8: memcpy(&v, r->p, 8); break;
    default: for (int i = 0; i < size && i < 8; i++) v |= (uint64_t)r->p[i] << (8 * i);
    }
    r->p += size;
    return v;
}

static uint64_t rd_uleb(reader *r) {
    uint64_t v = 0; int shift = 0;
    while (!r->bad) {
        if (r->p >= r->end) { r->bad = 1; return 0; }
        uint8_t b = *r->p++;
        if (shift < 64) v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80)) break;
    }
    return v;
}

static int64_t rd_sleb(reader *r) {
    int64_t v = 0; int shift = 0; uint8_t b = 0;
    while (!r->bad) {
        if (r->p >= r->end) { r->bad = 1; return 0; }
        b = *r->p++;
        if (shift < 64) v |= (int64_t)((uint64_t)(b & 0x7f) << shift);
        shift += 7;
        if (!(b & 0x80)) break;
    }
    if (shift < 64 && (b & 0x40)) v |= (int64_t)(~(uint64_t)0 << shift);
    return v;
}

static void rd_skip(reader *r, uint64_t n) {
    if (r->bad || (uint64_t)(r->end - r->p) < n) { r->bad = 1; r->p = r->end; return; }
    r->p += n;
}

static void rd_cstr(reader *r) {
    const uint8_t *nul = r->bad ? NULL : memchr(r->p, 0, (size_t)(r->end - r->p));
    if (!nul) { r->bad = 1; r->p = r->end; return; }
    r->p = nul + 1;
}

static reader at(const lp_buf *b, uint64_t offset) {
    reader r = { b->p, b->p, 0 };
    if (!b->p || offset > b->n) { r.bad = 1; r.end = b->p; return r; }
    r.p = b->p + offset; r.end = b->p + b->n;
    return r;
}

/* ---- growable arrays ---------------------------------------------------------------- */

typedef struct { void *p; uint64_t len, cap; size_t size; } vec;

static int vec_push(vec *v, const void *item) {
    if (v->len == v->cap) {
        uint64_t cap = v->cap ? v->cap * 2 : 64;
        void *p = realloc(v->p, cap * v->size);
        if (!p) return 0;
        v->p = p; v->cap = cap;
    }
    memcpy((char *)v->p + v->len * v->size, item, v->size);
    v->len++;
    return 1;
}

/* ---- abbreviation tables ---------------------------------------------------------------- */

typedef struct { uint64_t attr, form; int64_t implicit; } attr_spec;
typedef struct { uint64_t code, tag; int children; uint32_t first, count; } abbrev;
typedef struct abbrev_table_s {
    uint64_t offset;
    abbrev *abbrevs; uint64_t n;
    attr_spec *specs;
    abbrev **by_code; uint64_t max_code; /* dense lookup for small codes */
} abbrev_table;

static void abbrev_free(abbrev_table *t) {
    free(t->abbrevs); free(t->specs); free(t->by_code);
    memset(t, 0, sizeof *t);
}

static int abbrev_parse(const lp_buf *sec, uint64_t offset, abbrev_table *t) {
    vec abbrevs = { 0, 0, 0, sizeof(abbrev) }, specs = { 0, 0, 0, sizeof(attr_spec) };
    reader r = at(sec, offset);
    uint64_t max_code = 0;
    while (!r.bad) {
        abbrev a; memset(&a, 0, sizeof a);
        a.code = rd_uleb(&r);
        if (a.code == 0 || r.bad) break;
        a.tag = rd_uleb(&r);
        a.children = (int)rd_fixed(&r, 1);
        a.first = (uint32_t)specs.len;
        for (;;) {
            attr_spec s; s.implicit = 0;
            s.attr = rd_uleb(&r); s.form = rd_uleb(&r);
            if (r.bad || (s.attr == 0 && s.form == 0)) break;
            if (s.form == 0x21) s.implicit = rd_sleb(&r);
            if (!vec_push(&specs, &s)) goto fail;
        }
        a.count = (uint32_t)(specs.len - a.first);
        if (!vec_push(&abbrevs, &a)) goto fail;
        if (a.code > max_code) max_code = a.code;
    }
    t->offset = offset;
    t->abbrevs = abbrevs.p; t->n = abbrevs.len; t->specs = specs.p;
    t->max_code = max_code < 65536 ? max_code : 65536;
    t->by_code = calloc(t->max_code + 1, sizeof(abbrev *));
    if (!t->by_code) { abbrev_free(t); return 0; }
    for (uint64_t i = t->n; i-- > 0;) /* first definition of a code wins, as a linear search would */
        if (t->abbrevs[i].code <= t->max_code) t->by_code[t->abbrevs[i].code] = &t->abbrevs[i];
    return 1;
fail:
    free(abbrevs.p); free(specs.p);
    return 0;
}

static const abbrev *abbrev_find(const abbrev_table *t, uint64_t code) {
    if (code <= t->max_code) return t->by_code[code];
    for (uint64_t i = 0; i < t->n; i++)
        if (t->abbrevs[i].code == code) return &t->abbrevs[i];
    return NULL;
}

/* ---- the context: sections, CU headers, abbreviation tables ---------------------------------- */

typedef struct {
    uint64_t offset, end, die_start; /* end: one past the unit; die_start: first DIE */
    int version, offset_size, address_size;
    uint64_t abbrev_offset;
    int top_read;
    uint64_t str_offsets_base, addr_base, rnglists_base, low_pc;
    int has_str_offsets_base, has_addr_base;
    struct abbrev_table_s *table; /* parsed on first use */
} cu_header;

typedef struct {
    lp_buf sec[SEC_COUNT];
    cu_header *cus; uint64_t n_cus;
    abbrev_table *tables; uint64_t n_tables;
} lp_ctx;

static int cu_header_parse(const lp_ctx *c, uint64_t offset, cu_header *h) {
    reader r = at(&c->sec[SEC_INFO], offset);
    memset(h, 0, sizeof *h);
    h->offset = offset;
    uint64_t length = rd_fixed(&r, 4);
    h->offset_size = 4;
    if (length == 0xffffffffu) { length = rd_fixed(&r, 8); h->offset_size = 8; }
    if (r.bad) return 0;
    uint64_t after_length = (uint64_t)(r.p - c->sec[SEC_INFO].p);
    if (length > c->sec[SEC_INFO].n - after_length) h->end = c->sec[SEC_INFO].n;
    else h->end = after_length + length;
    h->version = (int)rd_fixed(&r, 2);
    if (h->version >= 5) {
        int unit_type = (int)rd_fixed(&r, 1);
        h->address_size = (int)rd_fixed(&r, 1);
        h->abbrev_offset = rd_fixed(&r, h->offset_size);
        if (unit_type == 4 || unit_type == 5) rd_skip(&r, 8);                       /* skeleton, split_compile */
        else if (unit_type == 2 || unit_type == 6) rd_skip(&r, 8 + (uint64_t)h->offset_size); /* type units */
    } else {
        h->abbrev_offset = rd_fixed(&r, h->offset_size);
        h->address_size = (int)rd_fixed(&r, 1);
    }
    if (r.bad || h->version < 2 || h->version > 5 || (h->address_size != 4 && h->address_size != 8)) return 0;
    h->die_start = (uint64_t)(r.p - c->sec[SEC_INFO].p);
    return h->die_start <= h->end;
}

lp_ctx *lp_open(const lp_buf *sections) {
    lp_ctx *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    memcpy(c->sec, sections, sizeof c->sec);
    vec cus = { 0, 0, 0, sizeof(cu_header) };
    uint64_t offset = 0;
    while (offset < c->sec[SEC_INFO].n) {
        cu_header h;
        if (!cu_header_parse(c, offset, &h)) break;
        if (!vec_push(&cus, &h)) break;
        if (h.end <= offset) break;
        offset = h.end;
    }
    c->cus = cus.p; c->n_cus = cus.len;
    c->tables = calloc(c->n_cus ? c->n_cus : 1, sizeof(abbrev_table));
    return c;
}

void lp_close(lp_ctx *c) {
    if (!c) return;
    for (uint64_t i = 0; i < c->n_tables; i++) abbrev_free(&c->tables[i]);
    free(c->tables); free(c->cus); free(c);
}

static cu_header *cu_containing(lp_ctx *c, uint64_t offset) {
    uint64_t lo = 0, hi = c->n_cus;
    while (lo < hi) { /* last CU whose offset <= offset */
        uint64_t mid = (lo + hi) / 2;
        if (c->cus[mid].offset <= offset) lo = mid + 1; else hi = mid;
    }
    if (lo == 0) return NULL;
    cu_header *h = &c->cus[lo - 1];
    return offset < h->end ? h : NULL;
}

static abbrev_table *table_lookup(lp_ctx *c, uint64_t abbrev_offset) {
    for (uint64_t i = 0; i < c->n_tables; i++)
        if (c->tables[i].offset == abbrev_offset) return &c->tables[i];
    if (c->n_tables >= (c->n_cus ? c->n_cus : 1)) return NULL;
    abbrev_table *t = &c->tables[c->n_tables];
    if (!abbrev_parse(&c->sec[SEC_ABBREV], abbrev_offset, t)) return NULL;
    c->n_tables++;
    return t;
}

static abbrev_table *table_for(lp_ctx *c, cu_header *h) {
    if (!h->table) h->table = table_lookup(c, h->abbrev_offset);
    return h->table;
}

/* ---- attribute values ---------------------------------------------------------------------- */

enum { V_NONE, V_UINT, V_SINT, V_ADDR, V_ADDRX, V_STRREF, V_REF, V_OTHER };

typedef struct {
    int kind;
    uint64_t form;
    uint64_t u;       /* value, address, index, section offset or DIE offset (section-absolute) */
    int ref_kind;     /* for V_STRREF: REF_*; or 5 for a .debug_str_offsets index */
} attr_value;

/* Reads one attribute value of ``form``; returns 0 on a form it cannot size. */
static int read_form(reader *r, const cu_header *h, uint64_t form, int64_t implicit, attr_value *v,
                     const uint8_t *info_base) {
    int os = h->offset_size, as = h->address_size;
    v->form = form; v->kind = V_OTHER; v->u = 0; v->ref_kind = REF_NONE;
    for (int hops = 0; form == 0x16 && hops < 8; hops++) { form = rd_uleb(r); v->form = form; } /* indirect */
    switch (form) {
    case 0x01: v->kind = V_ADDR; v->u = rd_fixed(r, as); break;
    case 0x03: rd_skip(r, rd_fixed(r, 2)); break;
    case 0x04: rd_skip(r, rd_fixed(r, 4)); break;
    case 0x05: v->kind = V_UINT; v->u = rd_fixed(r, 2); break;
    case 0x06: v->kind = V_UINT; v->u = rd_fixed(r, 4); break;
    case 0x07: v->kind = V_UINT; v->u = rd_fixed(r, 8); break;
    case 0x08: v->kind = V_STRREF; v->ref_kind = REF_INFO; v->u = (uint64_t)(r->p - info_base); rd_cstr(r); break;
    case 0x09: rd_skip(r, rd_uleb(r)); break;
    case 0x0a: rd_skip(r, rd_fixed(r, 1)); break;
    case 0x0b: v->kind = V_UINT; v->u = rd_fixed(r, 1); break;
    case 0x0c: v->kind = V_UINT; v->u = rd_fixed(r, 1); break;
    case 0x0d: v->kind = V_SINT; v->u = (uint64_t)rd_sleb(r); break;
    case 0x0e: v->kind = V_STRREF; v->ref_kind = REF_STR; v->u = rd_fixed(r, os); break;
    case 0x0f: v->kind = V_UINT; v->u = rd_uleb(r); break;
    case 0x10: v->kind = V_REF; v->u = rd_fixed(r, h->version <= 2 ? as : os); break;
    case 0x11: v->kind = V_REF; v->u = h->offset + rd_fixed(r, 1); break;
    case 0x12: v->kind = V_REF; v->u = h->offset + rd_fixed(r, 2); break;
    case 0x13: v->kind = V_REF; v->u = h->offset + rd_fixed(r, 4); break;
    case 0x14: v->kind = V_REF; v->u = h->offset + rd_fixed(r, 8); break;
    case 0x15: v->kind = V_REF; v->u = h->offset + rd_uleb(r); break;
    case 0x17: v->kind = V_UINT; v->u = rd_fixed(r, os); break; /* sec_offset */
    case 0x18: rd_skip(r, rd_uleb(r)); break;
    case 0x19: v->kind = V_UINT; v->u = 1; break;
    case 0x1a: v->kind = V_STRREF; v->ref_kind = 5; v->u = rd_uleb(r); break;
    case 0x1b: v->kind = V_ADDRX; v->u = rd_uleb(r); break;
    case 0x1c: rd_skip(r, 4); break;
    case 0x1d: rd_skip(r, (uint64_t)os); break;
    case 0x1e: rd_skip(r, 16); break;
    case 0x1f: v->kind = V_STRREF; v->ref_kind = REF_LINE_STR; v->u = rd_fixed(r, os); break;
    case 0x20: rd_skip(r, 8); break;
    case 0x21: v->kind = V_SINT; v->u = (uint64_t)implicit; break;
    case 0x22: v->kind = V_UINT; v->u = rd_uleb(r); break;
    case 0x23: v->kind = V_UINT; v->u = rd_uleb(r); break; /* rnglistx */
    case 0x24: rd_skip(r, 8); break;
    case 0x25: v->kind = V_STRREF; v->ref_kind = 5; v->u = rd_fixed(r, 1); break;
    case 0x26: v->kind = V_STRREF; v->ref_kind = 5; v->u = rd_fixed(r, 2); break;
    case 0x27: v->kind = V_STRREF; v->ref_kind = 5; v->u = rd_fixed(r, 3); break;
    case 0x28: v->kind = V_STRREF; v->ref_kind = 5; v->u = rd_fixed(r, 4); break;
    case 0x29: v->kind = V_ADDRX; v->u = rd_fixed(r, 1); break;
    case 0x2a: v->kind = V_ADDRX; v->u = rd_fixed(r, 2); break;
    case 0x2b: v->kind = V_ADDRX; v->u = rd_fixed(r, 3); break;
    case 0x2c: v->kind = V_ADDRX; v->u = rd_fixed(r, 4); break;
    case 0x1f01: v->kind = V_ADDRX; v->u = rd_uleb(r); break;
    case 0x1f02: v->kind = V_STRREF; v->ref_kind = 5; v->u = rd_uleb(r); break;
    case 0x1f20: case 0x1f21: rd_skip(r, (uint64_t)os); break;
    default: return 0;
    }
    return !r->bad;
}

/* The attributes a scope needs, read from one DIE. */
typedef struct {
    uint64_t tag; int children;
    attr_value name, linkage_name, low_pc, high_pc, ranges, origin, specification;
    attr_value decl_file, decl_line, call_file, call_line, comp_dir, stmt_list;
    attr_value str_offsets_base, addr_base, rnglists_base, sibling;
} die_attrs;

/* Reads the DIE at ``*r``; returns 0 for the null entry (ends a sibling list), -1 on damage, 1 otherwise. */
static int read_die(reader *r, const cu_header *h, const abbrev_table *t, die_attrs *d, const uint8_t *info_base) {
    uint64_t code = rd_uleb(r);
    if (r->bad) return -1;
    if (code == 0) return 0;
    const abbrev *a = abbrev_find(t, code);
    if (!a) return -1;
    /* Only the kinds: clearing the whole struct per DIE showed up as a tenth of the time. */
    d->name.kind = d->linkage_name.kind = d->low_pc.kind = d->high_pc.kind = d->ranges.kind = V_NONE;
    d->origin.kind = d->specification.kind = d->decl_file.kind = d->decl_line.kind = V_NONE;
    d->call_file.kind = d->call_line.kind = d->comp_dir.kind = d->stmt_list.kind = V_NONE;
    d->str_offsets_base.kind = d->addr_base.kind = d->rnglists_base.kind = d->sibling.kind = V_NONE;
    d->tag = a->tag; d->children = a->children;
    for (uint32_t i = 0; i < a->count; i++) {
        const attr_spec *s = &t->specs[a->first + i];
        attr_value v;
        if (!read_form(r, h, s->form, s->implicit, &v, info_base)) return -1;
        attr_value *slot = NULL;
        switch (s->attr) {
        case 0x03: slot = &d->name; break;
        case 0x6e: slot = &d->linkage_name; break;
        case 0x11: slot = &d->low_pc; break;
        case 0x12: slot = &d->high_pc; break;
        case 0x55: slot = &d->ranges; break;
        case 0x31: slot = &d->origin; break;
        case 0x47: slot = &d->specification; break;
        case 0x3a: slot = &d->decl_file; break;
        case 0x3b: slot = &d->decl_line; break;
        case 0x58: slot = &d->call_file; break;
        case 0x59: slot = &d->call_line; break;
        case 0x1b: slot = &d->comp_dir; break;
        case 0x10: slot = &d->stmt_list; break;
        case 0x72: slot = &d->str_offsets_base; break;
        case 0x73: slot = &d->addr_base; break;
        case 0x74: slot = &d->rnglists_base; break;
        case 0x01: slot = &d->sibling; break;
        }
        /* pyelftools keeps the last of repeated attributes (a dict); so do we. */
        if (slot) *slot = v;
    }
    return 1;
}

static int read_die_at(lp_ctx *c, uint64_t offset, cu_header **owner, die_attrs *d) {
    cu_header *h = cu_containing(c, offset);
    if (!h || offset < h->die_start) return 0;
    abbrev_table *t = table_for(c, h);
    if (!t) return 0;
    reader r = at(&c->sec[SEC_INFO], offset);
    r.end = c->sec[SEC_INFO].p + h->end;
    *owner = h;
    return read_die(&r, h, t, d, c->sec[SEC_INFO].p) == 1;
}

/* ---- results ------------------------------------------------------------------------------------ */

typedef struct {
    /* CU */
    int version; int address_size;
    int unit_name_kind; uint64_t unit_name_off;
    int comp_dir_kind; uint64_t comp_dir_off;
    int has_line_program;
    uint64_t line_claimed_end; /* where the line program says it ends (past the section: truncated) */
    /* line program header: file table */
    int line_version;
    uint64_t n_dirs; uint8_t *dir_kind; uint64_t *dir_off;
    uint64_t n_files; uint8_t *file_kind; uint64_t *file_off; uint64_t *file_dir;
    uint8_t *file_md5; /* 16 bytes a file (DW_LNCT_MD5), all zero when absent */
    uint8_t *file_has_md5;
    /* rows, sorted as dwarf_index.py sorts them */
    uint64_t n_rows; uint64_t *row_address; uint64_t *row_file; int64_t *row_line; uint64_t *row_column;
    uint8_t *row_end_sequence;
    /* scopes, in DIE order */
    uint64_t n_scopes; uint64_t *scope_die; uint16_t *scope_depth; uint8_t *scope_inlined;
    int64_t *scope_name; int64_t *scope_decl_file; int64_t *scope_decl_line;
    int64_t *scope_call_file; int64_t *scope_call_line;
    /* unique function names, referenced by scope_name */
    uint64_t n_names; uint8_t *names_kind; uint64_t *names_off;
    /* scope ranges: (low, high, scope), sorted as dwarf_index.py sorts them, with the
       index of the nearest enclosing range (-1 for none) */
    uint64_t n_ranges; uint64_t *range_low; uint64_t *range_high; uint64_t *range_scope; int64_t *range_parent;
    /* what went wrong, if anything; rows and scopes decoded before it are kept */
    char line_error[200];
    char scope_error[200];
} lp_unit;

static void set_error(char *where, const char *what, uint64_t offset) {
    if (!where[0]) snprintf(where, 200, "%s at 0x%llx", what, (unsigned long long)offset);
}

/* ---- strings ------------------------------------------------------------------------------------ */

static void str_ref(lp_ctx *c, const cu_header *h, const attr_value *v, int *kind, uint64_t *off) {
    *kind = REF_NONE; *off = 0;
    if (v->kind != V_STRREF) return;
    if (v->ref_kind != 5) { *kind = v->ref_kind; *off = v->u; return; }
    /* .debug_str_offsets: pyelftools needs DW_AT_str_offsets_base on the unit's top DIE */
    if (!h->has_str_offsets_base) return;
    reader r = at(&c->sec[SEC_STR_OFFSETS], h->str_offsets_base + v->u * (uint64_t)h->offset_size);
    uint64_t o = rd_fixed(&r, h->offset_size);
    if (!r.bad) { *kind = REF_STR; *off = o; }
}

/* ---- line programs (DWARF 5 section 6.2) ---------------------------------------------------------- */

typedef struct { uint64_t address, file, column; int64_t line; uint8_t end_sequence; uint64_t order; } row;

static int row_cmp(const void *a, const void *b) {
    const row *x = a, *y = b;
    if (x->address != y->address) return x->address < y->address ? -1 : 1;
    /* end-of-sequence rows first at equal addresses; otherwise emission order (a stable sort) */
    if (x->end_sequence != y->end_sequence) return x->end_sequence ? -1 : 1;
    return x->order < y->order ? -1 : (x->order > y->order);
}

static int entry_format_value(reader *r, const cu_header *h, int offset_size, uint64_t form, int *kind, uint64_t *u,
                              const uint8_t *line_base) {
    cu_header fake = *h; fake.offset_size = offset_size;
    attr_value v;
    if (!read_form(r, &fake, form, 0, &v, line_base)) return 0;
    *kind = REF_NONE; *u = v.u;
    if (v.kind == V_STRREF) {
        *kind = v.ref_kind == REF_INFO ? REF_LINE : v.ref_kind;
        if (*kind == 5) *kind = REF_NONE; /* no string offsets table for line headers */
    }
    return 1;
}

static void decode_lines(lp_ctx *c, const cu_header *h, uint64_t offset, lp_unit *u) {
    const lp_buf *sec = &c->sec[SEC_LINE];
    reader r = at(sec, offset);
    uint64_t length = rd_fixed(&r, 4);
    int os = 4;
    if (length == 0xffffffffu) { length = rd_fixed(&r, 8); os = 8; }
    if (r.bad) { set_error(u->line_error, "line program header unreadable", offset); return; }
    uint64_t after_length = (uint64_t)(r.p - sec->p);
    uint64_t end = after_length + length;
    u->line_claimed_end = length > UINT64_MAX - after_length ? UINT64_MAX : end;
    if (length > sec->n - after_length) end = sec->n; /* truncated: dwarf_index.py says so */
    int version = (int)rd_fixed(&r, 2);
    u->line_version = version;
    int address_size = h->address_size;
    if (version >= 5) { address_size = (int)rd_fixed(&r, 1); rd_fixed(&r, 1); }
    uint64_t header_length = rd_fixed(&r, os);
    uint64_t program_start = (uint64_t)(r.p - sec->p) + header_length;
    uint64_t min_inst = rd_fixed(&r, 1);
    uint64_t max_ops = version >= 4 ? rd_fixed(&r, 1) : 1;
    int default_is_stmt = (int)rd_fixed(&r, 1); (void)default_is_stmt;
    int line_base = (int)(int8_t)rd_fixed(&r, 1);
    uint64_t line_range = rd_fixed(&r, 1);
    uint64_t opcode_base = rd_fixed(&r, 1);
    for (uint64_t i = 1; i < opcode_base; i++) rd_fixed(&r, 1);
    if (r.bad || version < 2 || version > 5) { set_error(u->line_error, "line program header unreadable", offset); return; }
    vec dk = { 0, 0, 0, 1 }, doff = { 0, 0, 0, 8 }, fk = { 0, 0, 0, 1 }, foff = { 0, 0, 0, 8 }, fdir = { 0, 0, 0, 8 };
    vec fmd5 = { 0, 0, 0, 16 }, fhas = { 0, 0, 0, 1 };
    if (version >= 5) {
        for (int table = 0; table < 2 && !r.bad; table++) {
            uint64_t n_formats = rd_fixed(&r, 1);
            uint64_t types[32], forms[32];
            if (n_formats > 32) { r.bad = 1; break; }
            for (uint64_t i = 0; i < n_formats; i++) { types[i] = rd_uleb(&r); forms[i] = rd_uleb(&r); }
            uint64_t count = rd_uleb(&r);
            for (uint64_t e = 0; e < count && !r.bad; e++) {
                /* Every form a line header allows takes at least a byte: an entry that takes
                   none would let a count of 2^64 spin (found by the fuzz harness). */
                const uint8_t *entry_start = r.p;
                uint8_t name_kind = REF_NONE; uint64_t name_off = 0, dir = 0;
                uint8_t md5[16] = { 0 }, has_md5 = 0;
                for (uint64_t i = 0; i < n_formats && !r.bad; i++) {
                    int kind; uint64_t value;
                    const uint8_t *value_at = r.p;
                    if (!entry_format_value(&r, h, os, forms[i], &kind, &value, sec->p)) { r.bad = 1; break; }
                    if (types[i] == 5 && forms[i] == 0x1e) { memcpy(md5, value_at, 16); has_md5 = 1; } /* DW_LNCT_MD5 */
                    if (types[i] == 1) { name_kind = (uint8_t)kind; name_off = value; } /* DW_LNCT_path */
                    else if (types[i] == 2) dir = value;                                /* DW_LNCT_directory_index */
                }
                if (r.bad || r.p == entry_start) { r.bad = 1; break; }
                int ok = table == 0 ? vec_push(&dk, &name_kind) && vec_push(&doff, &name_off)
                                    : vec_push(&fk, &name_kind) && vec_push(&foff, &name_off) && vec_push(&fdir, &dir)
                                      && vec_push(&fmd5, md5) && vec_push(&fhas, &has_md5);
                if (!ok) { r.bad = 1; break; }
            }
        }
    } else {
        for (;;) {
            if (r.p >= r.end) { r.bad = 1; break; }
            if (*r.p == 0) { r.p++; break; }
            uint8_t kind = REF_LINE; uint64_t off = (uint64_t)(r.p - sec->p);
            rd_cstr(&r);
            if (r.bad) break;
            vec_push(&dk, &kind); vec_push(&doff, &off);
        }
        while (!r.bad) {
            if (r.p >= r.end) { r.bad = 1; break; }
            if (*r.p == 0) { r.p++; break; }
            uint8_t kind = REF_LINE; uint64_t off = (uint64_t)(r.p - sec->p);
            rd_cstr(&r);
            uint64_t dir = rd_uleb(&r); rd_uleb(&r); rd_uleb(&r);
            if (r.bad) break;
            uint8_t md5[16] = { 0 }, has_md5 = 0;
            vec_push(&fk, &kind); vec_push(&foff, &off); vec_push(&fdir, &dir);
            vec_push(&fmd5, md5); vec_push(&fhas, &has_md5);
        }
    }
    u->n_dirs = dk.len; u->dir_kind = dk.p; u->dir_off = doff.p;
    u->n_files = fk.len; u->file_kind = fk.p; u->file_off = foff.p; u->file_dir = fdir.p;
    u->file_md5 = fmd5.p; u->file_has_md5 = fhas.p;
    if (fmd5.len != fk.len || fhas.len != fk.len) { u->n_files = 0; r.bad = 1; }
    if (r.bad) { set_error(u->line_error, "line program header unreadable", offset); return; }
    u->has_line_program = 1;
    if (line_range == 0 || max_ops == 0) { set_error(u->line_error, "line program divides by zero", offset); return; }

    vec rows = { 0, 0, 0, sizeof(row) };
    reader p = at(sec, program_start);
    if (end < program_start) end = program_start;
    p.end = sec->p + (end < sec->n ? end : sec->n);
    row st; uint64_t op_index = 0, order = 0;
#define RESET() do { memset(&st, 0, sizeof st); st.file = 1; st.line = 1; op_index = 0; } while (0)
#define EMIT() do { st.order = order++; if (!vec_push(&rows, &st)) { p.bad = 1; } } while (0)
    RESET();
    while (p.p < p.end && !p.bad) {
        uint64_t opcode = rd_fixed(&p, 1);
        if (p.bad) break;
        if (opcode >= opcode_base) {
            uint64_t adjusted = opcode - opcode_base, advance = adjusted / line_range;
            st.address += min_inst * ((op_index + advance) / max_ops);
            op_index = (op_index + advance) % max_ops;
            st.line += line_base + (int64_t)(adjusted % line_range);
            EMIT();
        } else if (opcode == 0) {
            uint64_t len = rd_uleb(&p);
            uint64_t ex = rd_fixed(&p, 1);
            if (p.bad) break;
            if (ex == 1) { st.end_sequence = 1; EMIT(); RESET(); }
            else if (ex == 2) st.address = rd_fixed(&p, address_size);
            else if (ex == 3) { rd_cstr(&p); rd_uleb(&p); rd_uleb(&p); rd_uleb(&p); }
            else if (ex == 4) rd_uleb(&p);
            else { if (len == 0) { p.bad = 1; break; } rd_skip(&p, len - 1); }
        } else {
            switch (opcode) {
            case 1: EMIT(); break;
            case 2: st.address += rd_uleb(&p) * min_inst; break;
            case 3: st.line += rd_sleb(&p); break;
            case 4: st.file = rd_uleb(&p); break;
            case 5: st.column = rd_uleb(&p); break;
            case 6: case 7: case 10: case 11: break;
            case 8: st.address += ((255 - opcode_base) / line_range) * min_inst; break;
            case 9: st.address += rd_fixed(&p, 2); break;
            case 12: rd_uleb(&p); break;
            default:
                /* pyelftools rejects the whole program here; so do we, to give the same rows */
                set_error(u->line_error, "invalid standard opcode in line program", (uint64_t)(p.p - sec->p));
                free(rows.p);
                return;
            }
        }
    }
#undef RESET
#undef EMIT
    if (p.bad) {
        /* pyelftools raises on a program cut short, losing every row; the same here */
        set_error(u->line_error, "line program cut short", (uint64_t)(p.p - sec->p));
        free(rows.p);
        return;
    }
    /* Sequences usually come in address order already: sort only when they do not. */
    const row *check = rows.p;
    int sorted = 1;
    for (uint64_t i = 1; i < rows.len && sorted; i++) sorted = row_cmp(&check[i - 1], &check[i]) <= 0;
    if (!sorted) qsort(rows.p, rows.len, sizeof(row), row_cmp);
    u->n_rows = rows.len;
    uint64_t n = rows.len ? rows.len : 1;
    u->row_address = malloc(n * 8); u->row_file = malloc(n * 8); u->row_line = malloc(n * 8);
    u->row_column = malloc(n * 8); u->row_end_sequence = malloc(n);
    if (!u->row_address || !u->row_file || !u->row_line || !u->row_column || !u->row_end_sequence) {
        u->n_rows = 0; free(rows.p); set_error(u->line_error, "out of memory", offset); return;
    }
    const row *rs = rows.p;
    for (uint64_t i = 0; i < rows.len; i++) {
        u->row_address[i] = rs[i].address; u->row_file[i] = rs[i].file; u->row_line[i] = rs[i].line;
        u->row_column[i] = rs[i].column; u->row_end_sequence[i] = rs[i].end_sequence;
    }
    free(rows.p);
}

/* ---- scopes ------------------------------------------------------------------------------------- */

static int address_of(lp_ctx *c, const cu_header *h, const attr_value *v, uint64_t *out) {
    if (v->kind == V_ADDRX) {
        if (!h->has_addr_base || !c->sec[SEC_ADDR].p) return 0;
        reader r = at(&c->sec[SEC_ADDR], h->addr_base + v->u * (uint64_t)h->address_size);
        *out = rd_fixed(&r, h->address_size);
        return !r.bad;
    }
    *out = v->u;
    return v->kind != V_NONE && v->kind != V_OTHER && v->kind != V_STRREF;
}

/* ``budget`` bounds the range-list entries one unit may read: many DIEs sharing one long
   list would otherwise cost DIEs x entries. */
#define RANGE_ENTRY_BUDGET (64ull << 20)
typedef struct { vec *low, *high, *scope; uint64_t scope_index; uint64_t budget; } range_sink;

static void push_range(range_sink *s, uint64_t low, uint64_t high) {
    if (high <= low) return;
    vec_push(s->low, &low); vec_push(s->high, &high); vec_push(s->scope, &s->scope_index);
}

/* The DIE's ranges, as dwarf_index.py's _die_ranges reads them; returns how many were added. */
static uint64_t die_ranges(lp_ctx *c, const cu_header *h, const die_attrs *d, range_sink *s, char *error) {
    uint64_t before = s->low->len;
    if (d->low_pc.kind != V_NONE && d->high_pc.kind != V_NONE) {
        uint64_t low, high;
        if (!address_of(c, h, &d->low_pc, &low)) { set_error(error, "unreadable low_pc", h->offset); return 0; }
        uint64_t f = d->high_pc.form;
        if (f == 0x01 || f == 0x1b || (f >= 0x29 && f <= 0x2c) || f == 0x1f01) {
            if (!address_of(c, h, &d->high_pc, &high)) { set_error(error, "unreadable high_pc", h->offset); return 0; }
        } else {
            high = low + d->high_pc.u;
        }
        push_range(s, low, high);
    } else if (d->ranges.kind != V_NONE) {
        /* Both sections: the unit's version picks one; one section: it is used for every unit. */
        int v5;
        if (c->sec[SEC_RNGLISTS].p && c->sec[SEC_RANGES].p) v5 = h->version >= 5;
        else if (c->sec[SEC_RNGLISTS].p) v5 = 1;
        else if (c->sec[SEC_RANGES].p) v5 = 0;
        else return 0;
        uint64_t base = h->low_pc, offset = d->ranges.u;
        if (d->ranges.form == 0x23) { set_error(error, "DW_FORM_rnglistx not supported", h->offset); return 0; }
        if (!v5) {
            reader r = at(&c->sec[SEC_RANGES], offset);
            for (;;) {
                if (s->budget == 0) { set_error(error, "range lists too long", offset); break; }
                s->budget--;
                uint64_t b = rd_fixed(&r, 8), e = rd_fixed(&r, 8); /* pyelftools reads the file's address size */
                if (r.bad) { set_error(error, "range list cut short", offset); break; }
                if (b == 0 && e == 0) break;
                if (b == ~(uint64_t)0) { base = e; continue; }
                push_range(s, base + b, base + e);
            }
        } else {
            reader r = at(&c->sec[SEC_RNGLISTS], offset);
            for (;;) {
                if (s->budget == 0) { set_error(error, "range lists too long", offset); break; }
                s->budget--;
                uint64_t kind = rd_fixed(&r, 1), a, b;
                attr_value x; x.kind = V_ADDRX;
                if (r.bad) { set_error(error, "range list cut short", offset); break; }
                if (kind == 0) break;
                switch (kind) {
                case 1: x.u = rd_uleb(&r); if (!address_of(c, h, &x, &base)) goto bad; break;
                case 2: x.u = rd_uleb(&r); if (!address_of(c, h, &x, &a)) goto bad;
                        x.u = rd_uleb(&r); if (!address_of(c, h, &x, &b)) goto bad; push_range(s, a, b); break;
                case 3: x.u = rd_uleb(&r); if (!address_of(c, h, &x, &a)) goto bad;
                        b = rd_uleb(&r); push_range(s, a, a + b); break;
                case 4: a = rd_uleb(&r); b = rd_uleb(&r); push_range(s, base + a, base + b); break;
                case 5: base = rd_fixed(&r, h->address_size); break;
                case 6: a = rd_fixed(&r, h->address_size); b = rd_fixed(&r, h->address_size); push_range(s, a, b); break;
                case 7: a = rd_fixed(&r, h->address_size); b = rd_uleb(&r); push_range(s, a, a + b); break;
                default: goto bad;
                }
                if (r.bad) { set_error(error, "range list cut short", offset); break; }
            }
            return s->low->len - before;
        bad:
            set_error(error, "unreadable range list", offset);
        }
    }
    return s->low->len - before;
}

typedef struct { int kind; uint64_t off; } name_key;

static int64_t intern_name(vec *names, uint64_t **slots, uint64_t *cap, int kind, uint64_t off) {
    /* open addressing on (kind, offset); slots hold index+1 */
    if (kind == REF_NONE) return -1;
    if (names->len * 2 >= *cap) {
        uint64_t ncap = *cap ? *cap * 2 : 1024;
        uint64_t *ns = calloc(ncap, 8);
        if (!ns) return -1;
        const name_key *keys = names->p;
        for (uint64_t i = 0; i < names->len; i++) {
            uint64_t hsh = (keys[i].off * 0x9E3779B97F4A7C15ull + (uint64_t)keys[i].kind) & (ncap - 1);
            while (ns[hsh]) hsh = (hsh + 1) & (ncap - 1);
            ns[hsh] = i + 1;
        }
        free(*slots); *slots = ns; *cap = ncap;
    }
    uint64_t hsh = (off * 0x9E3779B97F4A7C15ull + (uint64_t)kind) & (*cap - 1);
    const name_key *keys = names->p;
    while ((*slots)[hsh]) {
        const name_key *k = &keys[(*slots)[hsh] - 1];
        if (k->kind == kind && k->off == off) return (int64_t)((*slots)[hsh] - 1);
        hsh = (hsh + 1) & (*cap - 1);
    }
    name_key k = { kind, off };
    if (!vec_push(names, &k)) return -1;
    (*slots)[hsh] = names->len;
    return (int64_t)(names->len - 1);
}

static int64_t small_int(const attr_value *v) {
    if (v->kind != V_UINT && v->kind != V_SINT) return -1;
    int64_t x = (int64_t)v->u;
    if (v->kind == V_UINT && v->u > 0x7fffffffull) return -1;
    return x >= 0 && x <= 0x7fffffff ? x : -1;
}

typedef struct { uint64_t low, high, scope, die, order; uint16_t depth; } range_key;

static int range_cmp(const void *a, const void *b) {
    const range_key *x = a, *y = b;
    if (x->low != y->low) return x->low < y->low ? -1 : 1;
    if (x->high != y->high) return x->high > y->high ? -1 : 1; /* enclosing ranges first */
    if (x->depth != y->depth) return x->depth < y->depth ? -1 : 1;
    if (x->die != y->die) return x->die < y->die ? -1 : 1;
    return x->order < y->order ? -1 : (x->order > y->order);
}

/* Sorts the ranges and links each to the nearest range before it that encloses it. */
static void sort_ranges(lp_unit *u) {
    uint64_t n = u->n_ranges;
    range_key *keys = malloc((n ? n : 1) * sizeof *keys);
    int64_t *parent = malloc((n ? n : 1) * sizeof *parent);
    int64_t *stack = malloc((n ? n : 1) * sizeof *stack);
    if (!keys || !parent || !stack) { free(keys); free(parent); free(stack); u->n_ranges = 0; return; }
    for (uint64_t i = 0; i < n; i++) {
        uint64_t sc = u->range_scope[i];
        keys[i] = (range_key){ u->range_low[i], u->range_high[i], sc, u->scope_die[sc], i, u->scope_depth[sc] };
    }
    qsort(keys, n, sizeof *keys, range_cmp);
    uint64_t top = 0;
    for (uint64_t i = 0; i < n; i++) {
        while (top && keys[stack[top - 1]].high < keys[i].high) top--;
        parent[i] = top ? stack[top - 1] : -1;
        stack[top++] = (int64_t)i;
        u->range_low[i] = keys[i].low; u->range_high[i] = keys[i].high; u->range_scope[i] = keys[i].scope;
    }
    u->range_parent = parent;
    free(keys); free(stack);
}

int lp_decode_unit(lp_ctx *c, uint64_t cu_offset, lp_unit *u) {
    memset(u, 0, sizeof *u);
    cu_header *h = cu_containing(c, cu_offset);
    if (!h || h->offset != cu_offset) { set_error(u->scope_error, "no compilation unit", cu_offset); return 0; }
    abbrev_table *t = table_for(c, h);
    if (!t) { set_error(u->scope_error, "abbreviation table unreadable", h->abbrev_offset); return 0; }
    const uint8_t *info = c->sec[SEC_INFO].p;
    reader r = at(&c->sec[SEC_INFO], h->die_start);
    r.end = info + h->end;
    die_attrs top;
    if (read_die(&r, h, t, &top, info) != 1) { set_error(u->scope_error, "top DIE unreadable", h->die_start); return 0; }
    u->version = h->version; u->address_size = h->address_size;
    if (top.str_offsets_base.kind == V_UINT) { h->str_offsets_base = top.str_offsets_base.u; h->has_str_offsets_base = 1; }
    if (top.addr_base.kind == V_UINT) { h->addr_base = top.addr_base.u; h->has_addr_base = 1; }
    h->low_pc = 0;
    if (top.low_pc.kind != V_NONE) address_of(c, h, &top.low_pc, &h->low_pc);
    h->top_read = 1;
    int k; uint64_t o;
    str_ref(c, h, &top.name, &k, &o); u->unit_name_kind = k; u->unit_name_off = o;
    str_ref(c, h, &top.comp_dir, &k, &o); u->comp_dir_kind = k; u->comp_dir_off = o;
    if (top.stmt_list.kind == V_UINT && c->sec[SEC_LINE].p) decode_lines(c, h, top.stmt_list.u, u);

    vec die = { 0, 0, 0, 8 }, depth = { 0, 0, 0, 2 }, inl = { 0, 0, 0, 1 }, nm = { 0, 0, 0, 8 };
    vec dfile = { 0, 0, 0, 8 }, dline = { 0, 0, 0, 8 }, cfile = { 0, 0, 0, 8 }, cline = { 0, 0, 0, 8 };
    vec low = { 0, 0, 0, 8 }, high = { 0, 0, 0, 8 }, scope = { 0, 0, 0, 8 };
    vec names = { 0, 0, 0, sizeof(name_key) };
    uint64_t *slots = NULL, slot_cap = 0;
    range_sink sink = { &low, &high, &scope, 0, RANGE_ENTRY_BUDGET };
    /* One entry per open level of the tree: are its children walked, and at which scope depth. */
    static const int max_level = MAX_TREE_LEVEL;
    uint8_t *walk = malloc(max_level); uint16_t *level_depth = malloc(max_level * sizeof(uint16_t));
    int level = 0;
    if (!walk || !level_depth) { set_error(u->scope_error, "out of memory", cu_offset); goto done; }
    if (top.children) { walk[0] = 1; level_depth[0] = 0; level = 1; }
    while (level > 0 && r.p < r.end) {
        uint64_t offset = (uint64_t)(r.p - info);
        die_attrs d;
        int got = read_die(&r, h, t, &d, info);
        if (got < 0) { set_error(u->scope_error, "DIE unreadable", offset); break; }
        if (got == 0) { level--; continue; }
        int walked = walk[level - 1];
        uint16_t dep = level_depth[level - 1];
        uint16_t next = dep;
        int is_scope = d.tag == 0x2e || d.tag == 0x1d;
        if (walked && is_scope) {
            sink.scope_index = die.len;
            if (die_ranges(c, h, &d, &sink, u->scope_error)) {
                uint8_t inlined = d.tag == 0x1d;
                /* the DIE that carries the name: DW_AT_abstract_origin, else DW_AT_specification */
                die_attrs origin = d; cu_header *oh = h;
                for (int hop = 0; hop < MAX_ORIGIN_HOPS; hop++) {
                    const attr_value *ref = origin.origin.kind != V_NONE ? &origin.origin
                                          : origin.specification.kind != V_NONE ? &origin.specification : NULL;
                    if (!ref) break;
                    die_attrs next_die; cu_header *nh;
                    if (ref->kind != V_REF || !read_die_at(c, ref->u, &nh, &next_die)) {
                        memset(&origin, 0, sizeof origin); break; /* unreadable: no name, as in Python */
                    }
                    if (nh != h && !nh->top_read) { /* the other unit's string offsets base */
                        die_attrs ntop; reader nr = at(&c->sec[SEC_INFO], nh->die_start);
                        nr.end = info + nh->end;
                        abbrev_table *nt = table_for(c, nh);
                        if (nt && read_die(&nr, nh, nt, &ntop, info) == 1 && ntop.str_offsets_base.kind == V_UINT) {
                            nh->str_offsets_base = ntop.str_offsets_base.u; nh->has_str_offsets_base = 1;
                        }
                        nh->top_read = 1;
                    }
                    origin = next_die; oh = nh;
                }
                int nk; uint64_t no;
                str_ref(c, oh, &origin.name, &nk, &no);
                if (nk == REF_NONE) str_ref(c, oh, &origin.linkage_name, &nk, &no);
                int64_t name_index = intern_name(&names, &slots, &slot_cap, nk, no);
                int64_t decl_file = oh == h ? small_int(&origin.decl_file) : -1;
                int64_t decl_line = small_int(&origin.decl_line);
                int64_t call_file = inlined ? small_int(&d.call_file) : -1;
                int64_t call_line = inlined ? small_int(&d.call_line) : -1;
                vec_push(&die, &offset); vec_push(&depth, &dep); vec_push(&inl, &inlined);
                vec_push(&nm, &name_index); vec_push(&dfile, &decl_file); vec_push(&dline, &decl_line);
                vec_push(&cfile, &call_file); vec_push(&cline, &call_line);
            }
            next = (uint16_t)(dep + 1);
        }
        if (d.children) {
            if (level >= max_level) { set_error(u->scope_error, "DIE tree too deep", offset); break; }
            uint64_t tag = d.tag;
            int parent = tag == 0x2e || tag == 0x1d || tag == 0x0b || tag == 0x39 || tag == 0x02 || tag == 0x13;
            int walk_children = walked && parent && dep < MAX_SCOPE_DEPTH;
            /* A subtree that is not walked is jumped over when the producer says where it ends
               (DW_AT_sibling, a reference within this unit, forward only). */
            if (!walk_children && d.sibling.kind == V_REF && d.sibling.u > offset
                && d.sibling.u < h->end && d.sibling.form != 0x10) {
                r.p = info + d.sibling.u;
                continue;
            }
            walk[level] = (uint8_t)walk_children;
            level_depth[level] = next;
            level++;
        }
    }
done:
    free(walk); free(level_depth); free(slots);
    u->n_scopes = die.len;
    u->scope_die = die.p; u->scope_depth = depth.p; u->scope_inlined = inl.p; u->scope_name = nm.p;
    u->scope_decl_file = dfile.p; u->scope_decl_line = dline.p; u->scope_call_file = cfile.p; u->scope_call_line = cline.p;
    u->n_ranges = low.len; u->range_low = low.p; u->range_high = high.p; u->range_scope = scope.p;
    if (u->n_ranges && u->n_scopes) sort_ranges(u);
    u->n_names = names.len;
    u->names_kind = malloc(names.len ? names.len : 1); u->names_off = malloc((names.len ? names.len : 1) * 8);
    if (u->names_kind && u->names_off) {
        const name_key *keys = names.p;
        for (uint64_t i = 0; i < names.len; i++) { u->names_kind[i] = (uint8_t)keys[i].kind; u->names_off[i] = keys[i].off; }
    } else {
        u->n_names = 0;
    }
    free(names.p);
    return 1;
}

void lp_free_unit(lp_unit *u) {
    free(u->dir_kind); free(u->dir_off); free(u->file_kind); free(u->file_off); free(u->file_dir);
    free(u->file_md5); free(u->file_has_md5);
    free(u->row_address); free(u->row_file); free(u->row_line); free(u->row_column); free(u->row_end_sequence);
    free(u->scope_die); free(u->scope_depth); free(u->scope_inlined); free(u->scope_name);
    free(u->scope_decl_file); free(u->scope_decl_line); free(u->scope_call_file); free(u->scope_call_line);
    free(u->names_kind); free(u->names_off);
    free(u->range_low); free(u->range_high); free(u->range_scope); free(u->range_parent);
    memset(u, 0, sizeof *u);
}

uint64_t lp_unit_size(void) { return sizeof(lp_unit); }

/* The units lp_open found, by index: the fuzz harness decodes each of them. */
uint64_t lp_unit_count(const lp_ctx *c) { return c->n_cus; }
uint64_t lp_unit_offset(const lp_ctx *c, uint64_t i) { return i < c->n_cus ? c->cus[i].offset : UINT64_MAX; }

/* ---- lookups -------------------------------------------------------------------------------------- */

/* The last index whose value is <= key in a sorted array, or -1 (bisect_right - 1). */
static int64_t last_at_or_below(const uint64_t *sorted, uint64_t n, uint64_t key) {
    uint64_t lo = 0, hi = n;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] <= key) lo = mid + 1; else hi = mid;
    }
    return (int64_t)lo - 1;
}

/*
 * One unit as lp_frames reads it: where the fields of unit_index.ARRAY_FIELDS it needs are, and
 * their lengths; then where the unit's names and files start in the batch's numbering of all
 * names and all files (so a record's name or file is one number across units). Every field is
 * 8 bytes: the Python side fills an array of LP_VIEW_WORDS words per unit.
 */
typedef struct {
    const uint64_t *row_address; const uint64_t *row_file; const int64_t *row_line;
    const uint64_t *row_column; const uint8_t *row_end_sequence; uint64_t n_rows;
    const int64_t *scope_name; const uint8_t *scope_inlined; const int64_t *scope_decl_file;
    const int64_t *scope_decl_line; const int64_t *scope_call_file; const int64_t *scope_call_line;
    uint64_t n_scopes;
    const uint64_t *range_low; const uint64_t *range_high; const uint64_t *range_scope;
    const int64_t *range_parent; uint64_t n_ranges;
    uint64_t name_base; uint64_t n_names; uint64_t file_base; uint64_t n_files;
} lp_unit_view;

#define LP_VIEW_WORDS 22
_Static_assert(sizeof(lp_unit_view) == LP_VIEW_WORDS * 8, "lp_unit_view is LP_VIEW_WORDS words");
uint64_t lp_view_words(void) { return LP_VIEW_WORDS; }

#define LP_NONE INT64_MIN /* an absent line in a frame record */
#define LP_FRAME_FIELDS 7
#define LP_REDO UINT32_MAX /* the chain filled max_chain: the caller walks it without a limit */

/* A unit's name or file index as a batch-wide number; -1 when out of range (none). */
static int64_t numbered(int64_t index, uint64_t count, uint64_t base) {
    return index >= 0 && (uint64_t)index < count ? (int64_t)(base + (uint64_t)index) : -1;
}

/*
 * What unit_index.UnitIndex.frames_of builds from row_at and scope_chain, for a batch of
 * addresses, each in the unit units[unit_of[i]], as records of LP_FRAME_FIELDS integers,
 * innermost frame first: (name, file, line, column, inlined, declaration file, declaration
 * line), names and files numbered batch-wide (-1: none), LP_NONE for an absent line.
 * counts[i] is the number of records of addresses[i] (LP_REDO: see above), *used the number
 * of records written. Returns how many addresses were done: fewer than n when the next one's
 * records would pass `capacity` records; the caller calls again for the rest with more room.
 * `chain` is scratch room for max_chain scopes. Parents come strictly before their children
 * in the sorted ranges, so each walk ends.
 */
uint64_t lp_frames(const lp_unit_view *units, uint64_t n_units, const uint32_t *unit_of,
                   const uint64_t *addresses, uint64_t n, uint32_t max_chain, int64_t *chain,
                   int64_t *records, uint64_t capacity, uint32_t *counts, uint64_t *used_out) {
    uint64_t used = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (unit_of[i] >= n_units) { /* the caller's mistake: no frames rather than a wild read */
            counts[i] = 0;
            continue;
        }
        const lp_unit_view *u = units + unit_of[i];
        uint64_t address = addresses[i];
        uint32_t count = 0;
        int64_t r = last_at_or_below(u->range_low, u->n_ranges, address);
        while (r >= 0 && (uint64_t)r < u->n_ranges) {
            if (address < u->range_high[r]) {
                int64_t scope = (int64_t)u->range_scope[r];
                int seen = 0;
                for (uint32_t k = 0; k < count; k++) seen |= chain[k] == scope;
                if (!seen) {
                    if (count == max_chain) break;
                    chain[count++] = scope;
                }
            }
            int64_t parent = u->range_parent[r];
            if (parent >= r) break; /* a damaged cache file must not loop */
            r = parent;
        }
        if (count == max_chain) {
            counts[i] = LP_REDO;
            continue;
        }
        if (used + (count ? count : 1) > capacity) {
            *used_out = used;
            return i;
        }
        int64_t row = last_at_or_below(u->row_address, u->n_rows, address);
        int64_t file = -1, line = LP_NONE, column = 0;
        if (row >= 0 && !u->row_end_sequence[row]) {
            file = numbered((int64_t)u->row_file[row], u->n_files, u->file_base);
            line = u->row_line[row];
            column = (int64_t)u->row_column[row];
        }
        int64_t *out = records + used * LP_FRAME_FIELDS;
        uint32_t made = 0;
        if (count == 0) {
            int64_t lone[LP_FRAME_FIELDS] = {-1, file, line, column, 0, -1, LP_NONE};
            memcpy(out, lone, sizeof lone);
            made = 1;
        }
        for (uint32_t k = 0; k < count; k++) {
            int64_t scope = chain[k];
            if (scope < 0 || (uint64_t)scope >= u->n_scopes) break; /* only a damaged cache file */
            int inlined = u->scope_inlined[scope] != 0;
            int64_t decl_line = u->scope_decl_line[scope];
            int64_t record[LP_FRAME_FIELDS] = {
                numbered(u->scope_name[scope], u->n_names, u->name_base), file, line, column, inlined,
                numbered(u->scope_decl_file[scope], u->n_files, u->file_base),
                decl_line >= 0 ? decl_line : LP_NONE,
            };
            memcpy(out + made * LP_FRAME_FIELDS, record, sizeof record);
            made++;
            if (!inlined) break;
            /* The inlined scope's call site is the line in the scope that contains it. */
            file = numbered(u->scope_call_file[scope], u->n_files, u->file_base);
            line = u->scope_call_line[scope] >= 0 ? u->scope_call_line[scope] : LP_NONE;
            column = 0;
        }
        counts[i] = made;
        used += made;
    }
    *used_out = used;
    return n;
}
