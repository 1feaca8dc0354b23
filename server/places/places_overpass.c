#include "places_overpass.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "places_json.h"
#include "places_offline.h"

#define OVERPASS_MAX_ELEMENTS 200

static int overpass_build(const char *endpoint, const char *api_key,
                          const struct places_query *q, struct places_http *req)
{
    (void)api_key;
    int rc = dynbuf_add(&req->url, endpoint, strlen(endpoint));
    if (rc == 0)
        rc = places_json_overpass_body(&req->body, q->lat_deg, q->lng_deg,
                                       (double)q->radius_mm / 1000.0,
                                       OVERPASS_MAX_ELEMENTS);
    if (rc == 0)
        rc = places_provider_add_header(
            req, "Content-Type: application/x-www-form-urlencoded");
    return rc;
}

static json_t *overpass_parse(const char *body, size_t len, long http,
                              const struct places_query *q)
{
    return places_json_from_overpass(body, len, http, q->lat_deg, q->lng_deg,
                                     PLACES_MAX_RESULTS);
}

struct osm_hit {
    json_t *place;
    double dist;
    json_int_t id;
};

static int by_distance(const void *a, const void *b)
{
    const struct osm_hit *x = a;
    const struct osm_hit *y = b;
    if (x->dist != y->dist)
        return x->dist < y->dist ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Drops an incomplete UTF-8 sequence that snprintf's precision may have
 * left at the end, so the text stays a valid JSON string. */
static void utf8_trim(char *s)
{
    size_t n = strlen(s);
    size_t i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--; /* continuation bytes */
    if (i == 0 || ((unsigned char)s[i - 1] & 0x80) == 0)
        return;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (n - (i - 1) < want)
        s[i - 1] = '\0';
}

/* Appends at most max bytes of s to buf, never half a character. */
static void append_cut(char *buf, size_t cap, const char *s, int max)
{
    size_t n = strlen(buf);
    snprintf(buf + n, cap - n, "%.*s", max, s);
    utf8_trim(buf + n);
}

static json_t *osm_place(const json_t *el, double *plat, double *plng)
{
    const json_t *tags = json_object_get(el, "tags");
    const char *name = places_json_str(tags, "name");
    const char *type = places_json_str(el, "type");
    const json_t *id = json_object_get(el, "id");
    const json_t *la = json_object_get(el, "lat");
    const json_t *ln = json_object_get(el, "lon");
    if (!json_is_number(la) || !json_is_number(ln)) {
        const json_t *c = json_object_get(el, "center");
        la = json_object_get(c, "lat");
        ln = json_object_get(c, "lon");
    }
    if (name == NULL || type == NULL || !json_is_integer(id) ||
        !json_is_number(la) || !json_is_number(ln))
        return NULL;
    *plat = json_number_value(la);
    *plng = json_number_value(ln);
    char pid[96];
    snprintf(pid, sizeof pid, "osm:%.16s", type);
    utf8_trim(pid);
    size_t plen = strlen(pid);
    snprintf(pid + plen, sizeof pid - plen, "/%" JSON_INTEGER_FORMAT,
             json_integer_value(id));
    json_t *types = json_array();
    static const char *const keys[] = {"amenity", "shop", "tourism", "leisure"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        const char *v = places_json_str(tags, keys[k]);
        if (v != NULL)
            json_array_append_new(types, json_string(v));
    }
    json_array_append_new(types, json_string("point_of_interest"));
    json_array_append_new(types, json_string("establishment"));
    char vic[512] = "";
    const char *street = places_json_str(tags, "addr:street");
    const char *num = places_json_str(tags, "addr:housenumber");
    const char *city = places_json_str(tags, "addr:city");
    if (street != NULL) {
        if (num != NULL) {
            append_cut(vic, sizeof vic, num, 32);
            append_cut(vic, sizeof vic, " ", 1);
        }
        append_cut(vic, sizeof vic, street, 200);
        if (city != NULL)
            append_cut(vic, sizeof vic, ", ", 2);
    }
    if (city != NULL)
        append_cut(vic, sizeof vic, city, 100);
    json_t *r = json_pack("{s:{s:{s:f, s:f}}, s:s, s:s, s:o}", "geometry",
                          "location", "lat", *plat, "lng", *plng, "name", name,
                          "place_id", pid, "types", types);
    if (r != NULL && vic[0] != '\0')
        json_object_set_new(r, "vicinity", json_string(vic));
    return r;
}

json_t *places_json_from_overpass(const char *body, size_t len, long http_code,
                                  double lat, double lng, size_t max_results)
{
    if (http_code == 429)
        return places_json_error_http(
            "OVER_QUERY_LIMIT", "places provider is overloaded", http_code);
    if (http_code != 200)
        return places_json_error_http("UNKNOWN_ERROR", "places provider failed",
                                      http_code);
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    const json_t *els = json_object_get(root, "elements");
    if (!json_is_object(root) || !json_is_array(els)) {
        json_decref(root);
        return places_json_error("UNKNOWN_ERROR",
                                 "places provider sent a malformed answer");
    }
    const char *remark = places_json_str(root, "remark");
    if (json_array_size(els) == 0 && remark != NULL &&
        strstr(remark, "error") != NULL) {
        json_t *a = places_json_error("UNKNOWN_ERROR", remark);
        json_decref(root);
        return a;
    }
    size_t n = json_array_size(els);
    struct osm_hit *hits = calloc(n ? n : 1, sizeof *hits);
    if (hits == NULL) {
        json_decref(root);
        return NULL;
    }
    size_t k = 0;
    size_t i;
    const json_t *el;
    json_array_foreach(els, i, el)
    {
        double plat;
        double plng;
        json_t *p = osm_place(el, &plat, &plng);
        if (p == NULL)
            continue;
        hits[k].place = p;
        hits[k].dist = offline_distance_m(lat, lng, plat, plng);
        hits[k].id = json_integer_value(json_object_get(el, "id"));
        k++;
    }
    json_decref(root);
    /* Overpass caps the count in its own order, not by distance. */
    qsort(hits, k, sizeof *hits, by_distance);
    json_t *results = json_array();
    for (i = 0; i < k; i++) {
        if (i < max_results)
            json_array_append_new(results, hits[i].place);
        else
            json_decref(hits[i].place);
    }
    free(hits);
    return json_pack("{s:[s], s:o, s:s}", "html_attributions",
                     PLACES_OSM_ATTRIBUTION, "results", results, "status",
                     json_array_size(results) ? "OK" : "ZERO_RESULTS");
}

int places_json_overpass_body(struct dynbuf *out, double lat, double lng,
                              double radius_m, unsigned max_elements)
{
    char q[512];
    snprintf(q, sizeof q,
             "[out:json][timeout:10];"
             "nwr(around:%.3f,%.7f,%.7f)[\"name\"]"
             "[~\"^(amenity|shop|tourism|leisure)$\"~\".\"];"
             "out center %u;",
             radius_m, lat, lng, max_elements);
    int rc = dynbuf_add(out, "data=", 5);
    return rc != 0 ? rc : places_json_urlencode(out, q, strlen(q));
}

const struct places_provider places_overpass_provider = {
    "overpass", "https://overpass-api.de/api/interpreter", 0, overpass_build,
    overpass_parse};
