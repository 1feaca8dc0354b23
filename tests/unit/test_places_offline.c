/* Unit tests for server/places_offline: indexes built in memory (the layout
 * of places_offline.h), searched and compared with a brute-force search;
 * damaged indexes refused. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "dynbuf.h"
#include "places_index.h"
#include "places_json.h"
#include "places_offline.h"
#include "test.h"

#define R_EARTH   6371008.8
#define M_PER_DEG (R_EARTH * 3.14159265358979323846 / 180.0)
/* cell_start plus the padding that 8-aligns the places */
#define CELLS_BYTES (OFFLINE_PLACES_OFFSET - sizeof(struct offline_header))

struct spec {
    double lat, lng;
    uint32_t id, population;
    const char *name, *vicinity;
    uint32_t kind;
};

/* --- building an index ---------------------------------------------------*/

static uint32_t cell_of(double lat, double lng)
{
    int r = (int)floor(lat + 90);
    int c = (int)floor(lng + 180);
    r = r < 0 ? 0 : r >= OFFLINE_ROWS ? OFFLINE_ROWS - 1 : r;
    c = c < 0 ? 0 : c >= OFFLINE_COLS ? OFFLINE_COLS - 1 : c;
    return (uint32_t)(r * OFFLINE_COLS + c);
}

static int by_cell(const void *a, const void *b)
{
    const struct spec *x = a;
    const struct spec *y = b;
    uint32_t cx = cell_of(x->lat, x->lng), cy = cell_of(y->lat, y->lng);
    if (cx != cy)
        return cx < cy ? -1 : 1;
    if (x->population != y->population)
        return x->population > y->population ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* A malloc'd index of exactly *size bytes: header, cell_start, places
 * (sorted by cell, each cell by population), strings. */
static void *build(const struct spec *in, size_t n, size_t *size)
{
    struct spec *sp = malloc((n ? n : 1) * sizeof *sp);
    CHECK(sp != NULL);
    memcpy(sp, in, n * sizeof *sp);
    qsort(sp, n, sizeof *sp, by_cell);
    struct dynbuf str;
    dynbuf_init(&str, 1 << 26);
    CHECK_EQ_INT(dynbuf_add(&str, "", 1), 0);
    struct offline_place *pl = calloc(n ? n : 1, sizeof *pl);
    CHECK(pl != NULL);
    for (size_t i = 0; i < n; i++) {
        pl[i].lat = sp[i].lat;
        pl[i].lng = sp[i].lng;
        pl[i].id = sp[i].id;
        pl[i].population = sp[i].population;
        pl[i].kind = sp[i].kind;
        pl[i].name = (uint32_t)str.len;
        CHECK_EQ_INT(dynbuf_add(&str, sp[i].name, strlen(sp[i].name) + 1), 0);
        pl[i].vicinity = (uint32_t)str.len;
        CHECK_EQ_INT(
            dynbuf_add(&str, sp[i].vicinity, strlen(sp[i].vicinity) + 1), 0);
    }
    struct offline_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, OFFLINE_MAGIC, 8);
    h.version = OFFLINE_VERSION;
    h.count = (uint32_t)n;
    h.strings_size = str.len;
    *size = sizeof h + CELLS_BYTES + n * sizeof *pl + str.len;
    char *buf = calloc(1, *size);
    CHECK(buf != NULL);
    memcpy(buf, &h, sizeof h);
    uint32_t *cells = (uint32_t *)(void *)(buf + sizeof h);
    size_t i = 0;
    for (uint32_t c = 0; c <= OFFLINE_CELLS; c++) {
        while (i < n && cell_of(sp[i].lat, sp[i].lng) < c)
            i++;
        cells[c] = (uint32_t)i;
    }
    memcpy(buf + sizeof h + CELLS_BYTES, pl, n * sizeof *pl);
    memcpy(buf + sizeof h + CELLS_BYTES + n * sizeof *pl, str.data, str.len);
    dynbuf_free(&str);
    free(pl);
    free(sp);
    return buf;
}

/* --- reading answers ------------------------------------------------------*/

static const char *str_field(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    CHECK(json_is_string(v));
    return json_string_value(v);
}

/* The ids of the answer's results, comma-separated, into out. */
static void answer_ids(const json_t *a, char *out, size_t size)
{
    CHECK(a != NULL);
    const json_t *res = json_object_get(a, "results");
    CHECK(json_is_array(res));
    size_t k = 0;
    out[0] = '\0';
    const json_t *r;
    size_t i;
    json_array_foreach(res, i, r)
    {
        const char *pid = str_field(r, "place_id");
        CHECK(strncmp(pid, "geonames:", 9) == 0);
        k += (size_t)snprintf(out + k, size - k, "%s%s", i ? "," : "", pid + 9);
        CHECK(k < size);
    }
}

static void search_ids(const struct offline_index *ix, double lat, double lng,
                       double radius, size_t max, char *out, size_t size,
                       const char **status)
{
    json_t *a = offline_search(ix, lat, lng, radius, max);
    CHECK(a != NULL);
    answer_ids(a, out, size);
    static char st[32];
    snprintf(st, sizeof st, "%s", str_field(a, "status"));
    *status = st;
    json_decref(a);
}

static void check_search(const struct offline_index *ix, double lat, double lng,
                         double radius, size_t max, const char *want_ids,
                         const char *want_status)
{
    char got[4096];
    const char *status;
    search_ids(ix, lat, lng, radius, max, got, sizeof got, &status);
    if (strcmp(got, want_ids) != 0 || strcmp(status, want_status) != 0)
        fprintf(stderr,
                "search (%.6f, %.6f) r=%.3f max=%zu: got [%s] %s, "
                "want [%s] %s\n",
                lat, lng, radius, max, got, status, want_ids, want_status);
    CHECK_EQ_STR(got, want_ids);
    CHECK_EQ_STR(status, want_status);
}

/* --- brute force ---------------------------------------------------------*/

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

/* The contract: within the radius, log10(population + 1) - 3 * d / radius
 * descending, then distance, then id; at most max. */
static size_t reference(const struct spec *sp, size_t n, double lat, double lng,
                        double radius, size_t max, char *out, size_t size)
{
    struct ref_hit *h = malloc((n ? n : 1) * sizeof *h);
    CHECK(h != NULL);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        double d = offline_distance_m(lat, lng, sp[i].lat, sp[i].lng);
        if (d <= radius) {
            double base = log10((double)sp[i].population + 1.0);
            h[k].score = radius > 0 ? base - 3.0 * d / radius : base;
            h[k].dist = d;
            h[k].id = sp[i].id;
            k++;
        }
    }
    qsort(h, k, sizeof *h, ref_better);
    size_t w = 0;
    out[0] = '\0';
    for (size_t i = 0; i < k && i < max; i++) {
        w += (size_t)snprintf(out + w, size - w, "%s%u", i ? "," : "", h[i].id);
        CHECK(w < size);
    }
    free(h);
    return k;
}

/* --- tests ---------------------------------------------------------------*/

static void test_distance(void)
{
    CHECK(fabs(offline_distance_m(0, 0, 0, 1) - M_PER_DEG) < 1e-6);
    CHECK(fabs(offline_distance_m(0, 0, 1, 0) - M_PER_DEG) < 1e-6);
    CHECK(fabs(offline_distance_m(0, 0, 0, 180) -
               R_EARTH * 3.14159265358979323846) < 1e-3);
    CHECK(fabs(offline_distance_m(90, 0, -90, 0) -
               R_EARTH * 3.14159265358979323846) < 1e-3);
    CHECK(offline_distance_m(90, 0, 90, 123) < 1e-6);
    CHECK(offline_distance_m(34.06893, -118.445127, 34.06893, -118.445127) ==
          0);
    /* Across the antimeridian: 0.2 degrees of longitude at 10 N. */
    double d = offline_distance_m(10, 179.9, 10, -179.9);
    CHECK(fabs(d - 0.2 * M_PER_DEG * cos(10 * 3.14159265358979323846 / 180)) <
          5);
    CHECK(fabs(offline_distance_m(10, -180, 10, 180)) < 1e-6);
}

static const struct spec basic[] = {
    /* Along the meridian from (0, 0); 50 km is 0.449660 degrees. */
    {0.4000, 0, 1, 100, "Inside", "Region, AA", OFFLINE_LOCALITY},
    {0.4496, 0, 2, 100, "Edge in", "Region, AA", OFFLINE_LOCALITY},
    {0.4497, 0, 3, 100, "Edge out", "Region, AA", OFFLINE_LOCALITY},
    {-0.4496, 0, 4, 100, "South in", "Region, AA", OFFLINE_LOCALITY},
    {0, 0, 5, 0, "Centre", "Region, AA", OFFLINE_SUBLOCALITY},
    /* Equal populations at equal distances: lower id first. */
    {0, 0.1, 10, 5000, "East", "Region, AA", OFFLINE_LOCALITY},
    {0, -0.1, 9, 5000, "West", "Region, AA", OFFLINE_LOCALITY},
};

static void test_check_accepts_and_radius_filter(void)
{
    size_t size;
    void *buf = build(basic, sizeof basic / sizeof basic[0], &size);
    struct offline_index ix;
    CHECK_EQ_INT(offline_index_check(&ix, buf, size), 0);
    CHECK_EQ_INT(ix.count, sizeof basic / sizeof basic[0]);
    /* West and East tie (lower id first), then Centre (0 at the centre),
     * Inside, and the two at the edge (equal: lower id first). */
    check_search(&ix, 0, 0, 50000, 20, "9,10,5,1,2,4", "OK");
    check_search(&ix, 0, 0, 50000, 2, "9,10", "OK");
    check_search(&ix, 0, 0, 50000, 1, "9", "OK");
    /* A radius of 0 holds only a place at the very point. */
    check_search(&ix, 0, 0, 0, 20, "5", "OK");
    check_search(&ix, 0.2, 0, 0, 20, "", "ZERO_RESULTS");
    /* 11.1 km to Inside; Edge in at 16.6 km, Centre at 33.4 km. */
    check_search(&ix, 0.3, 0, 15000, 20, "1", "OK");
    check_search(&ix, 30, 30, 50000, 20, "", "ZERO_RESULTS");
    free(buf);
}

static void test_ranking(void)
{
    /* From (10, 10), radius 50 km, places due north at d km. */
#define N(km) (10 + (km)*1000.0 / M_PER_DEG)
    const struct spec sp[] = {
        {N(40), 10, 1, 1000000, "Big far", "R, AA", OFFLINE_LOCALITY},
        {N(1), 10, 2, 10000, "Small near", "R, AA", OFFLINE_LOCALITY},
        {N(10), 10, 3, 1000000, "Big near", "R, AA", OFFLINE_LOCALITY},
        {N(0), 10, 4, 0, "Empty", "R, AA", OFFLINE_LOCALITY},
        {N(0.1), 10, 5, 500, "Hamlet", "R, AA", OFFLINE_LOCALITY},
        {N(49.9), 10, 6, 4000000, "Huge edge", "R, AA", OFFLINE_LOCALITY},
        {N(50.1), 10, 7, 4000000, "Huge out", "R, AA", OFFLINE_LOCALITY},
    };
#undef N
    /* Scores: Big near 5.4, Small near 3.94, Big far 3.6, Huge edge 3.61,
     * Hamlet 2.69, Empty 0. */
    size_t size;
    void *buf = build(sp, sizeof sp / sizeof sp[0], &size);
    struct offline_index ix;
    CHECK_EQ_INT(offline_index_check(&ix, buf, size), 0);
    check_search(&ix, 10, 10, 50000, 20, "3,2,6,1,5,4", "OK");
    check_search(&ix, 10, 10, 50000, 3, "3,2,6", "OK");
    /* With a radius of 100 km distance weighs half as much: Huge edge
     * (5.105) and Huge out (5.099) come right after Big near (5.7). */
    check_search(&ix, 10, 10, 100000, 20, "3,6,7,1,2,5,4", "OK");
    free(buf);
}

static void test_result_shape(void)
{
    const struct spec sp[] = {
        {10.5, -20.25, 42, 1000, "Capital \"C\"", "Region, CC",
         OFFLINE_CAPITAL},
        {10.6, -20.25, 43, 100, "Seat", "Other, CC", OFFLINE_ADMIN_SEAT},
        {10.7, -20.25, 44, 10, "Town", "CC", OFFLINE_LOCALITY},
        {10.8, -20.25, 45, 1, "Quarter", "Region, CC", OFFLINE_SUBLOCALITY},
    };
    size_t size;
    void *buf = build(sp, sizeof sp / sizeof sp[0], &size);
    struct offline_index ix;
    CHECK_EQ_INT(offline_index_check(&ix, buf, size), 0);
    json_t *a = offline_search(&ix, 10.5, -20.25, 50000, 20);
    CHECK(a != NULL);
    struct dynbuf b;
    dynbuf_init(&b, 1 << 20);
    CHECK_EQ_INT(places_json_format(a, 1, &b), 0);
    CHECK_EQ_INT(dynbuf_addc(&b, '\0'), 0);
    CHECK_EQ_STR(
        b.data,
        "{\n"
        "   \"html_attributions\" : [ \"" OFFLINE_ATTRIBUTION "\" ],\n"
        "   \"results\" : [\n"
        "      {\n"
        "         \"geometry\" : {\n"
        "            \"location\" : {\n"
        "               \"lat\" : 10.5,\n"
        "               \"lng\" : -20.25\n"
        "            }\n"
        "         },\n"
        "         \"name\" : \"Capital \\\"C\\\"\",\n"
        "         \"place_id\" : \"geonames:42\",\n"
        "         \"types\" : [ \"capital\", \"locality\", \"political\" ],\n"
        "         \"vicinity\" : \"Region, CC\"\n"
        "      }\n"
        "   ],\n"
        "   \"status\" : \"OK\"\n"
        "}");
    dynbuf_free(&b);
    CHECK_EQ_STR(OFFLINE_ATTRIBUTION,
                 "Contains data from GeoNames (geonames.org), CC BY 4.0");
    const json_t *res = json_object_get(a, "results");
    CHECK_EQ_INT(json_array_size(res), 4);
    static const char *const types[4] = {
        "capital,locality,political", "administrative_seat,locality,political",
        "locality,political", "sublocality,political"};
    static const char *const vic[4] = {"Region, CC", "Other, CC", "CC",
                                       "Region, CC"};
    for (size_t i = 0; i < 4; i++) {
        const json_t *r = json_array_get(res, i);
        char t[128] = "";
        size_t k = 0;
        const json_t *v;
        size_t j;
        json_array_foreach(json_object_get(r, "types"), j, v) k +=
            (size_t)snprintf(t + k, sizeof t - k, "%s%s", j ? "," : "",
                             json_string_value(v));
        CHECK_EQ_STR(t, types[i]);
        CHECK_EQ_STR(str_field(r, "vicinity"), vic[i]);
        CHECK(json_object_get(r, "rating") == NULL);
    }
    json_decref(a);
    free(buf);
}

static void test_antimeridian(void)
{
    const struct spec sp[] = {
        {10, 179.95, 1, 100, "East side", "R, FJ", OFFLINE_LOCALITY},
        {10, -179.95, 2, 101, "West side", "R, FJ", OFFLINE_LOCALITY},
        {10, 179.5, 3, 100, "Too far east", "R, FJ", OFFLINE_LOCALITY},
        {10, -179.5, 4, 100, "Too far west", "R, FJ", OFFLINE_LOCALITY},
        {10, 180, 5, 10, "On the line", "R, FJ", OFFLINE_LOCALITY},
        {10, -180, 6, 9, "On the line too", "R, FJ", OFFLINE_LOCALITY},
    };
    size_t size;
    void *buf = build(sp, sizeof sp / sizeof sp[0], &size);
    struct offline_index ix;
    CHECK_EQ_INT(offline_index_check(&ix, buf, size), 0);
    /* Populations differ a little so that no two scores are equal up to
     * rounding; across the line the nearer side wins. */
    check_search(&ix, 10, 179.99, 30000, 20, "1,2,5,6", "OK");
    check_search(&ix, 10, -179.99, 30000, 20, "2,1,5,6", "OK");
    check_search(&ix, 10, 180, 30000, 20, "2,1,5,6", "OK");
    check_search(&ix, 10, -180, 30000, 20, "2,1,5,6", "OK");
    check_search(&ix, 10, 179.6, 50000, 20, "3,1,2,5,6", "OK");
    check_search(&ix, 10, -179.6, 50000, 20, "4,2,1,5,6", "OK");
    free(buf);
}

static void test_poles(void)
{
    const struct spec sp[] = {
        {89.9, 0, 1, 100, "N a", "R, SJ", OFFLINE_LOCALITY},
        {89.9, 180, 2, 90, "N b", "R, SJ", OFFLINE_LOCALITY},
        {89.95, -90, 3, 80, "N c", "R, SJ", OFFLINE_LOCALITY},
        {89.5, 45, 4, 70, "N far", "R, SJ", OFFLINE_LOCALITY},
        {90, 0, 5, 1, "N pole", "R, SJ", OFFLINE_LOCALITY},
        {-89.9, 0, 6, 100, "S a", "R, AQ", OFFLINE_LOCALITY},
        {-89.9, -170, 7, 90, "S b", "R, AQ", OFFLINE_LOCALITY},
        {-90, 0, 8, 1, "S pole", "R, AQ", OFFLINE_LOCALITY},
    };
    size_t size;
    void *buf = build(sp, sizeof sp / sizeof sp[0], &size);
    struct offline_index ix;
    CHECK_EQ_INT(offline_index_check(&ix, buf, size), 0);
    /* Every longitude meets at a pole: the circle takes all of them. */
    check_search(&ix, 90, 0, 20000, 20, "3,1,5,2", "OK");
    check_search(&ix, 90, 123, 20000, 20, "3,1,5,2", "OK");
    check_search(&ix, 89.9, 90, 30000, 20, "1,2,3,5", "OK");
    check_search(&ix, 90, 0, 50000, 20, "3,1,2,5", "OK");
    check_search(&ix, 90, 0, 60000, 20, "3,1,2,5,4", "OK");
    check_search(&ix, -90, 0, 20000, 20, "6,8,7", "OK");
    check_search(&ix, -90, 180, 20000, 20, "6,8,7", "OK");
    check_search(&ix, -89.95, 10, 10000, 20, "6,8", "OK");
    free(buf);
}

static void test_cell_edges(void)
{
    const struct spec sp[] = {
        {0.9995, 0.9995, 1, 10, "SW", "R, AA", OFFLINE_LOCALITY},
        {1.0005, 1.0005, 2, 20, "NE", "R, AA", OFFLINE_LOCALITY},
        {0.9995, 1.0005, 3, 30, "SE", "R, AA", OFFLINE_LOCALITY},
        {1.0005, 0.9995, 4, 40, "NW", "R, AA", OFFLINE_LOCALITY},
        {-0.0001, -0.0001, 5, 10, "Origin SW", "R, AA", OFFLINE_LOCALITY},
        {0.0001, 0.0001, 6, 10, "Origin NE", "R, AA", OFFLINE_LOCALITY},
    };
    size_t size;
    void *buf = build(sp, sizeof sp / sizeof sp[0], &size);
    struct offline_index ix;
    CHECK_EQ_INT(offline_index_check(&ix, buf, size), 0);
    /* Four cells meet at (1, 1): one place in each. */
    check_search(&ix, 1, 1, 1000, 20, "4,3,2,1", "OK");
    check_search(&ix, 0.0001, 0.0001, 100, 20, "6,5", "OK");
    check_search(&ix, -0.0001, -0.0001, 100, 20, "5,6", "OK");
    free(buf);
}

/* A small deterministic generator. */
static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static double uniform(double lo, double hi)
{
    return lo + (hi - lo) * ((double)(rnd() >> 11) / 9007199254740992.0);
}

static void test_random_against_brute_force(void)
{
    enum { N = 4000 };
    struct spec *sp = malloc(N * sizeof *sp);
    CHECK(sp != NULL);
    static const uint32_t pops[] = {
        0, 0, 1, 500, 500, 1000, 9999, 20000, 20000, 150000, 1000000, 3900000};
    for (size_t i = 0; i < N; i++) {
        double lat, lng;
        switch (i % 6) {
        case 0: /* dense: a 2 x 2 degree box */
            lat = uniform(33, 35);
            lng = uniform(-119, -117);
            break;
        case 1: /* the antimeridian */
            lat = uniform(-20, -10);
            lng = uniform(179, 181);
            if (lng > 180)
                lng -= 360;
            break;
        case 2: /* the north pole */
            lat = uniform(88.5, 90);
            lng = uniform(-180, 180);
            break;
        case 3: /* the south pole */
            lat = uniform(-90, -88.5);
            lng = uniform(-180, 180);
            break;
        case 4: /* high latitudes */
            lat = uniform(70, 80);
            lng = uniform(-10, 10);
            break;
        default:
            lat = uniform(-90, 90);
            lng = uniform(-180, 180);
        }
        sp[i].lat = lat;
        sp[i].lng = lng;
        sp[i].id = (uint32_t)(i * 7919 % 100003 + 1);
        sp[i].population = pops[rnd() % (sizeof pops / sizeof pops[0])];
        sp[i].name = "P";
        sp[i].vicinity = "R, AA";
        sp[i].kind = (uint32_t)(rnd() % 4);
    }
    size_t size;
    void *buf = build(sp, N, &size);
    struct offline_index ix;
    CHECK_EQ_INT(offline_index_check(&ix, buf, size), 0);
    static const double radii[] = {0, 100, 1000, 5000, 10000, 25000, 50000, -1};
    static const size_t maxes[] = {20, 20, 5, 1};
    size_t found = 0;
    for (int q = 0; q < 1500; q++) {
        const struct spec *near = &sp[rnd() % N];
        double lat = near->lat + uniform(-0.6, 0.6);
        double lng =
            near->lng +
            uniform(-0.6, 0.6) /
                fmax(0.02, cos(near->lat * 3.14159265358979323846 / 180));
        if (q % 50 == 0) {
            lat = q % 100 ? 90 : -90;
            lng = uniform(-180, 180);
        } else if (q % 50 == 1) {
            lng = q % 100 < 50 ? 180 : -180;
        }
        lat = fmax(-90, fmin(90, lat));
        while (lng > 180)
            lng -= 360;
        while (lng < -180)
            lng += 360;
        double radius = radii[rnd() % (sizeof radii / sizeof radii[0])];
        if (radius < 0)
            radius = uniform(0, 50000);
        size_t max = maxes[rnd() % (sizeof maxes / sizeof maxes[0])];
        char want[4096], got[4096];
        const char *status;
        size_t k = reference(sp, N, lat, lng, radius, max, want, sizeof want);
        search_ids(&ix, lat, lng, radius, max, got, sizeof got, &status);
        if (strcmp(got, want) != 0)
            fprintf(stderr,
                    "query %d (%.9f, %.9f) r=%.3f max=%zu: got [%s] "
                    "want [%s]\n",
                    q, lat, lng, radius, max, got, want);
        CHECK_EQ_STR(got, want);
        CHECK_EQ_STR(status, k ? "OK" : "ZERO_RESULTS");
        found += k > 0;
    }
    CHECK(found > 500); /* the queries were not all empty */
    free(buf);
    free(sp);
}

/* --- damaged indexes -------------------------------------------------------*/

/* Checks a copy of exactly n bytes of data (so a sanitizer sees any read
 * past the end). */
static int check_copy(const void *data, size_t n)
{
    void *copy = malloc(n ? n : 1);
    CHECK(copy != NULL);
    memcpy(copy, data, n);
    struct offline_index ix;
    int rc = offline_index_check(&ix, copy, n);
    free(copy);
    return rc;
}

static const struct spec small[] = {
    {34.07362, -118.40036, 5328041, 34109, "Beverly Hills", "California, US",
     OFFLINE_LOCALITY},
    {34.05612, -118.43063, 5408522, 47916, "Westwood", "California, US",
     OFFLINE_SUBLOCALITY},
    {-33.86785, 151.20732, 2147714, 4627345, "Sydney", "New South Wales, AU",
     OFFLINE_ADMIN_SEAT},
};

static void test_check_rejects_damage(void)
{
    size_t size;
    char *good = build(small, 3, &size);
    CHECK_EQ_INT(check_copy(good, size), 0);
    size_t places_off = sizeof(struct offline_header) + CELLS_BYTES;
    char *bad = malloc(size + 1);
    CHECK(bad != NULL);

    /* Cut anywhere: a sample of lengths from both ends and between. */
    for (size_t n = 0; n < 64; n++)
        CHECK_EQ_INT(check_copy(good, n), OFFLINE_EFORMAT);
    for (size_t n = size - 64; n < size; n++)
        CHECK_EQ_INT(check_copy(good, n), OFFLINE_EFORMAT);
    for (int i = 0; i < 200; i++)
        CHECK_EQ_INT(check_copy(good, (size_t)(rnd() % size)), OFFLINE_EFORMAT);
    /* One byte too many. */
    memcpy(bad, good, size);
    bad[size] = '\0';
    CHECK_EQ_INT(check_copy(bad, size + 1), OFFLINE_EFORMAT);

#define DAMAGE(stmt)                                          \
    do {                                                      \
        memcpy(bad, good, size);                              \
        stmt;                                                 \
        CHECK_EQ_INT(check_copy(bad, size), OFFLINE_EFORMAT); \
    } while (0)
    struct offline_header *h = (struct offline_header *)(void *)bad;
    uint32_t *cells = (uint32_t *)(void *)(bad + sizeof *h);
    struct offline_place *pl =
        (struct offline_place *)(void *)(bad + places_off);
    DAMAGE(h->magic[0] = 'X');
    DAMAGE(memcpy(h->magic, "HERDPLC2", 8));
    DAMAGE(h->version = OFFLINE_VERSION + 1);
    DAMAGE(h->version = 0);
    DAMAGE(h->count = 4);
    DAMAGE(h->count = 2);
    DAMAGE(h->count = UINT32_MAX);
    DAMAGE(h->strings_size += 1);
    DAMAGE(h->strings_size -= 1);
    DAMAGE(h->strings_size = UINT64_MAX);
    DAMAGE(bad[size - 1] = 'x');      /* strings not NUL-ended */
    DAMAGE(cells[0] = 1);             /* the first cell starts late */
    DAMAGE(cells[OFFLINE_CELLS] = 2); /* the end is not count */
    DAMAGE(cells[OFFLINE_CELLS] = 4);
    DAMAGE(cells[OFFLINE_CELLS / 2] = 3; cells[OFFLINE_CELLS / 2 + 1] = 0);
    DAMAGE(pl[0].name = (uint32_t)h->strings_size);
    DAMAGE(pl[1].vicinity = (uint32_t)h->strings_size + 100);
    DAMAGE(pl[2].name = UINT32_MAX);
    DAMAGE(pl[0].lat = 90.5);
    DAMAGE(pl[1].lat = -91);
    DAMAGE(pl[2].lng = 180.25);
    DAMAGE(pl[0].lng = -181);
    DAMAGE(pl[1].lat = NAN);
    DAMAGE(pl[2].lng = NAN);
    DAMAGE(pl[0].lat = INFINITY);
#undef DAMAGE

    /* Random bytes, of many sizes including the good one's. */
    for (int i = 0; i < 50; i++) {
        size_t n = i == 0 ? size : (size_t)(rnd() % (size + 1));
        for (size_t k = 0; k < n; k++)
            bad[k] = (char)rnd();
        CHECK_EQ_INT(check_copy(bad, n), OFFLINE_EFORMAT);
    }
    /* A good header over random cells and places. */
    for (int i = 0; i < 20; i++) {
        memcpy(bad, good, sizeof *h);
        for (size_t k = sizeof *h; k < size; k++)
            bad[k] = (char)rnd();
        bad[size - 1] = '\0';
        CHECK_EQ_INT(check_copy(bad, size), OFFLINE_EFORMAT);
    }
    free(bad);
    free(good);
}

static void test_open_file(void)
{
    char dir[] = "/tmp/herd-offline-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    size_t size;
    void *good = build(small, 3, &size);
    struct offline_index ix;

    snprintf(path, sizeof path, "%s/places.idx", dir);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK_EQ_INT(fwrite(good, 1, size, f), size);
    CHECK_EQ_INT(fclose(f), 0);
    CHECK_EQ_INT(offline_index_open(&ix, path), 0);
    CHECK_EQ_INT(ix.count, 3);
    check_search(&ix, 34.068930, -118.445127, 10000, 20, "5408522,5328041",
                 "OK");
    check_search(&ix, -33.87, 151.2, 5000, 20, "2147714", "OK");
    offline_index_close(&ix);
    CHECK(ix.map == NULL);
    offline_index_close(&ix); /* closing twice is harmless */

    snprintf(path, sizeof path, "%s/garbage.idx", dir);
    f = fopen(path, "wb");
    CHECK(f != NULL);
    for (size_t k = 0; k < 100000; k++)
        fputc((int)(rnd() & 0xff), f);
    CHECK_EQ_INT(fclose(f), 0);
    CHECK_EQ_INT(offline_index_open(&ix, path), OFFLINE_EFORMAT);
    CHECK(ix.map == NULL);
    CHECK(strlen(offline_strerror(OFFLINE_EFORMAT)) > 0);
    unlink(path);

    snprintf(path, sizeof path, "%s/empty.idx", dir);
    f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK_EQ_INT(fclose(f), 0);
    CHECK(offline_index_open(&ix, path) != 0);
    unlink(path);

    snprintf(path, sizeof path, "%s/missing.idx", dir);
    CHECK_EQ_INT(offline_index_open(&ix, path), OFFLINE_EIO);
    CHECK(strlen(offline_strerror(OFFLINE_EIO)) > 0);
    CHECK(offline_index_open(&ix, dir) != 0); /* a directory */

    snprintf(path, sizeof path, "%s/places.idx", dir);
    unlink(path);
    CHECK_EQ_INT(rmdir(dir), 0);
    free(good);
}

static const struct test tests[] = {
    {"distance", test_distance},
    {"check_accepts_and_radius_filter", test_check_accepts_and_radius_filter},
    {"ranking", test_ranking},
    {"result_shape", test_result_shape},
    {"antimeridian", test_antimeridian},
    {"poles", test_poles},
    {"cell_edges", test_cell_edges},
    {"random_against_brute_force", test_random_against_brute_force},
    {"check_rejects_damage", test_check_rejects_damage},
    {"open_file", test_open_file},
};

TEST_MAIN(tests)
