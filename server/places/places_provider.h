/* places_provider: what a places provider is, pure (jansson; no uv, no
 * curl).
 *
 * A provider answers one question: up to PLACES_MAX_RESULTS places within a
 * radius of a point. An HTTP provider builds its request as text (the URL,
 * a body, header lines) from its endpoint and key, and turns the answer's
 * bytes into the legacy Nearby Search shape (places_json.h); the offline
 * provider has neither and is answered from its index at once. places.h
 * knows every provider by name and runs their requests.
 */
#ifndef HERD_PLACES_PROVIDER_H
#define HERD_PLACES_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "dynbuf.h"

/* Every provider is asked for this many results; the bound of each WHATSAT
 * cuts them later, so one answer serves every bound. */
#define PLACES_MAX_RESULTS 20

struct places_query {
    const char *lat; /* coordinates as the client wrote them, no '+' */
    size_t lat_len;
    const char *lng;
    size_t lng_len;
    double lat_deg, lng_deg;
    uint64_t radius_mm;
    uint32_t bound;
};

/* What a provider needs to make one HTTP request, as text: no curl. */
struct places_http {
    struct dynbuf url;
    struct dynbuf body;    /* empty: GET */
    struct dynbuf headers; /* each header line NUL-terminated */
};

struct places_provider {
    const char *name;
    const char *default_url;
    int needs_key;
    /* HTTP providers: build the request (url: the endpoint, key: the API
     * key or ""), map the answer. */
    int (*build)(const char *url, const char *key, const struct places_query *q,
                 struct places_http *req);
    json_t *(*parse)(const char *body, size_t len, long http_code,
                     const struct places_query *q);
};

/* Appends one header line (without its CRLF) to the request. Returns 0 or
 * a dynbuf error. */
int places_provider_add_header(struct places_http *req, const char *h);

#endif
