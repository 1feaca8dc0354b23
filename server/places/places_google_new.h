/* places_google_new: Google Places API (New), places:searchNearby, pure
 * (jansson).
 *
 * The request is a POST of a JSON body, with the key and the field mask in
 * headers; the answer's places are turned into the legacy shape (id ->
 * place_id, displayName.text -> name, ...), an HTTP error into the
 * matching legacy status with the provider's message.
 */
#ifndef HERD_PLACES_GOOGLE_NEW_H
#define HERD_PLACES_GOOGLE_NEW_H

#include <stddef.h>

#include <jansson.h>

#include "dynbuf.h"
#include "places_provider.h"

extern const struct places_provider places_google_new_provider;

/* The answer turned into the legacy shape: a new reference (a failure
 * answer on any error), never NULL unless memory runs out. */
json_t *places_json_from_google_new(const char *body, size_t len,
                                    long http_code);

/* The request body. */
int places_json_google_new_body(struct dynbuf *out, double lat, double lng,
                                double radius_m, unsigned max_results);

#endif
