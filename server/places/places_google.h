/* places_google: Google Places Nearby Search (legacy), pure (jansson).
 *
 * The request is a GET of the endpoint with location, radius and key in
 * the query; the answer already has the legacy shape and is kept whole
 * (every field Google sent), or turned into a failure answer.
 */
#ifndef HERD_PLACES_GOOGLE_H
#define HERD_PLACES_GOOGLE_H

#include <stddef.h>

#include <jansson.h>

#include "places_provider.h"

extern const struct places_provider places_google_provider;

/* Turns a legacy Nearby Search HTTP answer into the shape. Returns a new
 * reference; never NULL unless memory runs out. A malformed body, an HTTP
 * error or a missing field gives a failure answer. */
json_t *places_json_from_google(const char *body, size_t len, long http_code);

#endif
