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
#include <zlib.h>

#include "dynbuf.h"
#include "places_index.h"
#include "strparse.h"

struct row {
    struct offline_place p;
    uint32_t cell;
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

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: herd-places-index IN.tsv.gz OUT.idx\n");
        return 64;
    }
    gzFile in = gzopen(argv[1], "rb");
    if (in == NULL) {
        fprintf(stderr, "herd-places-index: cannot open %s\n", argv[1]);
        return 66;
    }
    struct row *rows = NULL;
    size_t n = 0;
    size_t cap = 0;
    struct dynbuf strings;
    dynbuf_init(&strings, UINT32_MAX);
    char line[4096];
    unsigned long lineno = 0;
    while (gzgets(in, line, sizeof line) != NULL) {
        lineno++;
        size_t len = strlen(line);
        if (len == 0 || line[len - 1] != '\n') {
            fprintf(stderr, "%s:%lu: line too long or cut\n", argv[1], lineno);
            return 65;
        }
        line[len - 1] = '\0';
        char *f[8];
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
        uint64_t id;
        uint64_t pop;
        struct row r;
        memset(&r, 0, sizeof r);
        if (nf != 8 || strparse_uint(f[0], strlen(f[0]), UINT32_MAX, &id) ||
            parse_double(f[2], &r.p.lat) || parse_double(f[3], &r.p.lng) ||
            strparse_uint(f[7], strlen(f[7]), UINT64_MAX, &pop) ||
            r.p.lat < -90 || r.p.lat > 90 || r.p.lng < -180 || r.p.lng > 180) {
            fprintf(stderr, "%s:%lu: malformed row\n", argv[1], lineno);
            return 65;
        }
        r.p.id = (uint32_t)id;
        r.p.population = pop > UINT32_MAX ? UINT32_MAX : (uint32_t)pop;
        r.p.kind = (uint32_t)kind_of(f[4]);
        char vicinity[1024];
        if (f[6][0] != '\0')
            snprintf(vicinity, sizeof vicinity, "%.900s, %.8s", f[6], f[5]);
        else
            snprintf(vicinity, sizeof vicinity, "%.8s", f[5]);
        if (add_string(&strings, f[1], &r.p.name) != 0 ||
            add_string(&strings, vicinity, &r.p.vicinity) != 0) {
            fprintf(stderr, "herd-places-index: out of memory\n");
            return 71;
        }
        r.cell = cell_of(r.p.lat, r.p.lng);
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            struct row *v = realloc(rows, cap * sizeof *v);
            if (v == NULL) {
                fprintf(stderr, "herd-places-index: out of memory\n");
                return 71;
            }
            rows = v;
        }
        rows[n++] = r;
    }
    int bad = !gzeof(in);
    gzclose(in);
    if (bad || n == 0) {
        fprintf(stderr, "%s: read error or no rows\n", argv[1]);
        return 65;
    }
    qsort(rows, n, sizeof *rows, by_cell);

    static uint32_t cell_start[OFFLINE_CELLS + 1];
    size_t i = 0;
    for (uint32_t c = 0; c <= OFFLINE_CELLS; c++) {
        while (i < n && rows[i].cell < c)
            i++;
        cell_start[c] = (uint32_t)i;
    }
    struct offline_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, OFFLINE_MAGIC, 8);
    h.version = OFFLINE_VERSION;
    h.count = (uint32_t)n;
    h.strings_size = strings.len;

    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[2]);
    FILE *out = fopen(tmp, "wb");
    if (out == NULL) {
        fprintf(stderr, "herd-places-index: cannot write %s\n", tmp);
        return 73;
    }
    static const char zeros[8];
    size_t pad = OFFLINE_PLACES_OFFSET - sizeof h - sizeof cell_start;
    int ok = fwrite(&h, sizeof h, 1, out) == 1 &&
             fwrite(cell_start, sizeof cell_start, 1, out) == 1 &&
             (pad == 0 || fwrite(zeros, pad, 1, out) == 1);
    for (size_t k = 0; k < n && ok; k++)
        ok = fwrite(&rows[k].p, sizeof rows[k].p, 1, out) == 1;
    ok = ok && fwrite(strings.data, strings.len, 1, out) == 1;
    ok = (fclose(out) == 0) && ok;
    if (!ok || rename(tmp, argv[2]) != 0) {
        fprintf(stderr, "herd-places-index: cannot write %s\n", argv[2]);
        remove(tmp);
        return 74;
    }
    printf("herd-places-index: %zu places, %zu bytes of names\n", n,
           strings.len);
    free(rows);
    dynbuf_free(&strings);
    return 0;
}
