#include "places_offline.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EARTH_RADIUS_M    6371008.8
#define DEG               (3.14159265358979323846 / 180.0)
#define METRES_PER_DEGREE (EARTH_RADIUS_M * DEG)

double offline_distance_m(double lat1, double lng1, double lat2, double lng2)
{
    double dlat = (lat2 - lat1) * DEG;
    double dlng = (lng2 - lng1) * DEG;
    double a =
        sin(dlat / 2) * sin(dlat / 2) +
        cos(lat1 * DEG) * cos(lat2 * DEG) * sin(dlng / 2) * sin(dlng / 2);
    if (a > 1)
        a = 1;
    return 2 * EARTH_RADIUS_M * asin(sqrt(a));
}

struct hit {
    const struct offline_place *p;
    double dist;
    double score;
};

/* Prominence: the order of magnitude of the population, discounted by
 * distance across the radius (a town at the edge counts three orders of
 * magnitude less than one at the centre), as a search ranks a big town
 * nearby before a bigger one at the edge. */
static double prominence(uint32_t population, double dist, double radius_m)
{
    double base = log10((double)population + 1.0);
    return radius_m > 0 ? base - 3.0 * dist / radius_m : base;
}

/* Most prominent first, then nearest, then lowest id: a total order, so
 * every server gives the same answer. */
static int better(const struct hit *a, const struct hit *b)
{
    if (a->score != b->score)
        return a->score > b->score;
    if (a->dist != b->dist)
        return a->dist < b->dist;
    return a->p->id < b->p->id;
}

/* Keeps the best `max` hits in top[] (sorted), n of them so far. */
static void consider(struct hit *top, size_t *n, size_t max, struct hit h)
{
    if (max == 0)
        return;
    if (*n == max && !better(&h, &top[max - 1]))
        return;
    size_t i = *n < max ? (*n)++ : max - 1;
    while (i > 0 && better(&h, &top[i - 1])) {
        top[i] = top[i - 1];
        i--;
    }
    top[i] = h;
}

static void scan_cell(const struct offline_index *ix, int row, int col,
                      double lat, double lng, double radius_m, struct hit *top,
                      size_t *n, size_t max)
{
    size_t cell = (size_t)row * OFFLINE_COLS + (size_t)col;
    for (uint32_t i = ix->cell_start[cell]; i < ix->cell_start[cell + 1]; i++) {
        const struct offline_place *p = &ix->places[i];
        /* A cell is sorted by population, and no place scores above its
         * population's magnitude: once the list is full, nothing later in
         * the cell can beat the worst kept hit. */
        if (*n == max && max > 0 &&
            log10((double)p->population + 1.0) < top[max - 1].score)
            break;
        /* The difference in latitude alone is a lower bound of the
         * distance: most of a cell is ruled out without trigonometry. The
         * slack covers rounding, so that a place the haversine puts right
         * on the circle is still looked at. */
        if (fabs(p->lat - lat) * DEG * EARTH_RADIUS_M >
            radius_m * (1 + 1e-9) + 1e-6)
            continue;
        double d = offline_distance_m(lat, lng, p->lat, p->lng);
        if (d <= radius_m) {
            struct hit h = {p, d, prominence(p->population, d, radius_m)};
            consider(top, n, max, h);
        }
    }
}

static int clamp_row(int r)
{
    return r < 0 ? 0 : r >= OFFLINE_ROWS ? OFFLINE_ROWS - 1 : r;
}

static json_t *place_json(const struct offline_index *ix,
                          const struct offline_place *p)
{
    char id[32];
    snprintf(id, sizeof id, "geonames:%u", p->id);
    json_t *types;
    switch (p->kind) {
    case OFFLINE_CAPITAL:
        types = json_pack("[sss]", "capital", "locality", "political");
        break;
    case OFFLINE_ADMIN_SEAT:
        types =
            json_pack("[sss]", "administrative_seat", "locality", "political");
        break;
    case OFFLINE_SUBLOCALITY:
        types = json_pack("[ss]", "sublocality", "political");
        break;
    default:
        types = json_pack("[ss]", "locality", "political");
        break;
    }
    return json_pack("{s:{s:{s:f, s:f}}, s:s, s:s, s:o, s:s}", "geometry",
                     "location", "lat", p->lat, "lng", p->lng, "name",
                     ix->strings + p->name, "place_id", id, "types", types,
                     "vicinity", ix->strings + p->vicinity);
}

json_t *offline_search(const struct offline_index *ix, double lat, double lng,
                       double radius_m, size_t max_results)
{
    struct hit *top = NULL;
    size_t n = 0;
    if (max_results > 0) {
        top = malloc(max_results * sizeof *top);
        if (top == NULL)
            return NULL;
    }
    double dlat = radius_m / METRES_PER_DEGREE;
    int row_lo = clamp_row((int)floor(lat - dlat + 90));
    int row_hi = clamp_row((int)floor(lat + dlat + 90));
    /* The widest row decides how many degrees of longitude the circle
     * spans; near a pole that is all of them. */
    double far_lat = fabs(lat) + dlat;
    double dlng = far_lat >= 89.999 ? 360 : dlat / cos(far_lat * DEG);
    int col_lo = 0;
    int col_hi = OFFLINE_COLS - 1;
    int all_cols = dlng >= 180;
    if (!all_cols) {
        col_lo = (int)floor(lng - dlng + 180);
        col_hi = (int)floor(lng + dlng + 180);
        /* Longitude +180 is kept in the last column, as the index tool
         * clamps it; a circle of radius 0 there must look in it. */
        if (col_lo >= OFFLINE_COLS)
            col_lo = OFFLINE_COLS - 1;
        all_cols = col_hi - col_lo + 1 >= OFFLINE_COLS;
    }
    for (int r = row_lo; r <= row_hi; r++) {
        if (all_cols) {
            for (int c = 0; c < OFFLINE_COLS; c++)
                scan_cell(ix, r, c, lat, lng, radius_m, top, &n, max_results);
            continue;
        }
        /* Columns wrap at the antimeridian. */
        for (int c = col_lo; c <= col_hi; c++)
            scan_cell(ix, r, ((c % OFFLINE_COLS) + OFFLINE_COLS) % OFFLINE_COLS,
                      lat, lng, radius_m, top, &n, max_results);
    }
    /* consider() keeps at most max_results: with none, top stays NULL. */
    assert(n <= max_results);
    json_t *results = json_array();
    for (size_t i = 0; i < n && results != NULL; i++)
        if (json_array_append_new(results, place_json(ix, top[i].p)) != 0) {
            json_decref(results);
            results = NULL;
        }
    free(top);
    if (results == NULL)
        return NULL;
    return json_pack("{s:[s], s:o, s:s}", "html_attributions",
                     OFFLINE_ATTRIBUTION, "results", results, "status",
                     n > 0 ? "OK" : "ZERO_RESULTS");
}

const struct places_provider places_offline_provider = {"offline", NULL, 0,
                                                        NULL, NULL};
