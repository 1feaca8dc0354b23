#include "places_google_new.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "places_json.h"

static int google_new_build(const char *endpoint, const char *api_key,
                            const struct places_query *q,
                            struct places_http *req)
{
    char key[1024];
    snprintf(key, sizeof key, "X-Goog-Api-Key: %s", api_key);
    int rc = dynbuf_add(&req->url, endpoint, strlen(endpoint));
    if (rc == 0)
        rc = places_json_google_new_body(&req->body, q->lat_deg, q->lng_deg,
                                         (double)q->radius_mm / 1000.0,
                                         PLACES_MAX_RESULTS);
    if (rc == 0)
        rc = places_provider_add_header(req, "Content-Type: application/json");
    if (rc == 0)
        rc = places_provider_add_header(req, key);
    if (rc == 0)
        rc = places_provider_add_header(
            req, "X-Goog-FieldMask: places.id,places.displayName,"
                 "places.location,places.types,places.formattedAddress,"
                 "places.shortFormattedAddress,places.rating,"
                 "places.userRatingCount,places.businessStatus");
    return rc;
}

static json_t *google_new_parse(const char *body, size_t len, long http,
                                const struct places_query *q)
{
    (void)q;
    return places_json_from_google_new(body, len, http);
}

/* google.rpc status names to the legacy statuses. */
static const char *legacy_status(const char *rpc)
{
    static const struct {
        const char *rpc, *legacy;
    } map[] = {
        {"INVALID_ARGUMENT", "INVALID_REQUEST"},
        {"PERMISSION_DENIED", "REQUEST_DENIED"},
        {"UNAUTHENTICATED", "REQUEST_DENIED"},
        {"RESOURCE_EXHAUSTED", "OVER_QUERY_LIMIT"},
    };
    for (size_t i = 0; rpc != NULL && i < sizeof map / sizeof map[0]; i++)
        if (strcmp(rpc, map[i].rpc) == 0)
            return map[i].legacy;
    return "UNKNOWN_ERROR";
}

static json_t *new_place(const json_t *p)
{
    const json_t *loc = json_object_get(p, "location");
    const json_t *la = json_object_get(loc, "latitude");
    const json_t *ln = json_object_get(loc, "longitude");
    const json_t *dn = json_object_get(p, "displayName");
    const char *id = places_json_str(p, "id");
    if (!json_is_number(la) || !json_is_number(ln) || id == NULL)
        return NULL;
    json_t *r = json_object();
    json_object_set_new(r, "geometry",
                        json_pack("{s:{s:f, s:f}}", "location", "lat",
                                  json_number_value(la), "lng",
                                  json_number_value(ln)));
    const char *name = places_json_str(dn, "text");
    json_object_set_new(r, "name", json_string(name ? name : ""));
    json_object_set_new(r, "place_id", json_string(id));
    json_t *v; /* borrowed from p: json_object_set takes a reference */
    if ((v = json_object_get(p, "rating")) != NULL && json_is_number(v))
        json_object_set(r, "rating", v);
    if ((v = json_object_get(p, "userRatingCount")) != NULL &&
        json_is_integer(v))
        json_object_set(r, "user_ratings_total", v);
    if ((v = json_object_get(p, "businessStatus")) != NULL && json_is_string(v))
        json_object_set(r, "business_status", v);
    if ((v = json_object_get(p, "types")) != NULL && json_is_array(v))
        json_object_set(r, "types", v);
    const char *vic = places_json_str(p, "shortFormattedAddress");
    if (vic == NULL)
        vic = places_json_str(p, "formattedAddress");
    if (vic != NULL)
        json_object_set_new(r, "vicinity", json_string(vic));
    return r;
}

json_t *places_json_from_google_new(const char *body, size_t len,
                                    long http_code)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (http_code != 200) {
        const json_t *e = json_object_get(root, "error");
        const char *msg = places_json_str(e, "message");
        json_t *a;
        if (msg != NULL)
            a = places_json_error(legacy_status(places_json_str(e, "status")),
                                  msg);
        else
            a = places_json_error_http(http_code == 429 ? "OVER_QUERY_LIMIT"
                                                        : "UNKNOWN_ERROR",
                                       "places provider failed", http_code);
        json_decref(root);
        return a;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        return places_json_error("UNKNOWN_ERROR",
                                 "places provider sent a malformed answer");
    }
    const json_t *places = json_object_get(root, "places");
    if (places != NULL && !json_is_array(places)) {
        json_decref(root);
        return places_json_error("UNKNOWN_ERROR",
                                 "places provider sent a malformed answer");
    }
    json_t *results = json_array();
    size_t i;
    const json_t *p;
    json_array_foreach(places, i, p)
    {
        json_t *r = new_place(p);
        if (r != NULL)
            json_array_append_new(results, r);
    }
    json_decref(root);
    return json_pack("{s:[], s:o, s:s}", "html_attributions", "results",
                     results, "status",
                     json_array_size(results) ? "OK" : "ZERO_RESULTS");
}

int places_json_google_new_body(struct dynbuf *out, double lat, double lng,
                                double radius_m, unsigned max_results)
{
    return dynbuf_printf(out,
                         "{\"maxResultCount\": %u, \"locationRestriction\": "
                         "{\"circle\": {\"center\": {\"latitude\": %.7f, "
                         "\"longitude\": %.7f}, \"radius\": %.3f}}}",
                         max_results, lat, lng, radius_m);
}

const struct places_provider places_google_new_provider = {
    "google-new", "https://places.googleapis.com/v1/places:searchNearby", 1,
    google_new_build, google_new_parse};
