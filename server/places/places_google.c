#include "places_google.h"

#include <stdio.h>
#include <string.h>

#include "dynbuf.h"
#include "places_json.h"
#include "proto.h"

static int google_build(const char *endpoint, const char *api_key,
                        const struct places_query *q, struct places_http *req)
{
    char metres[32];
    proto_format_metres(metres, q->radius_mm);
    struct dynbuf *url = &req->url;
    int rc = dynbuf_add(url, endpoint, strlen(endpoint));
    if (rc == 0)
        rc = dynbuf_add(url, strchr(endpoint, '?') ? "&" : "?", 1);
    if (rc == 0)
        rc = dynbuf_printf(url,
                           "location=%.*s,%.*s&radius=%s&key=", (int)q->lat_len,
                           q->lat, (int)q->lng_len, q->lng, metres);
    if (rc == 0)
        rc = places_json_urlencode(url, api_key, strlen(api_key));
    return rc;
}

static json_t *google_parse(const char *body, size_t len, long http,
                            const struct places_query *q)
{
    (void)q;
    return places_json_from_google(body, len, http);
}

static int is_ok_status(const char *s)
{
    return strcmp(s, "OK") == 0 || strcmp(s, "ZERO_RESULTS") == 0;
}

json_t *places_json_from_google(const char *body, size_t len, long http_code)
{
    char msg[160];
    if (http_code != 200) {
        snprintf(msg, sizeof msg, "places provider answered HTTP %ld",
                 http_code);
        return places_json_error("UNKNOWN_ERROR", msg);
    }
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return places_json_error("UNKNOWN_ERROR",
                                 "places provider sent a malformed answer");
    }
    const json_t *status = json_object_get(root, "status");
    const json_t *results = json_object_get(root, "results");
    if (!json_is_string(status) || !json_is_array(results)) {
        json_decref(root);
        return places_json_error("UNKNOWN_ERROR", "places provider answer "
                                                  "lacks status or results");
    }
    if (!is_ok_status(json_string_value(status))) {
        /* Errors keep the provider's status and message but never results:
         * the client gets the failure shape, not a half answer. The
         * message is passed whole (jansson checked it is UTF-8; cutting it
         * could split a character). */
        json_t *e = json_object_get(root, "error_message");
        /* The status is in the answer already; cutting it into the message
         * could split a UTF-8 character. */
        if (!json_is_string(e))
            snprintf(msg, sizeof msg,
                     "places provider answered a failure "
                     "status");
        json_t *answer =
            places_json_error(json_string_value(status),
                              json_is_string(e) ? json_string_value(e) : msg);
        json_decref(root);
        return answer;
    }
    return root;
}

const struct places_provider places_google_provider = {
    "google", "https://maps.googleapis.com/maps/api/place/nearbysearch/json", 1,
    google_build, google_parse};
