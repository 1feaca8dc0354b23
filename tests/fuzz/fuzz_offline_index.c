/* places_offline: the index check on any bytes, and searches in what it
 * accepts.
 *
 * The smallest index is some 260 KB (the cell table alone), which a fuzzer
 * does not stumble on, so the first byte picks one of two modes:
 *
 * - even: the rest of the input is the file, copied to an 8-aligned buffer
 *   (as mmap gives) and checked; if accepted, searched at fixed points;
 *
 * - odd: the rest describes a small index that is built the way
 *   herd-places-index lays it out, then maybe damaged:
 *     [count] [flags] [3 searches x (where, radius u16, max)]
 *     [damaged cell u16, value u32] [count places x 15 bytes] [strings]
 *   A place is lat i16, lng i16 (scaled to the range; with FLAG_RAW_COORDS
 *   two doubles instead), id u16, population u24, name u16, vicinity u16,
 *   kind u8. The strings are the remaining bytes (4096 at most) made 7-bit
 *   (the real ones are UTF-8), with a final NUL.
 *
 * Properties: offline_index_check accepts every undamaged index it is
 * given; a search in an accepted index never crashes, and returns an answer
 * with at most max results; in an undamaged index the results are those of
 * a brute-force search over all places, in the same order.
 */
#include <math.h>
#include <sanitizer/asan_interface.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "places_index.h"
#include "places_offline.h"

#define MAX_PLACES  16
#define MAX_STRINGS 4096
#define SEARCHES    3
#define CELLS_BYTES (OFFLINE_PLACES_OFFSET - sizeof(struct offline_header))

/* Ways to damage a built index. */
enum {
    FLAG_CELL = 1,         /* overwrite one cell_start entry */
    FLAG_NO_NUL = 2,       /* strings do not end with NUL */
    FLAG_RAW_COORDS = 4,   /* coordinates as raw doubles */
    FLAG_STRINGS_SIZE = 8, /* header's strings_size one too many */
    FLAG_VERSION = 16,     /* another version */
    FLAG_RAW_OFFSETS = 32, /* string offsets not reduced to the strings */
    FLAG_MISPLACED = 64,   /* a place in another cell than its own */
    FLAG_TRUNCATED = 128   /* the file one byte short */
};

static const struct {
    double lat, lng;
} points[] = {
    {0, 0},         {90, 0},       {-90, 0},
    {0, 180},       {0, -180},     {45, 179.99},
    {-45, -179.99}, {89.9, 123.4}, {34.068930, -118.445127},
};
#define NPOINTS (sizeof points / sizeof points[0])

struct search {
    uint8_t where;
    uint16_t radius;
    uint8_t max;
};

static uint32_t cell_of(double lat, double lng)
{
    /* Out of range (the check refuses those) is cell 0, not a cast of a
     * NaN to int. */
    if (!(lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180))
        return 0;
    int r = (int)floor(lat + 90);
    int c = (int)floor(lng + 180);
    r = r < 0 ? 0 : r >= OFFLINE_ROWS ? OFFLINE_ROWS - 1 : r;
    c = c < 0 ? 0 : c >= OFFLINE_COLS ? OFFLINE_COLS - 1 : c;
    return (uint32_t)(r * OFFLINE_COLS + c);
}

struct spec {
    struct offline_place p;
    uint32_t cell;
};

/* By cell, then population (most first), as the index tool sorts. */
static int by_cell(const void *a, const void *b)
{
    const struct spec *x = a;
    const struct spec *y = b;
    if (x->cell != y->cell)
        return x->cell < y->cell ? -1 : 1;
    if (x->p.population != y->p.population)
        return x->p.population > y->p.population ? -1 : 1;
    return x->p.id < y->p.id ? -1 : x->p.id > y->p.id;
}

/* One buffer for every built index: a fresh 260 KB allocation per input
 * took more time than the rest of the run. What lies past the index is
 * poisoned, so a read past its end is still caught. */
static uint64_t
    arena[(OFFLINE_PLACES_OFFSET + MAX_PLACES * sizeof(struct offline_place) +
           MAX_STRINGS + 1 + 7) /
          8];

/* cells[from, to) = v, by doubling copies: a loop per cell, with every
 * comparison traced for the fuzzer, was most of a run's time. */
static void fill_cells(uint32_t *cells, size_t from, size_t to, uint32_t v)
{
    if (from >= to)
        return;
    size_t n = to - from;
    size_t done = 1;
    cells[from] = v;
    while (done < n) {
        size_t k = done < n - done ? done : n - done;
        memcpy(cells + from + done, cells + from, k * sizeof *cells);
        done += k;
    }
}

static double read_double(struct fuzz_input *in)
{
    uint64_t bits = fuzz_u32(in);
    bits |= (uint64_t)fuzz_u32(in) << 32;
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* --- brute force -------------------------------------------------------- */

struct ref_hit {
    double score, dist;
    uint32_t id;
};

static int ref_better(const void *a, const void *b)
{
    const struct ref_hit *x = a;
    const struct ref_hit *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->dist != y->dist)
        return x->dist < y->dist ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The contract of offline_search (places_offline.h) over every place. */
static void check_reference(const struct spec *sp, size_t n, double lat,
                            double lng, double radius, size_t max,
                            const json_t *results)
{
    struct ref_hit hits[MAX_PLACES];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        double d = offline_distance_m(lat, lng, sp[i].p.lat, sp[i].p.lng);
        if (!(d <= radius))
            continue;
        double base = log10((double)sp[i].p.population + 1.0);
        hits[k].score = radius > 0 ? base - 3.0 * d / radius : base;
        hits[k].dist = d;
        hits[k].id = sp[i].p.id;
        k++;
    }
    qsort(hits, k, sizeof hits[0], ref_better);
    size_t want = k < max ? k : max;
    if (json_array_size(results) != want)
        fprintf(stderr,
                "search (%.9g, %.9g) r=%.3f max=%zu: %zu results, "
                "brute force %zu\n",
                lat, lng, radius, max, json_array_size(results), want);
    FUZZ_CHECK(json_array_size(results) == want);
    for (size_t i = 0; i < want; i++) {
        char id[32];
        snprintf(id, sizeof id, "geonames:%u", hits[i].id);
        const json_t *pid =
            json_object_get(json_array_get(results, i), "place_id");
        FUZZ_CHECK(json_is_string(pid));
        if (strcmp(json_string_value(pid), id) != 0)
            fprintf(stderr,
                    "search (%.9g, %.9g) r=%.3f max=%zu: result %zu "
                    "is %s, brute force %s\n",
                    lat, lng, radius, max, i, json_string_value(pid), id);
        FUZZ_CHECK(strcmp(json_string_value(pid), id) == 0);
    }
}

/* Searches and checks the answer's shape; returns it (a new reference). */
static json_t *search(const struct offline_index *ix, double lat, double lng,
                      double radius, size_t max)
{
    json_t *a = offline_search(ix, lat, lng, radius, max);
    if (a == NULL)
        return NULL;
    FUZZ_CHECK(json_is_object(a));
    FUZZ_CHECK(json_is_string(json_object_get(a, "status")));
    const json_t *results = json_object_get(a, "results");
    FUZZ_CHECK(json_is_array(results));
    FUZZ_CHECK(json_array_size(results) <= max);
    return a;
}

/* --- the two modes ------------------------------------------------------ */

static void fuzz_raw(const uint8_t *data, size_t size)
{
    /* malloc is aligned for any type, so for the index's doubles. */
    void *buf = malloc(size ? size : 1);
    FUZZ_CHECK(buf != NULL);
    if (size > 0)
        memcpy(buf, data, size);
    struct offline_index ix;
    if (offline_index_check(&ix, buf, size) == 0) {
        for (size_t i = 0; i < NPOINTS; i++)
            json_decref(search(&ix, points[i].lat, points[i].lng, 50000, 20));
    }
    free(buf);
}

static void fuzz_built(struct fuzz_input *in)
{
    size_t count = fuzz_u8(in) % (MAX_PLACES + 1);
    unsigned flags = fuzz_u8(in);
    struct search s[SEARCHES];
    for (size_t i = 0; i < SEARCHES; i++) {
        s[i].where = fuzz_u8(in);
        s[i].radius = fuzz_u16(in);
        s[i].max = fuzz_u8(in);
    }
    uint32_t bad_cell = fuzz_u16(in) % (OFFLINE_CELLS + 1);
    uint32_t bad_value = fuzz_u32(in);

    struct spec sp[MAX_PLACES];
    uint16_t name_off[MAX_PLACES], vic_off[MAX_PLACES];
    memset(sp, 0, sizeof sp);
    for (size_t i = 0; i < count; i++) {
        struct offline_place *p = &sp[i].p;
        if (flags & FLAG_RAW_COORDS) {
            p->lat = read_double(in);
            p->lng = read_double(in);
        } else {
            p->lat = (int16_t)fuzz_u16(in) * (90.0 / 32767);
            p->lng = (int16_t)fuzz_u16(in) * (180.0 / 32767);
        }
        p->id = fuzz_u16(in);
        p->population = fuzz_u16(in);
        p->population |= (uint32_t)fuzz_u8(in) << 16;
        name_off[i] = fuzz_u16(in);
        vic_off[i] = fuzz_u16(in);
        p->kind = fuzz_u8(in) % 5;
        sp[i].cell = cell_of(p->lat, p->lng);
    }
    if ((flags & FLAG_MISPLACED) && count > 0)
        sp[0].cell = bad_cell % OFFLINE_CELLS;

    size_t nchars = in->len < MAX_STRINGS ? in->len : MAX_STRINGS;
    size_t nstr = nchars + !(flags & FLAG_NO_NUL);
    for (size_t i = 0; i < count; i++) {
        size_t mod = flags & FLAG_RAW_OFFSETS ? 65536 : nstr > 0 ? nstr : 1;
        sp[i].p.name = (uint32_t)(name_off[i] % mod);
        sp[i].p.vicinity = (uint32_t)(vic_off[i] % mod);
    }
    qsort(sp, count, sizeof sp[0], by_cell);

    struct offline_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, OFFLINE_MAGIC, 8);
    h.version = OFFLINE_VERSION + !!(flags & FLAG_VERSION);
    h.count = (uint32_t)count;
    h.strings_size = nstr + !!(flags & FLAG_STRINGS_SIZE);
    size_t places_at = sizeof h + CELLS_BYTES;
    size_t strings_at = places_at + count * sizeof(struct offline_place);
    size_t size = strings_at + nstr - !!(flags & FLAG_TRUNCATED);
    char *buf = (char *)arena;
    ASAN_UNPOISON_MEMORY_REGION(arena, sizeof arena);
    memset(buf, 0, strings_at + nstr);
    memcpy(buf, &h, sizeof h);
    /* cell_start[c]: how many places lie in cells before c. */
    uint32_t *cells = (uint32_t *)(void *)(buf + sizeof h);
    size_t c = 0;
    for (size_t k = 0; k < count; k++) {
        fill_cells(cells, c, sp[k].cell + 1, (uint32_t)k);
        if (sp[k].cell + 1 > c)
            c = sp[k].cell + 1;
    }
    fill_cells(cells, c, OFFLINE_CELLS + 1, (uint32_t)count);
    if (flags & FLAG_CELL)
        cells[bad_cell] = bad_value;
    for (size_t i = 0; i < count; i++)
        memcpy(buf + places_at + i * sizeof(struct offline_place), &sp[i].p,
               sizeof sp[i].p);
    for (size_t i = 0; i < nchars; i++)
        buf[strings_at + i] = (char)(in->p[i] & 0x7f);
    ASAN_POISON_MEMORY_REGION(buf + size, sizeof arena - size);

    int valid = 1;
    for (size_t i = 0; i < count; i++)
        if (!(sp[i].p.lat >= -90 && sp[i].p.lat <= 90 && sp[i].p.lng >= -180 &&
              sp[i].p.lng <= 180))
            valid = 0;
    struct offline_index ix;
    int rc = offline_index_check(&ix, buf, size);
    FUZZ_CHECK(rc == 0 || rc == OFFLINE_EFORMAT);
    FUZZ_CHECK(offline_strerror(rc) != NULL);
    unsigned damage = FLAG_CELL | FLAG_NO_NUL | FLAG_STRINGS_SIZE |
                      FLAG_VERSION | FLAG_RAW_OFFSETS | FLAG_TRUNCATED;
    if (!(flags & damage) && valid)
        FUZZ_CHECK(rc == 0);
    if (rc == 0) {
        FUZZ_CHECK(ix.count == count);
        /* The reference holds only where every place is in its own cell
         * and the cell table is the one built. */
        int exact = !(flags & (FLAG_CELL | FLAG_MISPLACED));
        for (size_t i = 0; i < SEARCHES; i++) {
            double lat, lng;
            if (count > 0 && s[i].where < 128) {
                const struct offline_place *p = &sp[s[i].where % count].p;
                lat = p->lat;
                lng = p->lng;
            } else {
                lat = points[s[i].where % NPOINTS].lat;
                lng = points[s[i].where % NPOINTS].lng;
            }
            /* Up to the protocol's 50 km, in whole metres. */
            double radius = (double)(s[i].radius % 50001);
            size_t max = s[i].max % 21;
            json_t *a = search(&ix, lat, lng, radius, max);
            /* The strings are 7-bit, so nothing but memory can fail. */
            FUZZ_CHECK(a != NULL);
            if (exact)
                check_reference(sp, count, lat, lng, radius, max,
                                json_object_get(a, "results"));
            json_decref(a);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in = {data, size};
    if ((fuzz_u8(&in) & 1) == 0)
        fuzz_raw(in.p, in.len);
    else
        fuzz_built(&in);
    return 0;
}
