/* herd-places-index: builds the offline places index from the derived
 * GeoNames file (server/geonames/places.tsv.gz). See places_index.h for
 * the format.
 *
 *   herd-places-index IN.tsv.gz OUT.idx
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <zlib.h>

#include "dynbuf.h"
#include "places_index.h"
#include "strparse.h"

struct row {
    struct offline_place p;
    uint32_t cell;
};

/* What the tool builds: the rows (sorted by cell once read), their
 * strings, and where each cell starts. */
struct build {
    struct row *rows;
    size_t n;
    size_t cap;
    struct dynbuf strings;
    uint32_t cell_start[OFFLINE_CELLS + 1];
};

static int kind_of(const char *code)
{
    if (strcmp(code, "PPLC") == 0)
        return OFFLINE_CAPITAL;
    if (strncmp(code, "PPLA", 4) == 0 || strcmp(code, "PPLG") == 0)
        return OFFLINE_ADMIN_SEAT;
    if (strcmp(code, "PPLX") == 0)
        return OFFLINE_SUBLOCALITY;
    return OFFLINE_LOCALITY;
}

static uint32_t cell_of(double lat, double lng)
{
    int r = (int)floor(lat + 90);
    int c = (int)floor(lng + 180);
    if (r < 0)
        r = 0;
    if (r >= OFFLINE_ROWS)
        r = OFFLINE_ROWS - 1;
    if (c < 0)
        c = 0;
    if (c >= OFFLINE_COLS)
        c = OFFLINE_COLS - 1;
    return (uint32_t)(r * OFFLINE_COLS + c);
}

static int by_cell(const void *a, const void *b)
{
    const struct row *x = a;
    const struct row *y = b;
    if (x->cell != y->cell)
        return x->cell < y->cell ? -1 : 1;
    if (x->p.population != y->p.population)
        return x->p.population > y->p.population ? -1 : 1;
    return x->p.id < y->p.id ? -1 : x->p.id > y->p.id;
}

static int add_string(struct dynbuf *s, const char *text, uint32_t *off)
{
    if (s->len > UINT32_MAX)
        return -1;
    *off = (uint32_t)s->len;
    return dynbuf_add(s, text, strlen(text) + 1);
}

static int parse_double(const char *t, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(t, &end);
    return (*t == '\0' || *end != '\0' || errno != 0 || !isfinite(*out)) ? -1
                                                                         : 0;
}

/* Cuts line at its tabs into f[]: at most 8 fields, the eighth ending at
 * the next tab (a ninth and later are ignored). Returns how many. */
static size_t split_fields(char *line, char *f[8])
{
    size_t nf = 0;
    for (char *p = line; nf < 8; nf++) {
        f[nf] = p;
        char *tab = strchr(p, '\t');
        if (tab == NULL) {
            nf++;
            break;
        }
        *tab = '\0';
        p = tab + 1;
    }
    return nf;
}

/* One line (its newline cut) into r: id, name, lat, lng, feature code,
 * country, region, population; the name and the vicinity ("Region, CC")
 * are appended to strings. Returns 0, EX_DATAERR when the row is malformed
 * (nothing appended) or EX_OSERR when out of memory. */
static int parse_row(char *line, struct row *r, struct dynbuf *strings)
{
    char *f[8];
    size_t nf = split_fields(line, f);
    uint64_t id;
    uint64_t pop;
    memset(r, 0, sizeof *r);
    if (nf != 8 || strparse_uint(f[0], strlen(f[0]), UINT32_MAX, &id) ||
        parse_double(f[2], &r->p.lat) || parse_double(f[3], &r->p.lng) ||
        strparse_uint(f[7], strlen(f[7]), UINT64_MAX, &pop) || r->p.lat < -90 ||
        r->p.lat > 90 || r->p.lng < -180 || r->p.lng > 180)
        return EX_DATAERR;
    r->p.id = (uint32_t)id;
    r->p.population = pop > UINT32_MAX ? UINT32_MAX : (uint32_t)pop;
    r->p.kind = (uint32_t)kind_of(f[4]);
    char vicinity[1024];
    if (f[6][0] != '\0')
        snprintf(vicinity, sizeof vicinity, "%.900s, %.8s", f[6], f[5]);
    else
        snprintf(vicinity, sizeof vicinity, "%.8s", f[5]);
    if (add_string(strings, f[1], &r->p.name) != 0 ||
        add_string(strings, vicinity, &r->p.vicinity) != 0)
        return EX_OSERR;
    r->cell = cell_of(r->p.lat, r->p.lng);
    return 0;
}

/* Appends r to b's rows, the array doubling from 65536. Returns 0 or
 * EX_OSERR when out of memory. */
static int push_row(struct build *b, const struct row *r)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 65536;
        struct row *v = realloc(b->rows, b->cap * sizeof *v);
        if (v == NULL)
            return EX_OSERR;
        b->rows = v;
    }
    b->rows[b->n++] = *r;
    return 0;
}

/* Every line of in (read from path) into b's rows and strings. Returns 0
 * or the exit code, its message printed: the first bad line stops. */
static int read_rows(gzFile in, const char *path, struct build *b)
{
    char line[4096];
    unsigned long lineno = 0;
    while (gzgets(in, line, sizeof line) != NULL) {
        lineno++;
        size_t len = strlen(line);
        if (len == 0 || line[len - 1] != '\n') {
            fprintf(stderr, "%s:%lu: line too long or cut\n", path, lineno);
            return EX_DATAERR;
        }
        line[len - 1] = '\0';
        struct row r;
        int rc = parse_row(line, &r, &b->strings);
        if (rc == 0)
            rc = push_row(b, &r);
        if (rc == EX_DATAERR)
            fprintf(stderr, "%s:%lu: malformed row\n", path, lineno);
        else if (rc == EX_OSERR)
            fprintf(stderr, "herd-places-index: out of memory\n");
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* cell_start[c] is the index of the first row in cell c or after it (the
 * rows sorted by cell), so cell_start[OFFLINE_CELLS] is the count. */
static void fill_cell_start(struct build *b)
{
    size_t i = 0;
    for (uint32_t c = 0; c <= OFFLINE_CELLS; c++) {
        while (i < b->n && b->rows[i].cell < c)
            i++;
        b->cell_start[c] = (uint32_t)i;
    }
}

/* Writes the index (places_index.h) to path.tmp, renamed to path once
 * whole. Returns 0 or the exit code, its message printed. */
static int write_index(const char *path, const struct build *b)
{
    struct offline_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, OFFLINE_MAGIC, 8);
    h.version = OFFLINE_VERSION;
    h.count = (uint32_t)b->n;
    h.strings_size = b->strings.len;

    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *out = fopen(tmp, "wb");
    if (out == NULL) {
        fprintf(stderr, "herd-places-index: cannot write %s\n", tmp);
        return EX_CANTCREAT;
    }
    static const char zeros[8];
    size_t pad = OFFLINE_PLACES_OFFSET - sizeof h - sizeof b->cell_start;
    int ok = fwrite(&h, sizeof h, 1, out) == 1 &&
             fwrite(b->cell_start, sizeof b->cell_start, 1, out) == 1 &&
             (pad == 0 || fwrite(zeros, pad, 1, out) == 1);
    for (size_t k = 0; k < b->n && ok; k++)
        ok = fwrite(&b->rows[k].p, sizeof b->rows[k].p, 1, out) == 1;
    ok = ok && fwrite(b->strings.data, b->strings.len, 1, out) == 1;
    ok = (fclose(out) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "herd-places-index: cannot write %s\n", path);
        remove(tmp);
        return EX_IOERR;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: herd-places-index IN.tsv.gz OUT.idx\n");
        return EX_USAGE;
    }
    gzFile in = gzopen(argv[1], "rb");
    if (in == NULL) {
        fprintf(stderr, "herd-places-index: cannot open %s\n", argv[1]);
        return EX_NOINPUT;
    }
    static struct build b; /* the cells' starts: 260 KB, not on the stack */
    dynbuf_init(&b.strings, UINT32_MAX);
    int rc = read_rows(in, argv[1], &b);
    if (rc != 0)
        return rc;
    int bad = !gzeof(in);
    gzclose(in);
    if (bad || b.n == 0) {
        fprintf(stderr, "%s: read error or no rows\n", argv[1]);
        return EX_DATAERR;
    }
    qsort(b.rows, b.n, sizeof *b.rows, by_cell);
    fill_cell_start(&b);
    rc = write_index(argv[2], &b);
    if (rc != 0)
        return rc;
    printf("herd-places-index: %zu places, %zu bytes of names\n", b.n,
           b.strings.len);
    free(b.rows);
    dynbuf_free(&b.strings);
    return 0;
}
